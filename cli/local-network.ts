/**
 * @module cli/local-network
 * A whole Ferry network on this machine, for `ferry demo`, the end-to-end tests and the benchmarks: broker and exit
 * (in this process, or as their own processes), volunteer browsers with "Help others" on, and a client browser with
 * "Proxy me" on, whose helper the browser itself starts through native messaging. Every switch is flipped through
 * the extension's popup, as a person would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { createBroker } from '../signaling-server/broker.ts';
import type { BrokerMetricsSnapshot } from '../signaling-server/metrics.ts';
import { ExitServer } from '../exit-server/exit-server.ts';
import { generateKeyPair } from '../protocol/index.ts';
import type { ExitInfo } from '../protocol/signaling.ts';
import { installNativeHost } from '../native-helper/install.ts';
import type { UiState, ProxyMePhase, HelpOthersPhase } from '../extension/ui-state.ts';
import { FerryBrowser, terminate } from './chromium.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
export const EXTENSION_DIR = join(REPO_ROOT, 'dist', 'extension');
export const POPUP_PATH = 'extension/popup/popup.html';
/** A server child process must print its ready line within this time. */
const SERVER_READY_TIMEOUT_MS = 20_000;
/** A switch must reach the awaited phase within this time. */
export const PHASE_TIMEOUT_MS = 60_000;

export class NetworkStartError extends Error {
  override name = 'NetworkStartError';
  readonly code = 'FERRY_ERR_NETWORK_START';
}

export interface NetworkServers {
  brokerUrl: string;
  exit: ExitInfo;
  brokerPid: number;
  exitPid: number;
  stop(): Promise<void>;
}

/** Broker and exit inside this process (tests: the exit's wire tap sees what volunteers carry). */
export async function startServersInProcess(
  options: Pick<ConstructorParameters<typeof ExitServer>[0], 'wireTap' | 'onStreamRequest'> = {},
): Promise<NetworkServers & { exitServer: ExitServer; brokerMetrics(): Promise<BrokerMetricsSnapshot> }> {
  const exitServer = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true }, ...options });
  const { url } = await exitServer.listen();
  const exit: ExitInfo = { id: 'local', url, publicKey: exitServer.publicKey };
  const broker = createBroker({ port: 0, exits: [exit] });
  const { port } = await broker.listen();
  return {
    brokerUrl: `http://127.0.0.1:${port}`,
    exit,
    exitServer,
    brokerMetrics: () => broker.metrics(),
    brokerPid: process.pid,
    exitPid: process.pid,
    stop: async () => {
      await broker.close();
      await exitServer.close();
    },
  };
}

/** Runs `ferry <args>` as its own process and waits for the line matching `readyPattern` (stdout). */
export function spawnFerry(args: string[], readyPattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'ferry.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolvePromise, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new NetworkStartError(`"ferry ${args[0]}" printed no ready line within ${SERVER_READY_TIMEOUT_MS} ms: ${output.slice(-400)}`));
    }, SERVER_READY_TIMEOUT_MS);
    const onStderr = (chunk: Buffer): void => {
      output += chunk.toString();
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = readyPattern.exec(output);
      if (match) {
        clearTimeout(timer);
        // From now on: keep both pipes drained (a full pipe would block the child), pass its problems on, and keep
        // nothing in memory.
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.off('data', onStderr);
        child.stderr?.pipe(process.stderr, { end: false });
        resolvePromise({ child, match });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onStderr);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new NetworkStartError(`"ferry ${args[0]}" exited with code ${code}: ${output.slice(-400)}`));
    });
  });
}

/** Broker and exit as their own processes, started through the `ferry` command (the demo). */
export async function startServerProcesses(options: { brokerPort: number; exitPort: number }): Promise<NetworkServers> {
  const exitStarted = await spawnFerry(['exit', '--port', String(options.exitPort), '--allow-loopback'], /ferry exit: (ws:\/\/\S+) ready, public key (\S+) \(pid (\d+)\)/);
  const [, url = '', publicKey = ''] = exitStarted.match;
  const exit: ExitInfo = { id: 'local', url, publicKey };
  let brokerStarted: Awaited<ReturnType<typeof spawnFerry>>;
  try {
    brokerStarted = await spawnFerry(['broker', '--port', String(options.brokerPort), '--exit', `${exit.id}=${exit.url}=${exit.publicKey}`], /ferry broker: (http:\/\/\S+) ready/);
  } catch (error) {
    await terminate(exitStarted.child);
    throw error;
  }
  const brokerChild = brokerStarted.child;
  return {
    brokerUrl: brokerStarted.match[1] ?? '',
    exit,
    brokerPid: brokerChild.pid ?? 0,
    exitPid: exitStarted.child.pid ?? 0,
    stop: async () => {
      await Promise.all([terminate(brokerChild), terminate(exitStarted.child)]);
    },
  };
}

export interface FerryUserOptions {
  brokerUrl: string;
  headless: boolean;
  /** Written to chrome.storage.local before anything is switched on. */
  settings?: Record<string, unknown>;
  /** Installs the native helper's host manifest into the profile (the client needs it; volunteers do not). */
  installHelper?: boolean;
}

/** One browser with the Ferry extension, driven through its popup. */
export class FerryUser {
  private constructor(
    readonly browser: FerryBrowser,
    readonly popup: Page,
  ) {}

  static async launch(options: FerryUserOptions): Promise<FerryUser> {
    const browser = await FerryBrowser.launch({
      extensionDir: EXTENSION_DIR,
      headless: options.headless,
      ...(options.installHelper ? { prepareProfile: async (userDataDir: string) => void (await installNativeHost({ userDataDir })) } : {}),
    });
    try {
      const popup = await browser.openExtensionPage(POPUP_PATH);
      await popup.evaluate(async (settings) => chrome.storage.local.set(settings), { brokerUrl: options.brokerUrl, ...options.settings });
      await popup.reload();
      return new FerryUser(browser, popup);
    } catch (error) {
      await browser.close();
      throw error;
    }
  }

  get pid(): number {
    return this.browser.pid;
  }

  async state(): Promise<UiState> {
    return (await this.popup.evaluate(async () => (await chrome.storage.session.get('uiState')).uiState)) as UiState;
  }

  async statusText(feature: 'proxy-me' | 'help-others'): Promise<string> {
    return (await this.popup.locator(`#${feature}-status`).textContent()) ?? '';
  }

  /** Flips a switch in the popup, as a person clicks it. */
  async setSwitch(feature: 'proxy-me' | 'help-others', on: boolean): Promise<void> {
    const toggle = this.popup.locator(`#${feature}`);
    if ((await toggle.isChecked()) !== on) await toggle.click();
  }

  async waitForProxyMe(phases: readonly ProxyMePhase[], timeoutMs = PHASE_TIMEOUT_MS): Promise<UiState> {
    return this.waitFor((state) => phases.includes(state.proxyMe.phase), `Proxy me to reach ${phases.join(' or ')}`, timeoutMs);
  }

  async waitForHelpOthers(phases: readonly HelpOthersPhase[], timeoutMs = PHASE_TIMEOUT_MS): Promise<UiState> {
    return this.waitFor((state) => phases.includes(state.helpOthers.phase), `Help others to reach ${phases.join(' or ')}`, timeoutMs);
  }

  private async waitFor(done: (state: UiState) => boolean, what: string, timeoutMs: number): Promise<UiState> {
    const deadline = Date.now() + timeoutMs;
    let last: UiState | undefined;
    while (Date.now() < deadline) {
      last = await this.state();
      if (last && done(last)) return last;
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 100));
    }
    throw new NetworkStartError(`timed out waiting for ${what}; last state: ${JSON.stringify(last)}`);
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

export interface LocalNetworkOptions {
  servers: NetworkServers;
  volunteers: number;
  headless: boolean;
  /** The client's bypass list; tests whose origin is on loopback need ['<-loopback>']. */
  clientBypassList?: string[];
  clientSocksPort?: number;
  /** Whether the client switches Proxy me on and waits until connected. Default true. */
  connectClient?: boolean;
  log?(line: string): void;
}

/** Volunteers and a client around running servers. */
export class LocalNetwork {
  private constructor(
    readonly servers: NetworkServers,
    readonly volunteers: FerryUser[],
    readonly client: FerryUser,
    private readonly headless: boolean,
  ) {}

  static async start(options: LocalNetworkOptions): Promise<LocalNetwork> {
    const log = options.log ?? (() => {});
    const volunteers: FerryUser[] = [];
    try {
      // One at a time: this machine has two cores, and each start is a Chromium process.
      for (let index = 0; index < options.volunteers; index++) {
        const volunteer = await FerryUser.launch({ brokerUrl: options.servers.brokerUrl, headless: options.headless });
        volunteers.push(volunteer);
        await volunteer.setSwitch('help-others', true);
        await volunteer.waitForHelpOthers(['waiting']);
        log(`volunteer ${index + 1}: Chromium pid ${volunteer.pid}, Help others on, waiting for someone who needs help`);
      }
      const client = await FerryUser.launch({
        brokerUrl: options.servers.brokerUrl,
        headless: options.headless,
        installHelper: true,
        settings: {
          ...(options.clientBypassList ? { bypassList: options.clientBypassList } : {}),
          ...(options.clientSocksPort !== undefined ? { socksPort: options.clientSocksPort } : {}),
        },
      });
      const network = new LocalNetwork(options.servers, volunteers, client, options.headless);
      if (options.connectClient ?? true) {
        try {
          await client.setSwitch('proxy-me', true);
          await client.waitForProxyMe(['connected']);
        } catch (error) {
          log(`client browser output:\n${client.browser.recentOutput.slice(-4000)}`);
          await client.close();
          throw error;
        }
      }
      return network;
    } catch (error) {
      await Promise.all(volunteers.map((volunteer) => volunteer.close()));
      throw error;
    }
  }

  /** Starts one more volunteer browser with Help others on, waiting for someone who needs help. */
  async addVolunteer(): Promise<FerryUser> {
    const volunteer = await FerryUser.launch({ brokerUrl: this.servers.brokerUrl, headless: this.headless });
    this.volunteers.push(volunteer);
    await volunteer.setSwitch('help-others', true);
    await volunteer.waitForHelpOthers(['waiting', 'relaying']);
    return volunteer;
  }

  /** The volunteer relaying for someone now, if any (polls each volunteer's own state). */
  async carryingVolunteer(): Promise<FerryUser | undefined> {
    for (const volunteer of this.volunteers) {
      const state = await volunteer.state().catch(() => undefined);
      if (state && state.helpOthers.clientsNow > 0) return volunteer;
    }
    return undefined;
  }

  /** Kills a volunteer's browser at once (SIGKILL, by pid), as a crash or a closed laptop would, and forgets it. */
  async killVolunteer(volunteer: FerryUser): Promise<void> {
    volunteer.browser.kill();
    this.volunteers.splice(this.volunteers.indexOf(volunteer), 1);
    await volunteer.close();
  }

  /** The helper's SOCKS5 port, once Proxy me has started it. */
  async socksPort(): Promise<number> {
    return (await this.client.state()).proxyMe.socksPort;
  }

  async helperPid(): Promise<number> {
    return (await this.client.state()).proxyMe.helperPid;
  }

  /** Closes every browser (which ends the helper too) and, last, kills a helper that outlived its browser. */
  async stop(): Promise<void> {
    const helperPid = await this.helperPid().catch(() => 0);
    await Promise.all([this.client.close(), ...this.volunteers.map((volunteer) => volunteer.close())]);
    if (helperPid > 0) {
      try {
        process.kill(helperPid, 'SIGTERM');
      } catch {
        // already gone, as it should be
      }
    }
  }
}
