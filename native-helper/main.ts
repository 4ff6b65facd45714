/**
 * @module native-helper/main
 * `ferry helper`: installs or removes the native host manifest, or runs as the native messaging host the browser
 * starts (native-host.ts). Parses flags and throws HelperUsageError for a bad command line.
 */
import { resolve } from 'node:path';
import { DEFAULT_NAT_DISCOVERY_TIMEOUT_MS, NatDiscoveryError, parseStunUrl } from '../protocol/adapters/nat-discovery.ts';
import { defaultSessionConfig, type SessionConfig, verifySessionConfig } from '../protocol/config.ts';
import { InvalidConfigError } from '../protocol/errors.ts';
import { OperatorKeyError, parseOperatorPublicKeys } from '../protocol/exit-list.ts';
import { NAT_CLASSES, type NatClass } from '../protocol/signaling.ts';
import { DEFAULT_HTTP_PORT, DEFAULT_SOCKS_PORT } from './config.ts';
import { installNativeHost, uninstallNativeHost } from './install.ts';
import { type NatOptions, runNativeHost } from './native-host.ts';
import { isTunCommand, runTunCommand, TUN_COMMANDS_USAGE } from './tun/tun-commands.ts';

export const HELPER_USAGE = `Usage: ferry helper [options]

Runs the Ferry helper: a SOCKS5 and an HTTP CONNECT proxy on 127.0.0.1 whose streams go through Ferry.

  --install               register the helper as the browser's native messaging host (Chromium and Chrome)
    --user-data-dir DIR   ... for a browser started with --user-data-dir DIR (it reads manifests only from there)
    --extension-id ID     ... allowing this extension instead of the published Ferry extension
  --uninstall             remove that registration (with --user-data-dir DIR: from there)
  --native [ORIGIN]       run as the native messaging host (the browser starts it so and passes its origin)
  --socks-port N          SOCKS5 port (default ${DEFAULT_SOCKS_PORT}; 0 = any free port)
  --http-port N           HTTP CONNECT port (default ${DEFAULT_HTTP_PORT}; 0 = any free port)
  --exit-list-key KEY     with --install or --native: the network operator's exit-list key (base64url Ed25519,
                          repeatable); the helper uses only exits from a list it signed
  --heartbeat-ms N        with --native: ping every path each N ms (default ${defaultSessionConfig.heartbeatIntervalMs})
  --path-silence-ms N     with --native: a path silent for N ms is replaced (default ${defaultSessionConfig.pathSilenceTimeoutMs})
  --stun URL              with --install or --native: the network's STUN server, stun:host[:port] (repeatable); at
                          start the helper measures its NAT class (RFC 5780, at most ${DEFAULT_NAT_DISCOVERY_TIMEOUT_MS / 1000} s) with the first
                          that supports it and reports it to the extension for its offers
  --nat CLASS             with --install or --native: report this NAT class instead of measuring it
                          (${NAT_CLASSES.join(', ')})
  --tun-socket PATH       with --install or --native: the whole-device service's socket (default
                          /run/ferry/tun.sock), asked when the extension's "Whole device" switch is turned on
  --rendezvous-ca FILE    with --install or --native: also trust these PEM certificates when carrying the
                          extension's sealed offers to the broker over a front or a cache (a test network's CA,
                          or an operator's private CDN); Node's own roots stay trusted
  --help                  show this text

${TUN_COMMANDS_USAGE}`;

/** The command line was wrong; the message says what, and HELPER_USAGE says how. */
export class HelperUsageError extends Error {
  override readonly name = 'HelperUsageError';
  readonly code = 'HELPER_BAD_ARGS';
}

export type HelperCommand =
  | { kind: 'help' }
  | ({ kind: 'install'; userDataDir?: string; extensionId?: string; exitListKeys: string[]; rendezvousCaFile?: string; tunSocketPath?: string } & NatOptions)
  | { kind: 'uninstall'; userDataDir?: string }
  /** `callerOrigin`: `chrome-extension://ID/` as the browser passed it, or null when started by hand. */
  /** `session`: the client session's timing, for tests and slow links; checked when the helper starts. */
  | ({
      kind: 'native';
      callerOrigin: string | null;
      exitListKeys: string[];
      socksPort: number;
      httpPort: number;
      session: Partial<SessionConfig>;
      rendezvousCaFile?: string;
      tunSocketPath?: string;
    } & NatOptions)
  | { kind: 'proxies'; socksPort: number; httpPort: number };

/** Parses `ferry helper` arguments (without the `helper` word). Throws HelperUsageError. */
export function parseHelperArgs(argv: readonly string[]): HelperCommand {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  /** `--exit-list-key` may be given more than once (a current and a next key during a key change). */
  const exitListKeyTexts: string[] = [];
  /** `--stun` may be given more than once too: a list, tried in order. */
  const stunUrls: string[] = [];
  const positionals: string[] = [];
  const takesValue = new Set([
    '--user-data-dir',
    '--extension-id',
    '--exit-list-key',
    '--socks-port',
    '--http-port',
    '--heartbeat-ms',
    '--path-silence-ms',
    '--stun',
    '--nat',
    '--rendezvous-ca',
    '--tun-socket',
  ]);
  const known = new Set(['--install', '--uninstall', '--native', '--help', '-h', ...takesValue]);
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const [name, inlineValue] =
      arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name.startsWith('--parent-window')) continue; // Chrome on Windows adds --parent-window=N for native hosts
    if (!name.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    if (!known.has(name)) throw new HelperUsageError(`unknown option ${name}`);
    if (takesValue.has(name)) {
      if (inlineValue === undefined) i += 1;
      const value = inlineValue ?? argv[i];
      if (value === undefined || value === '') throw new HelperUsageError(`${name} needs a value`);
      if (name === '--exit-list-key') exitListKeyTexts.push(value);
      else if (name === '--stun') stunUrls.push(stunUrlOption(value));
      else values.set(name, value);
    } else {
      if (inlineValue !== undefined) throw new HelperUsageError(`${name} takes no value`);
      flags.add(name);
    }
  }
  if (flags.has('--help') || flags.has('-h')) return { kind: 'help' };
  const modes = ['--install', '--uninstall', '--native'].filter((mode) => flags.has(mode));
  if (modes.length > 1) throw new HelperUsageError(`${modes.join(' and ')} cannot be combined`);
  const mode = modes[0];
  const allowed: Record<string, readonly string[]> = {
    '--install': ['--user-data-dir', '--extension-id', '--nat', '--rendezvous-ca', '--tun-socket'],
    '--uninstall': ['--user-data-dir'],
    '--native': ['--socks-port', '--http-port', '--heartbeat-ms', '--path-silence-ms', '--nat', '--rendezvous-ca', '--tun-socket'],
    proxies: ['--socks-port', '--http-port'],
  };
  const exitListKeys = exitListKeysOption(exitListKeyTexts);
  if (exitListKeys.length > 0 && mode !== '--install' && mode !== '--native') {
    throw new HelperUsageError(`--exit-list-key does not apply ${mode ? `with ${mode}` : 'here'}`);
  }
  if (stunUrls.length > 0 && mode !== '--install' && mode !== '--native') {
    throw new HelperUsageError(`--stun does not apply ${mode ? `with ${mode}` : 'here'}`);
  }
  for (const name of values.keys()) {
    if (!allowed[mode ?? 'proxies']!.includes(name)) throw new HelperUsageError(`${name} does not apply ${mode ? `with ${mode}` : 'here'}`);
  }
  const natOptions = natOptionsOf(stunUrls, values.get('--nat'));
  if (mode !== '--native' && positionals.length > 0) throw new HelperUsageError(`unexpected argument ${positionals[0]}`);
  const userDataDir = values.get('--user-data-dir');
  const rendezvousCa = values.get('--rendezvous-ca');
  // Absolute: the launcher the browser starts runs from another working directory.
  const rendezvousCaOption = rendezvousCa === undefined ? {} : { rendezvousCaFile: resolve(rendezvousCa) };
  const tunSocket = values.get('--tun-socket');
  const tunSocketOption = tunSocket === undefined ? {} : { tunSocketPath: resolve(tunSocket) };
  switch (mode) {
    case '--install': {
      const extensionId = values.get('--extension-id');
      return {
        kind: 'install',
        exitListKeys,
        ...(userDataDir === undefined ? {} : { userDataDir }),
        ...(extensionId === undefined ? {} : { extensionId }),
        ...natOptions,
        ...rendezvousCaOption,
        ...tunSocketOption,
      };
    }
    case '--uninstall':
      return { kind: 'uninstall', ...(userDataDir === undefined ? {} : { userDataDir }) };
    case '--native': {
      if (positionals.length > 1) throw new HelperUsageError(`unexpected argument ${positionals[1]}`);
      const callerOrigin = positionals[0] ?? null;
      if (callerOrigin !== null && !/^chrome-extension:\/\/[a-p]{32}\/$/.test(callerOrigin)) {
        throw new HelperUsageError(`the caller origin must be chrome-extension://<id>/, got ${callerOrigin}`);
      }
      const session: Partial<SessionConfig> = {};
      const heartbeatMs = millisecondsOption(values, '--heartbeat-ms');
      const silenceMs = millisecondsOption(values, '--path-silence-ms');
      if (heartbeatMs !== undefined) session.heartbeatIntervalMs = heartbeatMs;
      if (silenceMs !== undefined) session.pathSilenceTimeoutMs = silenceMs;
      try {
        verifySessionConfig(session);
      } catch (error) {
        if (error instanceof InvalidConfigError) throw new HelperUsageError(`--heartbeat-ms / --path-silence-ms: ${error.message}`);
        throw error;
      }
      return {
        kind: 'native',
        callerOrigin,
        exitListKeys,
        socksPort: portOption(values, '--socks-port', 0),
        httpPort: portOption(values, '--http-port', 0),
        session,
        ...natOptions,
        ...rendezvousCaOption,
        ...tunSocketOption,
      };
    }
    default:
      return {
        kind: 'proxies',
        socksPort: portOption(values, '--socks-port', DEFAULT_SOCKS_PORT),
        httpPort: portOption(values, '--http-port', DEFAULT_HTTP_PORT),
      };
  }
}

function exitListKeysOption(texts: readonly string[]): string[] {
  try {
    return parseOperatorPublicKeys(texts);
  } catch (error) {
    if (error instanceof OperatorKeyError) throw new HelperUsageError(`--exit-list-key: ${error.message}`);
    throw error;
  }
}

function stunUrlOption(url: string): string {
  try {
    parseStunUrl(url);
  } catch (error) {
    if (error instanceof NatDiscoveryError) throw new HelperUsageError(`--stun: ${error.message}`);
    throw error;
  }
  return url;
}

/** Only the options given, so a command line without them parses as before. */
function natOptionsOf(stunUrls: string[], natText: string | undefined): NatOptions {
  if (natText !== undefined && !(NAT_CLASSES as readonly string[]).includes(natText)) {
    throw new HelperUsageError(`--nat must be one of ${NAT_CLASSES.join(', ')}, got ${natText}`);
  }
  return { ...(stunUrls.length > 0 ? { stunUrls } : {}), ...(natText === undefined ? {} : { nat: natText as NatClass }) };
}

/** The NAT flags again, for the launcher the browser starts (`--install` passes them on to `--native`). */
function natFlags(options: NatOptions): string[] {
  return [...(options.stunUrls ?? []).flatMap((url) => ['--stun', url]), ...(options.nat === undefined ? [] : ['--nat', options.nat])];
}

function millisecondsOption(values: Map<string, string>, name: string): number | undefined {
  const text = values.get(name);
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,7}$/.test(text)) throw new HelperUsageError(`${name} must be a whole number of milliseconds, got ${text}`);
  return Number(text);
}

function portOption(values: Map<string, string>, name: string, fallback: number): number {
  const text = values.get(name);
  if (text === undefined) return fallback;
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65_535) throw new HelperUsageError(`${name} must be a port from 0 to 65535, got ${text}`);
  return Number(text);
}

export async function runHelper(argv: string[]): Promise<void> {
  if (isTunCommand(argv)) {
    await runTunCommand(argv);
    return;
  }
  const command = parseHelperArgs(argv);
  switch (command.kind) {
    case 'help':
      process.stdout.write(HELPER_USAGE);
      return;
    case 'install': {
      const installed = await installNativeHost({
        ...(command.userDataDir ? { userDataDir: command.userDataDir } : {}),
        ...(command.extensionId ? { extensionId: command.extensionId } : {}),
        // KEY=VALUE form: a key someone made elsewhere may start with '-', which the launcher's flag parser would refuse.
        helperFlags: [
          ...command.exitListKeys.map((key) => `--exit-list-key=${key}`),
          ...natFlags(command),
          ...(command.rendezvousCaFile === undefined ? [] : [`--rendezvous-ca=${command.rendezvousCaFile}`]),
          ...(command.tunSocketPath === undefined ? [] : [`--tun-socket=${command.tunSocketPath}`]),
        ],
      });
      for (const path of installed.manifestPaths) process.stdout.write(`ferry helper: wrote ${path}\n`);
      if (command.exitListKeys.length === 0) {
        process.stdout.write(
          "ferry helper: warning: no --exit-list-key given; Proxy me will refuse every exit until you install again with the operator's key.\n",
        );
      }
      process.stdout.write('ferry helper: installed; switch "Proxy me" on in the Ferry extension.\n');
      return;
    }
    case 'uninstall': {
      await uninstallNativeHost(command.userDataDir ? { userDataDir: command.userDataDir } : {});
      process.stdout.write('ferry helper: removed the native host manifests.\n');
      return;
    }
    case 'native':
      await runNativeHost(command);
      return;
    case 'proxies':
      throw new Error('the helper carries traffic only through the Ferry extension: install it with "ferry helper --install", then switch "Proxy me" on');
  }
}
