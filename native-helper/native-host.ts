/**
 * @module native-helper/native-host
 * The helper as the browser starts it (`ferry helper --native`): native messaging on stdio wires the extension to
 * the local proxies, the pipe server and the tunnel client.
 *
 *   start      -> open the pipe server, the tunnel client and the SOCKS5 / HTTP CONNECT proxies; reply `ready`
 *   new-token  -> a fresh one-time pipe token (the offscreen document reconnects)
 *   stop / EOF -> close everything and exit
 *
 * stdout belongs to native messaging: every log line goes to stderr.
 */

import { readFileSync } from 'node:fs';
import { measureNatClassOrUnknown } from '../protocol/adapters/nat-discovery.ts';
import type { SessionConfig } from '../protocol/config.ts';
import { type ExitInfo, ExitListError, verifyExitList } from '../protocol/exit-list.ts';
import { type ExtensionToNative, FERRY_EXTENSION_ID, type NativeStart, type NativeToExtension } from '../protocol/local-channel.ts';
import { MAX_WELCOME_STUN_URLS, type NatClass } from '../protocol/signaling.ts';
import { type HelperCore, startHelperCore } from './helper-core.ts';
import { NativeMessageWriter, serveNativeMessages } from './native-messaging.ts';

/** Status goes to the extension at most this often (and at least this often while connected, for the counters). */
const STATUS_INTERVAL_MS = 1_000;
const HELPER_VERSION = '0.1.0';

/** The extension origin the pipe must accept, from the browser's caller origin `chrome-extension://ID/`. */
export function pipeOriginFromCallerOrigin(callerOrigin: string): string {
  return callerOrigin.replace(/\/$/, '');
}

/**
 * The exit `start` names, from a list signed by one of `exitListKeys`; throws ExitListError. The helper holds the
 * session's keys, so it checks the operator's signature itself instead of trusting the extension's choice.
 */
export function trustedExit(start: NativeStart, exitListKeys: readonly string[], now: number): ExitInfo {
  if (exitListKeys.length === 0) {
    throw new ExitListError(
      'NO_EXIT_LIST_KEY',
      "The helper has no exit-list key. Install it again with: ferry helper --install --exit-list-key KEY (the operator's key).",
    );
  }
  const list = verifyExitList(start.exitList, exitListKeys, now);
  const exit = list.exits.find((candidate) => candidate.id === start.exitId);
  if (exit === undefined) throw new ExitListError('BAD_EXIT_LIST', `The signed exit list has no exit "${start.exitId.slice(0, 64)}".`);
  return exit;
}

/** How the helper learns its NAT class (`--stun`, `--nat`); both absent: it does not measure and reports none. */
export interface NatOptions {
  /** stun: URLs to measure the class with (RFC 5780); the first that supports it is used. */
  stunUrls?: string[];
  /** The class to report without measuring. */
  nat?: NatClass;
}

export interface NativeHostOptions extends NatOptions {
  callerOrigin: string | null;
  /** The network operator's exit-list keys (base64url Ed25519): `start` is refused unless one signed its list. */
  exitListKeys: readonly string[];
  socksPort: number;
  httpPort: number;
  /** The client session's timing (heartbeat, path silence); protocol defaults when empty. */
  session: Partial<SessionConfig>;
  /** PEM certificates to trust besides Node's roots when carrying rendezvous requests (`--rendezvous-ca`). */
  rendezvousCaFile?: string;
  /** The whole-device service's socket (`--tun-socket`); DEFAULT_TUN_SERVICE_SOCKET when absent. */
  tunSocketPath?: string;
}

interface RunningHelper {
  core: HelperCore;
  statusTimer: ReturnType<typeof setInterval>;
}

function log(line: string): void {
  process.stderr.write(`ferry helper: ${line}\n`);
}

export async function runNativeHost(options: NativeHostOptions): Promise<void> {
  const writer = new NativeMessageWriter(process.stdout);
  const send = (message: NativeToExtension): void => {
    writer.write(message).catch((error: unknown) => log(`could not write to the browser: ${String(error)}`));
  };
  const allowedOrigin = options.callerOrigin ? pipeOriginFromCallerOrigin(options.callerOrigin) : `chrome-extension://${FERRY_EXTENSION_ID}`;
  let running: RunningHelper | undefined;
  // Measured once, from launch: the browser sends `start` right after starting us, so the measurement overlaps the
  // start of the local servers and delays `ready` by at most what is left of its bound (3 s). Never rejects.
  const natClass: Promise<NatClass | undefined> =
    options.nat !== undefined
      ? Promise.resolve(options.nat)
      : options.stunUrls !== undefined && options.stunUrls.length > 0
        ? measureNatClassOrUnknown(options.stunUrls, log)
        : Promise.resolve(undefined);

  const start = async (message: NativeStart): Promise<void> => {
    if (running) {
      send({ type: 'error', code: 'ALREADY_STARTED', message: 'the helper is already running; send "stop" first' });
      return;
    }
    let exit: ExitInfo;
    try {
      exit = trustedExit(message, options.exitListKeys, Date.now());
    } catch (error) {
      if (!(error instanceof ExitListError)) throw error;
      send({ type: 'error', code: error.code, message: error.message });
      return;
    }
    let core: HelperCore;
    try {
      core = await startHelperCore({
        exit,
        allowedOrigin,
        socksPort: message.socksPort ?? options.socksPort,
        httpPort: message.httpPort ?? options.httpPort,
        tunnel: { session: options.session },
        rendezvousCaPem: options.rendezvousCaFile === undefined ? undefined : readFileSync(options.rendezvousCaFile, 'utf8'),
        ...(options.tunSocketPath === undefined ? {} : { wholeDevice: { servicePath: options.tunSocketPath } }),
        log,
      });
    } catch (error) {
      send({ type: 'error', code: 'LISTEN_FAILED', message: error instanceof Error ? error.message : String(error) });
      return;
    }
    // Before the first status: the extension takes the session's state only after `ready`.
    const nat = await natClass;
    let lastSent = '';
    const reportStatus = (): void => {
      const status = core.tunnel.status;
      const summary = JSON.stringify(status);
      if (summary === lastSent) return;
      lastSent = summary;
      const { lastPathError: _private, ...report } = status;
      send({ type: 'status', ...report });
      core.reportToPipe(status);
    };
    const statusTimer = setInterval(reportStatus, STATUS_INTERVAL_MS);
    running = { core, statusTimer };
    send({
      type: 'ready',
      version: HELPER_VERSION,
      pid: process.pid,
      socksPort: core.socksPort,
      httpPort: core.httpPort,
      pipeUrl: core.pipeUrl,
      token: core.issueToken(),
      ...(nat === undefined ? {} : { nat }),
      ...(options.stunUrls === undefined || options.stunUrls.length === 0 ? {} : { stunUrls: options.stunUrls.slice(0, MAX_WELCOME_STUN_URLS) }),
    });
    log(`ready: socks5://127.0.0.1:${core.socksPort}, http://127.0.0.1:${core.httpPort}, exit ${exit.id}`);
  };

  const stop = async (): Promise<void> => {
    const current = running;
    running = undefined;
    if (!current) return;
    clearInterval(current.statusTimer);
    await current.core.close();
  };

  const onMessage = async (message: ExtensionToNative): Promise<void> => {
    switch (message.type) {
      case 'start':
        await start(message);
        return;
      case 'new-token':
        if (running) send({ type: 'token', token: running.core.issueToken() });
        else send({ type: 'error', code: 'NOT_STARTED', message: 'send "start" before asking for a token' });
        return;
      case 'stop':
        await stop();
        process.exit(0);
    }
  };

  const shutdown = (code: number): void => {
    void stop().finally(() => process.exit(code));
  };
  process.once('SIGTERM', () => shutdown(0));
  process.once('SIGINT', () => shutdown(0));
  try {
    await serveNativeMessages(process.stdin, {
      onMessage,
      onInvalidMessage: (error) => {
        log(`ignored a bad message from the browser: ${error.message}`);
        send({ type: 'error', code: error.code, message: error.message });
      },
    });
    log('the browser closed the connection; stopping');
    shutdown(0);
  } catch (error) {
    log(`native messaging failed: ${error instanceof Error ? error.message : String(error)}`);
    shutdown(1);
  }
}
