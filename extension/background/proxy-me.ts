/**
 * @module proxy-me
 * "Proxy me": start the native helper, point the browser at its SOCKS5 port, and have the offscreen document carry
 * the helper's tunnel records to a volunteer.
 *
 *   browser --SOCKS5--> helper --pipe (ws on 127.0.0.1)--> offscreen --data channel--> volunteer --> exit
 *
 * Fail closed: once the proxy points at the helper it stays there (a dead port blocks traffic, it never leaks
 * directly) until the user switches Proxy me off; so does the WebRTC policy that keeps pages' WebRTC off the direct
 * route (webrtc-policy.ts). Never silent: every failure ends in a phase the popup explains.
 */

import type { ExitInfo, NetworkRendezvous, SignedExitList } from '../../protocol/exit-list.ts';
import type { ProxyMePhase, ProxyMeState, WebRtcGuardState } from '../../protocol/extension-state.ts';
import type { SessionReport } from '../../protocol/local-channel.ts';
import { MAX_TRANSPORT_HOSTS, type NativeReady, type NativeToExtension, parseNativeToExtension } from '../../protocol/local-channel.ts';
import { isHostName } from '../../protocol/validate.ts';
import { chooseExit, ExitListError, type ExitListErrorCode, type TrustedExitList, trustExitList } from '../broker-exits.ts';
import type { OffscreenMessage } from '../messages.ts';
import { heldTokenFor, type Pairings } from '../pairings.ts';
import { proxyBypassList } from '../proxy-bypass.ts';
import type { Settings } from '../settings.ts';
import { sleep } from '../sleep.ts';
import { HELPER_INSTALL_COMMAND } from '../status-text.ts';
import { applyClientPathEvent, applySessionReport, type ClientPathEvent, initialProxyMeState } from '../ui-state.ts';
import type { NetworkMemory } from './extension-storage.ts';
import { type ConnectNative, isHostForbiddenError, isHostMissingError, type NativePort } from './native-port.ts';
import type { BrowserProxy } from './proxy-settings.ts';
import type { WebRtcPolicy } from './webrtc-policy.ts';

/** How long the helper may take to answer `start` with `ready` (milliseconds). */
export const HELPER_READY_TIMEOUT_MS = 20_000;
/** Wait before asking the helper for a new pipe token after the pipe closed (milliseconds). */
export const PIPE_RECONNECT_DELAY_MS = 1_000;
/** First and largest wait before asking the broker for its exit list again (milliseconds). */
export const EXIT_LIST_RETRY_DELAY_MS = 3_000;
export const MAX_EXIT_LIST_RETRY_DELAY_MS = 30_000;
/** Exit list failures that may pass by themselves; the others are settings to fix. */
const RETRYABLE_EXIT_LIST_ERRORS: readonly ExitListErrorCode[] = ['BROKER_UNREACHABLE', 'BROKER_ERROR', 'NO_EXITS'];
/** Pipe reconnections in a row without a path coming up before Proxy me gives up. */
export const MAX_PIPE_RECONNECTS = 5;

export interface ProxyMeDeps {
  loadSettings(): Promise<Settings>;
  /** The pairing links; a friend's link held for the broker in the settings makes every path go through them. */
  loadPairings(): Promise<Pairings>;
  /** The broker's exit list, verified against `exitListKeys` (broker-exits.ts fetchExitList). */
  fetchExits(brokerUrl: string, exitListKeys: readonly string[], signal: AbortSignal): Promise<TrustedExitList>;
  connectNative: ConnectNative;
  browserProxy: BrowserProxy;
  webRtcPolicy: WebRtcPolicy;
  offscreen: { acquire(): Promise<void>; release(): Promise<void>; send(message: OffscreenMessage): Promise<void> };
  updateState(change: (state: ProxyMeState) => ProxyMeState): Promise<unknown>;
  log(message: string, error?: unknown): void;
  /**
   * The last list that verified and the rendezvous channel that worked last, kept between runs: with them Proxy me
   * starts while the broker's own address is blocked. Without it, nothing is kept.
   */
  networkMemory?: NetworkMemory;
  /** The clock for "time connected" and throughput (milliseconds since the epoch); Date.now by default. */
  now?(): number;
}

/** One switch-on, from start to stop. A run that is no longer `this.run` ignores everything that reaches it. */
interface ProxyMeRun {
  readonly abort: AbortController;
  settings?: Settings;
  exit?: ExitInfo;
  /** The network's sealed rendezvous, from the signed list. */
  rendezvous?: NetworkRendezvous;
  port?: NativePort;
  ready?: NativeReady;
  usesOffscreen: boolean;
  readyTimer?: ReturnType<typeof setTimeout>;
  pipeReconnectTimer?: ReturnType<typeof setTimeout>;
  pipeReconnects: number;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class ProxyMe {
  private run: ProxyMeRun | undefined;
  /**
   * Browser setting changes (chrome.proxy, chrome.privacy), one after another, so a late "set" can never land after
   * the "clear" of switching off.
   */
  private settingChanges: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ProxyMeDeps) {}

  get isRunning(): boolean {
    return this.run !== undefined;
  }

  async switchOn(): Promise<void> {
    if (this.run !== undefined) return;
    const run: ProxyMeRun = { abort: new AbortController(), usesOffscreen: false, pipeReconnects: 0 };
    this.run = run;
    await this.deps.updateState(() => ({ ...initialProxyMeState(), on: true, phase: 'starting-helper' }));
    try {
      // Start the helper first: a missing helper is reported as such even while the broker is unreachable too.
      this.connectHelper(run);
      await this.guardWebRtc(run);
      if (run !== this.run) return;
      const settings = await this.deps.loadSettings();
      const found = await this.findExit(run, settings);
      if (run !== this.run || found === undefined) return;
      const { exit, exitList, rendezvous } = found;
      run.settings = settings;
      run.exit = exit;
      if (rendezvous !== undefined) run.rendezvous = rendezvous;
      await this.deps.updateState((state) => ({ ...state, exitId: exit.id }));
      if (run !== this.run) return;
      // The helper gets the signed list itself and checks it against its own pinned keys.
      run.port?.post({ type: 'start', exitList, exitId: exit.id, socksPort: settings.socksPort });
      run.readyTimer = setTimeout(() => {
        void this.halt(run, 'helper-stopped', `the helper did not report ready within ${HELPER_READY_TIMEOUT_MS / 1000} s`);
      }, HELPER_READY_TIMEOUT_MS);
    } catch (error) {
      await this.halt(run, 'failed', describe(error));
    }
  }

  /** The chosen exit and the signed list it is on; retries while the broker cannot be reached. Undefined once the run has ended. */
  private async findExit(
    run: ProxyMeRun,
    settings: Settings,
  ): Promise<{ exit: ExitInfo; exitList: SignedExitList; rendezvous?: NetworkRendezvous } | undefined> {
    let delayMs = EXIT_LIST_RETRY_DELAY_MS;
    const chosen = (trusted: TrustedExitList) => ({
      exit: chooseExit(trusted.exits, settings.exitId),
      exitList: trusted.exitList,
      ...(trusted.rendezvous === undefined ? {} : { rendezvous: trusted.rendezvous }),
    });
    for (;;) {
      try {
        const trusted = await this.deps.fetchExits(settings.brokerUrl, settings.exitListKeys, run.abort.signal);
        await this.deps.networkMemory?.saveExitList(trusted.exitList).catch((error) => this.deps.log('could not keep the exit list', error));
        return chosen(trusted);
      } catch (error) {
        if (run !== this.run) return undefined;
        if (!(error instanceof ExitListError) || !RETRYABLE_EXIT_LIST_ERRORS.includes(error.code)) throw error;
        // The broker's own address may be blocked: a list kept from before that names other channels to it will do.
        const known = error.code === 'BROKER_UNREACHABLE' ? await this.knownListWithRendezvous(settings) : undefined;
        if (run !== this.run) return undefined;
        if (known !== undefined) return chosen(known);
        await this.deps.updateState((state) => ({ ...state, phase: 'broker-unreachable', detail: error.message }));
        await sleep(delayMs, run.abort.signal);
        if (run !== this.run) return undefined;
        delayMs = Math.min(delayMs * 2, MAX_EXIT_LIST_RETRY_DELAY_MS);
      }
    }
  }

  /** The kept list, verified again now, if it names rendezvous channels; undefined otherwise. */
  private async knownListWithRendezvous(settings: Settings): Promise<TrustedExitList | undefined> {
    const stored = await this.deps.networkMemory?.loadExitList().catch(() => undefined);
    if (stored === undefined) return undefined;
    try {
      const trusted = trustExitList(stored, settings.exitListKeys, this.now());
      return trusted.rendezvous === undefined ? undefined : trusted;
    } catch {
      return undefined; // expired, or signed by a key no longer pinned
    }
  }

  async switchOff(): Promise<void> {
    const run = this.run;
    this.run = undefined;
    if (run !== undefined) await this.closeRun(run);
    // Always clear, also after a restart left a setting behind with no run.
    await this.changeSettings(() => this.deps.browserProxy.restore()).catch((error) => this.deps.log('could not restore the proxy setting', error));
    await this.changeSettings(() => this.deps.webRtcPolicy.restore()).catch((error) => this.deps.log('could not restore the WebRTC policy', error));
    await this.deps.updateState(() => initialProxyMeState());
  }

  /**
   * The popup's "Whole device" switch: asks the helper (through the offscreen document's pipe) to carry the whole
   * device, keeping the tunnel's own hosts out of it: the broker's, the STUN servers', and the rendezvous channels'.
   * Only while Proxy me runs on a helper; the helper answers with its state (onClientPathEvent 'whole-device').
   */
  async setWholeDevice(on: boolean): Promise<void> {
    const run = this.run;
    if (run?.ready === undefined || run.settings === undefined || !run.usesOffscreen) return;
    await this.deps.updateState((state) => ({ ...state, wholeDevice: on ? 'starting' : state.wholeDevice, wholeDeviceReason: '' }));
    await this.deps.offscreen.send({ target: 'offscreen', type: 'client-whole-device', on, transportHosts: transportHosts(run) });
  }

  async onClientPathEvent(event: ClientPathEvent): Promise<void> {
    const nowMs = this.now();
    await this.deps.updateState((state) => applyClientPathEvent(state, event, nowMs));
    if (event.kind === 'broker-reached') {
      await this.deps.networkMemory?.saveLastChannel(event.channel).catch((error) => this.deps.log('could not keep the rendezvous channel', error));
      return;
    }
    const run = this.run;
    if (run?.ready === undefined) return;
    if (event.kind === 'up') run.pipeReconnects = 0;
    if (event.kind !== 'pipe-closed') return;
    if (run.pipeReconnects >= MAX_PIPE_RECONNECTS) {
      await this.halt(run, 'helper-stopped', `the helper keeps closing the local connection (${event.reason})`);
      return;
    }
    run.pipeReconnects += 1;
    clearTimeout(run.pipeReconnectTimer);
    // The pipe token is single-use: ask for a new one; the `token` answer restarts the client path.
    run.pipeReconnectTimer = setTimeout(() => {
      if (run === this.run) run.port?.post({ type: 'new-token' });
    }, PIPE_RECONNECT_DELAY_MS);
  }

  async onClientSession(report: SessionReport): Promise<void> {
    const nowMs = this.now();
    await this.deps.updateState((state) => applySessionReport(state, report, nowMs));
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** Keeps pages' WebRTC off the direct route while Proxy me is on; a failure here is told, not fatal. */
  private async guardWebRtc(run: ProxyMeRun): Promise<void> {
    let guard: WebRtcGuardState;
    try {
      guard = await this.changeSettings(async () => (run === this.run ? this.deps.webRtcPolicy.restrict() : 'untouched'));
    } catch (error) {
      this.deps.log('could not set the WebRTC policy', error);
      guard = 'not-controllable';
    }
    if (run === this.run) await this.deps.updateState((state) => ({ ...state, webRtcGuard: guard }));
  }

  private connectHelper(run: ProxyMeRun): void {
    const port = this.deps.connectNative();
    run.port = port;
    port.onMessage((message) => void this.onNativeMessage(run, message));
    port.onDisconnect((error) => void this.onNativeDisconnect(run, error));
  }

  private async onNativeMessage(run: ProxyMeRun, raw: unknown): Promise<void> {
    if (run !== this.run) return;
    let message: NativeToExtension;
    try {
      message = parseNativeToExtension(raw);
    } catch (error) {
      this.deps.log('ignored a malformed helper message', error);
      return;
    }
    switch (message.type) {
      case 'ready':
        if (run.ready !== undefined) return;
        clearTimeout(run.readyTimer);
        run.ready = message;
        try {
          await this.onHelperReady(run, message);
        } catch (error) {
          await this.halt(run, 'failed', describe(error));
        }
        return;
      case 'token':
        if (run.ready === undefined) return;
        run.ready = { ...run.ready, token: message.token };
        await this.startClientPath(run).catch((error) => this.halt(run, 'failed', describe(error)));
        return;
      case 'status':
        await this.onClientSession({
          state: message.state,
          bytesUp: message.bytesUp,
          bytesDown: message.bytesDown,
          streams: message.streams,
          pathChanges: message.pathChanges,
          paths: message.paths,
        });
        return;
      case 'error':
        if (run.ready === undefined) await this.halt(run, 'failed', `the helper reported ${message.code}: ${message.message}`);
        else this.deps.log(`helper error ${message.code}: ${message.message}`);
        return;
    }
  }

  private async onHelperReady(run: ProxyMeRun, ready: NativeReady): Promise<void> {
    const settings = run.settings;
    if (settings === undefined) return;
    const bypassList = proxyBypassList(settings.bypassList, settings.brokerUrl, ready.pipeUrl);
    await this.changeSettings(async () => {
      if (run === this.run) await this.deps.browserProxy.pointAtSocks(ready.socksPort, bypassList);
    });
    if (run !== this.run) return;
    await this.deps.updateState((state) => ({
      ...state,
      phase: 'finding-volunteer',
      socksPort: ready.socksPort,
      httpPort: ready.httpPort,
      helperPid: ready.pid,
    }));
    run.usesOffscreen = true;
    await this.deps.offscreen.acquire();
    await this.startClientPath(run);
  }

  private async startClientPath(run: ProxyMeRun): Promise<void> {
    if (run !== this.run || run.ready === undefined || run.exit === undefined || run.settings === undefined) return;
    const pairingToken = heldTokenFor(await this.deps.loadPairings(), run.settings.brokerUrl);
    const lastWorked = await this.deps.networkMemory?.loadLastChannel().catch(() => undefined);
    if (run !== this.run || run.ready === undefined || run.exit === undefined || run.settings === undefined) return;
    await this.deps.offscreen.send({
      target: 'offscreen',
      type: 'client-start',
      pipeUrl: run.ready.pipeUrl,
      token: run.ready.token,
      brokerUrl: run.settings.brokerUrl,
      exit: run.exit,
      ...(pairingToken === undefined ? {} : { pairingToken }),
      // The class the helper measured (RFC 5780), so the broker never pairs this client with a volunteer it cannot reach.
      ...(run.ready.nat === undefined ? {} : { nat: run.ready.nat }),
      ...(run.ready.stunUrls === undefined ? {} : { stunUrls: run.ready.stunUrls }),
      pathCount: run.settings.proxyPaths,
      stripe: run.settings.stripePaths,
      ...(run.rendezvous === undefined ? {} : { rendezvous: { ...run.rendezvous, ...(lastWorked === undefined ? {} : { lastWorked }) } }),
    });
  }

  private async onNativeDisconnect(run: ProxyMeRun, error: string | undefined): Promise<void> {
    if (run !== this.run) return;
    run.port = undefined;
    if (isHostMissingError(error)) await this.halt(run, 'helper-not-installed', error ?? '');
    else if (isHostForbiddenError(error)) await this.halt(run, 'helper-stopped', `${error} Reinstall it: ${HELPER_INSTALL_COMMAND}`);
    else await this.halt(run, 'helper-stopped', error ?? 'the helper exited');
  }

  /** Ends a run that failed by itself. The proxy setting stays as it is (fail closed) until the user switches off. */
  private async halt(run: ProxyMeRun, phase: ProxyMePhase, detail: string): Promise<void> {
    if (run !== this.run) return;
    this.run = undefined;
    this.deps.log(`Proxy me stopped (${phase}): ${detail}`);
    await this.closeRun(run);
    await this.deps.updateState((state) => ({ ...state, on: true, phase, detail }));
  }

  private async closeRun(run: ProxyMeRun): Promise<void> {
    run.abort.abort();
    clearTimeout(run.readyTimer);
    clearTimeout(run.pipeReconnectTimer);
    const port = run.port;
    run.port = undefined;
    if (port !== undefined) {
      try {
        port.post({ type: 'stop' });
        port.disconnect();
      } catch (error) {
        this.deps.log('the native port was already closed', error);
      }
    }
    if (run.usesOffscreen) {
      run.usesOffscreen = false;
      await this.deps.offscreen.send({ target: 'offscreen', type: 'client-stop' }).catch((error) => this.deps.log('client-stop not delivered', error));
      await this.deps.offscreen.release().catch((error) => this.deps.log('could not close the offscreen document', error));
    }
  }

  private changeSettings<T>(change: () => Promise<T>): Promise<T> {
    const result = this.settingChanges.then(change);
    this.settingChanges = result.catch(() => undefined);
    return result;
  }
}

/** The hosts the tunnel itself talks to from this device, as names (the helper resolves them): at most MAX_TRANSPORT_HOSTS. */
function transportHosts(run: ProxyMeRun): string[] {
  const hosts = new Set<string>();
  const add = (url: string | undefined): void => {
    if (url === undefined) return;
    try {
      // stun:host:port is not a URL with a host part; read it by hand.
      const host = url.startsWith('stun:') || url.startsWith('stuns:') ? url.replace(/^stuns?:/, '').replace(/:\d+$/, '') : new URL(url).hostname;
      if (isHostName(host)) hosts.add(host);
    } catch {
      // not a URL: nothing to keep out
    }
  };
  add(run.settings?.brokerUrl);
  for (const url of run.ready?.stunUrls ?? []) add(url);
  for (const channel of run.rendezvous?.channels ?? []) {
    add(channel.url);
    if (channel.kind === 'fronted') add(`https://${channel.front}`);
  }
  return [...hosts].slice(0, MAX_TRANSPORT_HOSTS);
}
