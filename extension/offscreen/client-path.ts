/**
 * @module client-path
 * The client's pipe: tunnel records from the helper's local WebSocket go verbatim into data channels to volunteers,
 * and back. The bytes are end-to-end encrypted by the helper; this side never looks inside them.
 *
 *   helper <--pipe (ws, 127.0.0.1)--> ClientPath <--data channels--> volunteers (1 to 3)
 *
 * Each pipe binary message names its path (protocol/local-channel.ts). The pipe's text messages are control: we send
 * path-up / path-down / path-error; the helper sends need-path and session statistics. We keep `pathCount` paths,
 * each through another volunteer (the broker is told to avoid the ones we have): the first carries, the others
 * carry too (`stripe`) or stand by. When a path breaks (its data channel closed or failed, or the helper gave it up:
 * need-path) we close it, send path-down and ask the broker for another volunteer at once; the helper's session
 * carries on over the others meanwhile, or waits. Only consecutive failures back off, with a bounded, growing delay;
 * a path that breaks soon after it came up counts as a failure, so a volunteer that keeps failing cannot make us
 * hammer the broker.
 *
 * The broker: with the network's sealed rendezvous (`rendezvous`, from the signed list), each offer is sealed to the
 * broker's key and carried over the listed channels in turn, the one that worked last first: direct by this
 * document's own fetch, the others by the helper (helper-rendezvous.ts). Without it, one plain POST /v1/client.
 */

import { type BrokerAnswer, PathError, requestAnswer, requestAnswerSealed } from '../../protocol/broker-offer.ts';
import { fromBase64Url } from '../../protocol/bytes.ts';
import { MAX_PATHS_PER_SESSION } from '../../protocol/config.ts';
import {
  decodePipeControl,
  type ExtensionToPipe,
  framePipeRecord,
  type HelperToPipe,
  LocalChannelFormatError,
  MAX_PEER_ADDRESSES,
  MAX_PIPE_PATH_ID,
  MIN_PIPE_PATH_ID,
  type PipePathRole,
  type PipeRendezvous,
  type PipeWholeDeviceState,
  parseHelperToPipe,
  type SessionReport,
  unframePipeRecord,
} from '../../protocol/local-channel.ts';
import type { RendezvousCarrier } from '../../protocol/rendezvous.ts';
import { fetchRendezvousCarrier } from '../../protocol/rendezvous-fetch.ts';
import { DATA_CHANNEL_LABEL, type ExitInfo, type NatClass, WebSocketCloseCode } from '../../protocol/signaling.ts';
import { isIpv4Literal } from '../../protocol/validate.ts';
import type { ClientRendezvous } from '../messages.ts';
import { sleep } from '../sleep.ts';
import type { ClientPathEvent } from '../ui-state.ts';
import { HelperRendezvousCarrier } from './helper-rendezvous.ts';

const WEBSOCKET_OPEN = 1;
const DATA_CHANNEL_OPEN = 'open';

export interface ClientPathLimits {
  /** Longest wait for ICE gathering before sending the offer with the candidates found so far (ms). */
  iceGatheringTimeoutMs: number;
  /** Longest wait for the broker's answer (ms). Above the broker's own matching timeout, so its TIMED_OUT arrives. */
  brokerRequestTimeoutMs: number;
  /** Longest wait from the answer until the data channel opens (ms). */
  dataChannelOpenTimeoutMs: number;
  /**
   * Delay before asking the broker again after the second failure in a row (ms); doubles with each further one, up
   * to maxRetryDelayMs. The first attempt, and the retry after a single failure, go at once.
   */
  retryDelayMs: number;
  maxRetryDelayMs: number;
  /**
   * A path that breaks sooner than this after it came up counts as a failed attempt (ms), unless it carried at least
   * stablePathBytes first: a volunteer that served well and then died is churn, not a reason to wait longer.
   */
  stablePathMs: number;
  stablePathBytes: number;
  /** Most bytes allowed waiting in the data channel's or the pipe's send buffer; above it the path is dropped. */
  maxBufferedBytes: number;
}

export const DEFAULT_CLIENT_PATH_LIMITS: Readonly<ClientPathLimits> = Object.freeze({
  iceGatheringTimeoutMs: 5_000,
  brokerRequestTimeoutMs: 10_000,
  dataChannelOpenTimeoutMs: 15_000,
  retryDelayMs: 3_000,
  maxRetryDelayMs: 30_000,
  stablePathMs: 10_000,
  stablePathBytes: 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
});

export interface ClientPathConfig {
  /** ws://127.0.0.1:PORT/… from the helper's NativeReady. */
  pipeUrl: string;
  /** The one-time pipe token from the helper. */
  token: string;
  brokerUrl: string;
  exit: ExitInfo;
  /** A friend's pairing link token: every path goes through that friend's volunteer (protocol/pairing.ts). */
  pairingToken?: string;
  /** This device's NAT class as the helper measured it; 'unknown' when absent. */
  nat?: NatClass;
  /** STUN servers for server-reflexive candidates (from the helper); host candidates only when absent. */
  stunUrls?: string[];
  /** Volunteers to keep at once, 1 to MAX_PATHS_PER_SESSION; 1 when absent. */
  pathCount?: number;
  /** Whether the paths beyond the first carry too (stripe) or stand by; standby when absent. */
  stripe?: boolean;
  /** The network's sealed rendezvous; offers go plainly to brokerUrl when absent. */
  rendezvous?: ClientRendezvous;
  limits?: Partial<ClientPathLimits>;
}

/** Web-standard constructors, injected so the same class runs in the offscreen document and in node tests. */
export interface ClientPathEnvironment {
  createPeerConnection(config: RTCConfiguration): RTCPeerConnection;
  createWebSocket(url: string): WebSocket;
  fetch: typeof fetch;
}

export interface ClientPathEvents {
  onPathEvent(event: ClientPathEvent): void;
  onSession(report: SessionReport): void;
  /** Where the helper's whole-device mode stands, as it reports it. */
  onWholeDevice?(state: PipeWholeDeviceState): void;
}

/** A limit in ClientPathLimits is unusable. */
export class ClientPathConfigError extends Error {
  override readonly name = 'ClientPathConfigError';
  readonly code = 'CLIENT_PATH_CONFIG_INVALID';
}

function verifyPathCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_PATHS_PER_SESSION)
    throw new ClientPathConfigError(`the number of paths must be an integer from 1 to ${MAX_PATHS_PER_SESSION}, got ${String(count)}`);
}

function verifyLimits(limits: ClientPathLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new ClientPathConfigError(`client path limit ${name} must be a positive integer, got ${String(value)}`);
  }
  if (limits.maxRetryDelayMs < limits.retryDelayMs) throw new ClientPathConfigError('maxRetryDelayMs must be at least retryDelayMs');
}

interface OpenPath {
  readonly pc: RTCPeerConnection;
  readonly dc: RTCDataChannel;
  /** The broker's name for its volunteer, avoided when we ask for another path. */
  readonly volunteer: string | undefined;
  /** The volunteer's IPv4 address on the selected candidate pair, when the browser reports it. */
  readonly peerAddress: string | undefined;
}

/** A path that is up: its id on the pipe, when it came up, and the bytes it carried (both ways). */
interface LivePath extends OpenPath {
  readonly id: number;
  readonly upAtMs: number;
  carriedBytes: number;
}

/** Wait before the next attempt after `failures` failed attempts in a row: none for the first two attempts. */
export function retryDelayFor(failures: number, limits: Pick<ClientPathLimits, 'retryDelayMs' | 'maxRetryDelayMs'>): number {
  if (failures < 2) return 0;
  return Math.min(limits.retryDelayMs * 2 ** Math.min(failures - 2, 30), limits.maxRetryDelayMs);
}

function closePath(path: OpenPath): void {
  path.dc.onmessage = null;
  path.dc.onclose = null;
  path.pc.onconnectionstatechange = null;
  try {
    path.dc.close();
  } finally {
    path.pc.close();
  }
}

/** Resolves when ICE gathering completes, when `timeoutMs` passes (we go on with what we have), or on abort. */
function waitForIceGathering(pc: RTCPeerConnection, timeoutMs: number, signal: AbortSignal): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', onChange);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const onChange = (): void => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', onChange);
    signal.addEventListener('abort', done);
  });
}

function waitForOpen(dc: RTCDataChannel, timeoutMs: number, signal: AbortSignal): Promise<void> {
  if (dc.readyState === DATA_CHANNEL_OPEN) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const finish = (error?: PathError): void => {
      clearTimeout(timer);
      dc.removeEventListener('open', onOpen);
      dc.removeEventListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onOpen = (): void => finish();
    const onClose = (): void => finish(new PathError('DATA_CHANNEL_CLOSED', 'the volunteer closed the data channel before it opened'));
    const onAbort = (): void => finish(new PathError('STOPPED', 'the client path was stopped'));
    const timer = setTimeout(() => finish(new PathError('DATA_CHANNEL_TIMEOUT', `the volunteer did not connect within ${timeoutMs / 1000} s`)), timeoutMs);
    dc.addEventListener('open', onOpen);
    dc.addEventListener('close', onClose);
    signal.addEventListener('abort', onAbort);
  });
}

export class ClientPath {
  readonly #config: ClientPathConfig;
  readonly #limits: ClientPathLimits;
  readonly #env: ClientPathEnvironment;
  readonly #events: ClientPathEvents;
  readonly #abort = new AbortController();
  readonly #pathCount: number;
  #pipe: WebSocket | undefined;
  /** Paths that are up, by their id on the pipe. */
  readonly #paths = new Map<number, LivePath>();
  #lastPathId = 0;
  #acquiring = false;
  #stopped = false;
  /** Failed attempts (and paths that broke before stablePathMs) in a row. */
  #failures = 0;
  /** Rendezvous channels the helper carries for us. */
  readonly #helperRendezvous: HelperRendezvousCarrier;
  /** The rendezvous channel that reached the broker last (channelName), tried first next time. */
  #lastWorkedChannel: string | undefined;

  constructor(config: ClientPathConfig, env: ClientPathEnvironment, events: ClientPathEvents) {
    this.#limits = { ...DEFAULT_CLIENT_PATH_LIMITS, ...config.limits };
    verifyLimits(this.#limits);
    this.#pathCount = config.pathCount ?? 1;
    verifyPathCount(this.#pathCount);
    this.#config = config;
    this.#env = env;
    this.#events = events;
    this.#lastWorkedChannel = config.rendezvous?.lastWorked;
    this.#helperRendezvous = new HelperRendezvousCarrier((message: PipeRendezvous) => {
      if (this.#pipe?.readyState !== WEBSOCKET_OPEN) return false;
      this.#pipe.send(JSON.stringify(message));
      return true;
    });
  }

  get hasPath(): boolean {
    return this.#paths.size > 0;
  }

  /** Paths up now. */
  get pathsUp(): number {
    return this.#paths.size;
  }

  /** Opens the pipe; once it is open, gets paths. */
  start(): void {
    if (this.#pipe !== undefined || this.#stopped) return;
    const url = new URL(this.#config.pipeUrl);
    url.searchParams.set('token', this.#config.token);
    const pipe = this.#env.createWebSocket(url.href);
    pipe.binaryType = 'arraybuffer';
    this.#pipe = pipe;
    pipe.onopen = () => void this.#acquirePaths();
    pipe.onmessage = (event: MessageEvent) => this.#onPipeMessage(event.data);
    pipe.onclose = (event: CloseEvent) => this.#onPipeClosed(`code ${event.code}${event.reason ? `: ${event.reason}` : ''}`);
  }

  /** Closes the paths and the pipe. No more events are reported. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort.abort();
    const paths = [...this.#paths.values()];
    this.#paths.clear();
    for (const path of paths) closePath(path);
    const pipe = this.#pipe;
    if (pipe !== undefined) {
      pipe.onopen = null;
      pipe.onmessage = null;
      pipe.onclose = null;
      pipe.close(WebSocketCloseCode.NORMAL, 'client stopped');
    }
  }

  #onPipeClosed(reason: string): void {
    this.#helperRendezvous.failAll(`the helper's local connection closed (${reason})`);
    if (this.#stopped) return;
    this.stop();
    this.#events.onPathEvent({ kind: 'pipe-closed', reason: `the helper's local connection closed (${reason})` });
  }

  #onPipeMessage(data: unknown): void {
    if (this.#stopped) return;
    if (typeof data === 'string') {
      this.#onPipeControl(data);
      return;
    }
    if (!(data instanceof ArrayBuffer)) return;
    const framed = unframePipeRecord(new Uint8Array(data) as Uint8Array<ArrayBuffer>);
    const path = framed === undefined ? undefined : this.#paths.get(framed.pathId);
    // A record for a path that is down (or not yet up) is dropped; the helper's session sends it again on another.
    if (framed === undefined || path === undefined || path.dc.readyState !== DATA_CHANNEL_OPEN) return;
    try {
      path.dc.send(framed.record as Uint8Array<ArrayBuffer>);
      path.carriedBytes += framed.record.length;
    } catch (error) {
      // The channel closed between the readyState check and the send (the volunteer vanished): the record stays in
      // the helper's replay buffer and goes out again through another path.
      this.#dropPath(path, `could not send to the volunteer: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (path.dc.bufferedAmount > this.#limits.maxBufferedBytes) {
      this.#dropPath(path, `the volunteer is not keeping up (more than ${this.#limits.maxBufferedBytes} bytes waiting)`);
    }
  }

  #onPipeControl(text: string): void {
    let message: HelperToPipe;
    try {
      message = parseHelperToPipe(decodePipeControl(text));
    } catch (error) {
      if (error instanceof LocalChannelFormatError) return;
      throw error;
    }
    if (message.type === 'rendezvous-reply' || message.type === 'rendezvous-failed') {
      this.#helperRendezvous.answer(message);
      return;
    }
    if (message.type === 'whole-device-state') {
      this.#events.onWholeDevice?.(message);
      return;
    }
    if (message.type === 'session') {
      this.#events.onSession({
        state: message.state,
        bytesUp: message.bytesUp,
        bytesDown: message.bytesDown,
        streams: message.streams,
        pathChanges: message.pathChanges,
        paths: message.paths,
      });
      return;
    }
    // need-path: the helper gave a path up (silent or hostile, though its data channel looks open), or has none.
    const reason = `the helper asked for another volunteer (${message.reason || 'no reason given'})`;
    const path = message.pathId === undefined ? undefined : this.#paths.get(message.pathId);
    if (path !== undefined) this.#dropPath(path, reason);
    else void this.#acquirePaths();
  }

  /**
   * Asks the helper to turn whole-device mode on or off; `transportHosts` are the tunnel's own hosts it must keep
   * out of the device (the broker's, the STUN servers', the rendezvous channels'). The answer comes as onWholeDevice.
   */
  setWholeDevice(on: boolean, transportHosts: readonly string[]): void {
    this.#sendControl({ type: 'whole-device', on, transportHosts: [...transportHosts] });
  }

  #sendControl(message: ExtensionToPipe): void {
    if (this.#pipe?.readyState === WEBSOCKET_OPEN) this.#pipe.send(JSON.stringify(message));
  }

  /** Gets volunteers, one at a time, until pathCount paths are up. */
  async #acquirePaths(): Promise<void> {
    if (this.#acquiring || this.#stopped) return;
    this.#acquiring = true;
    try {
      while (!this.#stopped && this.#paths.size < this.#pathCount) {
        const first = this.#paths.size === 0;
        if (first) this.#events.onPathEvent({ kind: 'finding' });
        // Paths that kept breaking right after they came up: wait as after failed attempts. A further path is not
        // urgent (the session has one): after a failure it never asks again sooner than retryDelayMs.
        const delayMs =
          first || this.#failures === 0
            ? retryDelayFor(this.#failures, this.#limits)
            : Math.max(this.#limits.retryDelayMs, retryDelayFor(this.#failures, this.#limits));
        if (delayMs > 0) await sleep(delayMs, this.#abort.signal);
        if (this.#stopped || this.#paths.size >= this.#pathCount) return;
        try {
          const path = await this.#openPath();
          if (this.#stopped) {
            closePath(path);
            return;
          }
          this.#install(path);
        } catch (error) {
          if (this.#stopped) return;
          const code = error instanceof PathError ? error.code : 'PATH_FAILED';
          const message = error instanceof Error ? error.message : String(error);
          this.#failures += 1;
          // Only a session with no path at all is told: a missing standby is no reason to alarm anyone.
          if (this.#paths.size === 0) {
            const retryInMs = retryDelayFor(this.#failures, this.#limits);
            this.#sendControl({ type: 'path-error', code, message });
            this.#events.onPathEvent({ kind: 'error', code, message, retryInMs });
          }
        }
      }
    } finally {
      this.#acquiring = false;
    }
  }

  async #openPath(): Promise<OpenPath> {
    const signal = this.#abort.signal;
    const stunUrls = this.#config.stunUrls ?? [];
    const pc = this.#env.createPeerConnection({ iceServers: stunUrls.length === 0 ? [] : [{ urls: [...stunUrls] }] });
    try {
      const dc = pc.createDataChannel(DATA_CHANNEL_LABEL, { ordered: true });
      dc.binaryType = 'arraybuffer';
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIceGathering(pc, this.#limits.iceGatheringTimeoutMs, signal);
      const local = pc.localDescription;
      if (local === null || local.type !== 'offer') throw new PathError('NO_OFFER', 'the browser produced no WebRTC offer');
      // Never the same volunteer (nor one on the same network) twice for one session.
      const avoid = [...this.#paths.values()].flatMap((path) => (path.volunteer === undefined ? [] : [path.volunteer]));
      const { answer, volunteer } = await this.#askBroker({
        offer: { type: 'offer', sdp: local.sdp },
        exitId: this.#config.exit.id,
        ...(this.#config.pairingToken === undefined ? {} : { pairingToken: this.#config.pairingToken }),
        nat: this.#config.nat ?? 'unknown',
        ...(avoid.length === 0 ? {} : { avoid }),
        signal,
      });
      // Named before ICE starts: in whole-device mode the helper must let the checks to these addresses out.
      const addresses = candidateAddresses(answer.sdp ?? '');
      if (addresses.length > 0) this.#sendControl({ type: 'path-connecting', addresses });
      await pc.setRemoteDescription(answer);
      await waitForOpen(dc, this.#limits.dataChannelOpenTimeoutMs, signal);
      return { pc, dc, volunteer, peerAddress: await selectedPeerAddress(pc) };
    } catch (error) {
      pc.close();
      throw error;
    }
  }

  /** One offer to the broker: sealed over the rendezvous channels when the network has them, else plainly. */
  async #askBroker(request: Omit<Parameters<typeof requestAnswer>[0], 'brokerUrl' | 'timeoutMs'>): Promise<BrokerAnswer> {
    const rendezvous = this.#config.rendezvous;
    if (rendezvous === undefined) {
      return await requestAnswer({ ...request, brokerUrl: this.#config.brokerUrl, timeoutMs: this.#limits.brokerRequestTimeoutMs }, this.#env.fetch);
    }
    const byFetch = fetchRendezvousCarrier(this.#env.fetch);
    // The browser's own fetch for the direct channel; the helper for the ones a browser cannot carry.
    const carrier: RendezvousCarrier = (channel, envelope, signal) =>
      channel.kind === 'direct' ? byFetch(channel, envelope, signal) : this.#helperRendezvous.carry(channel, envelope, signal);
    let sealed: BrokerAnswer & { channel: string };
    try {
      sealed = await requestAnswerSealed(request, {
        brokerKey: fromBase64Url(rendezvous.brokerKey),
        channels: rendezvous.channels,
        carrier,
        lastWorked: this.#lastWorkedChannel,
      });
    } catch (error) {
      if (error instanceof PathError && error.reachedVia !== undefined) this.#reached(error.reachedVia);
      throw error;
    }
    this.#reached(sealed.channel);
    return sealed;
  }

  #reached(channel: string): void {
    this.#lastWorkedChannel = channel;
    this.#events.onPathEvent({ kind: 'broker-reached', channel });
  }

  /** The next free id on the pipe, 1..255 round: an id is reused only once its path is down. */
  #nextPathId(): number {
    for (let tries = 0; tries < MAX_PIPE_PATH_ID; tries++) {
      this.#lastPathId = this.#lastPathId >= MAX_PIPE_PATH_ID ? MIN_PIPE_PATH_ID : this.#lastPathId + 1;
      if (!this.#paths.has(this.#lastPathId)) return this.#lastPathId;
    }
    throw new ClientPathConfigError('no free path id on the pipe');
  }

  #install(open: OpenPath): void {
    const role: PipePathRole = this.#paths.size === 0 || this.#config.stripe === true ? 'carry' : 'standby';
    const path: LivePath = { ...open, id: this.#nextPathId(), upAtMs: Date.now(), carriedBytes: 0 };
    this.#paths.set(path.id, path);
    const maxBufferedBytes = this.#limits.maxBufferedBytes;
    path.dc.onmessage = (event: MessageEvent) => {
      const pipe = this.#pipe;
      // Tunnel records are binary; anything else on the channel is not ours to forward.
      if (this.#paths.get(path.id) !== path || pipe === undefined || !(event.data instanceof ArrayBuffer)) return;
      path.carriedBytes += event.data.byteLength;
      pipe.send(framePipeRecord(path.id, new Uint8Array(event.data)));
      if (pipe.bufferedAmount > maxBufferedBytes) this.#dropPath(path, `the helper is not reading fast enough (more than ${maxBufferedBytes} bytes waiting)`);
    };
    path.dc.onclose = () => this.#dropPath(path, 'the data channel to the volunteer closed');
    path.pc.onconnectionstatechange = () => {
      const state = path.pc.connectionState;
      if (state === 'failed' || state === 'closed') this.#dropPath(path, `the connection to the volunteer ${state}`);
    };
    this.#sendControl({ type: 'path-up', pathId: path.id, role, ...(open.peerAddress === undefined ? {} : { peerAddress: open.peerAddress }) });
    this.#events.onPathEvent({ kind: 'up', pathsUp: this.#paths.size });
  }

  #dropPath(path: LivePath, reason: string): void {
    if (this.#paths.get(path.id) !== path) return;
    this.#paths.delete(path.id);
    closePath(path);
    if (this.#stopped) return;
    // A path that broke soon after it came up counts as a failure only when it was the last one: with another still
    // carrying, replacing it is no hurry, and must not slow the search for a first path later on.
    if (this.#paths.size === 0) {
      const served = Date.now() - path.upAtMs >= this.#limits.stablePathMs || path.carriedBytes >= this.#limits.stablePathBytes;
      this.#failures = served ? 0 : this.#failures + 1;
    }
    this.#sendControl({ type: 'path-down', pathId: path.id, reason });
    this.#events.onPathEvent({ kind: 'down', reason, pathsUp: this.#paths.size });
    void this.#acquirePaths();
  }
}

/** The IPv4 literal addresses of an SDP's candidates (mDNS names and IPv6 left out), at most MAX_PEER_ADDRESSES. */
export function candidateAddresses(sdp: string): string[] {
  const found = new Set<string>();
  for (const match of sdp.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ /gm)) {
    if (isIpv4Literal(match[1])) found.add(match[1]);
  }
  return [...found].slice(0, MAX_PEER_ADDRESSES);
}

/** The remote address of the selected candidate pair (IPv4), from the standard stats; undefined if not reported. */
async function selectedPeerAddress(pc: RTCPeerConnection): Promise<string | undefined> {
  try {
    const stats = await pc.getStats();
    let pairId: string | undefined;
    stats.forEach((entry: { type?: string; selectedCandidatePairId?: string; nominated?: boolean; state?: string; id?: string }) => {
      if (entry.type === 'transport' && entry.selectedCandidatePairId !== undefined) pairId = entry.selectedCandidatePairId;
    });
    const pair = (pairId === undefined ? undefined : stats.get(pairId)) as { remoteCandidateId?: string } | undefined;
    const remote = (pair?.remoteCandidateId === undefined ? undefined : stats.get(pair.remoteCandidateId)) as { address?: string; ip?: string } | undefined;
    const address = remote?.address ?? remote?.ip;
    return isIpv4Literal(address) ? address : undefined;
  } catch {
    return undefined;
  }
}
