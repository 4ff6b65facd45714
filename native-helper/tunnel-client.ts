/**
 * @module native-helper/tunnel-client
 * The client end of the tunnel, as the local proxies see it: a TunnelDialer. It runs one ClientSession over the
 * pipe the extension holds open; the extension tells it (control messages) when a path through a volunteer is up or
 * lost, and carries each path's records to its volunteer verbatim (pipe binary messages name the path). The first
 * path starts the session; later ones join it (to carry beside the others, or stand by); a path that comes when
 * none is left resumes it.
 *
 * While no session is open a dial waits, at most `sessionWaitMs`, for one; then it fails with a SOCKS error that
 * says why (e.g. no volunteer available). Nothing is ever sent around the tunnel.
 */
import type { Duplex } from 'node:stream';
import { nodeChaCha20Poly1305 } from '../protocol/adapters/node-aead.ts';
import { MuxStreamDuplex } from '../protocol/adapters/node-stream.ts';
import {
  ClientSession,
  fromBase64Url,
  type MuxStream,
  type SessionState as ProtocolSessionState,
  type SessionConfig,
  StreamError,
  verifySessionConfig,
} from '../protocol/index.ts';
import {
  type ExtensionToPipe,
  framePipeRecord,
  type HelperToPipe,
  type PipePathRole,
  type SessionReport,
  type SessionState,
  unframePipeRecord,
} from '../protocol/local-channel.ts';
import { PathRole } from '../protocol/resume.ts';
import type { SessionPath } from '../protocol/session-path.ts';
import type { ExitInfo } from '../protocol/signaling.ts';
import { PeerAddresses } from './tun/peer-addresses.ts';
import { DialError, type DialReplyCode, type DialTarget, SOCKS_REPLY, type TunnelDialer } from './tunnel-dialer.ts';

export interface TunnelClientConfig {
  /** How long a dial waits for a session when none is open. Below the SOCKS dial timeout, so the reason is told. */
  sessionWaitMs: number;
  /** How long the exit may take to answer OPEN (it has its own connect timeout, 8 s by default). */
  openTimeoutMs: number;
  /** The client session's tunables (heartbeat, path silence, windows); protocol/config.ts's defaults otherwise. */
  session: Partial<SessionConfig>;
}

export const DEFAULT_TUNNEL_CLIENT_CONFIG: Readonly<TunnelClientConfig> = Object.freeze({
  sessionWaitMs: 8_000,
  openTimeoutMs: 15_000,
  session: {},
});

/** What the pipe offers the tunnel client. */
export interface PipeLink {
  sendRecord(record: Uint8Array): void;
  sendControl(message: HelperToPipe): void;
}

/** The session report the extension shows, and what the helper knows about why it has no path. */
export interface TunnelStatus extends SessionReport {
  /** The last reason the extension gave for having no path (e.g. "NO_VOLUNTEERS: no volunteers are available"). */
  lastPathError: string | undefined;
}

export class TunnelClient implements TunnelDialer {
  private readonly config: TunnelClientConfig;
  private readonly exitPublicKey: Uint8Array;
  private pipe: PipeLink | undefined;
  private session: ClientSession | undefined;
  private lastPathError: string | undefined;
  /** Bytes carried by sessions that have ended, so the counters survive a volunteer change. */
  private carriedUp = 0;
  private carriedDown = 0;
  private carriedPathChanges = 0;
  /** The session's paths by the extension's path id. */
  private readonly paths = new Map<number, SessionPath>();
  /** The volunteers' addresses the paths use (whole-device mode keeps them out of the device). */
  readonly peerAddresses = new PeerAddresses();
  private readonly sessionWaiters = new Set<() => void>();

  constructor(
    readonly exit: ExitInfo,
    config: Partial<TunnelClientConfig> = {},
    private readonly onStatusChange: (status: TunnelStatus) => void = () => {},
  ) {
    this.config = { ...DEFAULT_TUNNEL_CLIENT_CONFIG, ...config };
    // Checked once, up front: a bad value fails the helper's start, not its first session.
    verifySessionConfig(this.config.session);
    this.exitPublicKey = fromBase64Url(exit.publicKey);
  }

  get status(): TunnelStatus {
    const stats = this.session?.stats;
    return {
      state: this.sessionState(),
      bytesUp: this.carriedUp + (stats?.bytesSent ?? 0),
      bytesDown: this.carriedDown + (stats?.bytesReceived ?? 0),
      streams: stats?.streams ?? 0,
      pathChanges: this.carriedPathChanges + (stats?.resumes ?? 0) + (stats?.pathSwitches ?? 0),
      paths: stats?.paths ?? 0,
      lastPathError: this.lastPathError,
    };
  }

  /** The extension connected its pipe. A session on an older pipe waits (detached) for a path on this one. */
  attachPipe(pipe: PipeLink): void {
    this.allPathsLost('the extension reconnected its pipe');
    this.pipe = pipe;
  }

  /** The pipe closed: the paths on it are lost; the session waits, bounded, for the extension to come back. */
  detachPipe(): void {
    this.pipe = undefined;
    this.allPathsLost('the extension closed its pipe');
  }

  /** A pipe binary message: `[path id][record]`. Records of a path the session does not hold (any more) are dropped. */
  handleRecord(message: Uint8Array): void {
    const framed = unframePipeRecord(message);
    if (framed === undefined) return;
    const path = this.paths.get(framed.pathId);
    if (path !== undefined) this.session?.receiveRecord(framed.record, path);
  }

  handleControl(message: ExtensionToPipe): void {
    switch (message.type) {
      case 'path-up':
        this.lastPathError = undefined;
        this.peerAddresses.up(message.pathId, message.peerAddress);
        this.usePath(message.pathId, message.role);
        break;
      case 'path-connecting':
        this.peerAddresses.connecting(message.addresses);
        break;
      case 'path-down': {
        const path = this.paths.get(message.pathId);
        this.peerAddresses.down(message.pathId);
        this.paths.delete(message.pathId);
        if (path !== undefined) this.pathLost(path, `the path through the volunteer closed: ${message.reason}`);
        break;
      }
      case 'path-error':
        this.lastPathError = `${message.code}: ${message.message}`;
        this.emitStatus();
        break;
    }
  }

  async dial(target: DialTarget, signal: AbortSignal): Promise<Duplex> {
    const session = await this.openSession(signal);
    let stream: MuxStream;
    try {
      stream = session.openStream(target);
    } catch (error) {
      throw new DialError(SOCKS_REPLY.generalFailure, error instanceof Error ? error.message : String(error), 'SESSION');
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.reset(SOCKS_REPLY.ttlExpired, 'the client gave up waiting');
        reject(new DialError(SOCKS_REPLY.ttlExpired, `the exit did not answer within ${this.config.openTimeoutMs} ms`, 'OPEN_TIMEOUT'));
      }, this.config.openTimeoutMs);
      const onAbort = (): void => {
        clearTimeout(timer);
        stream.reset(SOCKS_REPLY.generalFailure, 'the local client went away');
        reject(signal.reason instanceof Error ? signal.reason : new DialError(SOCKS_REPLY.generalFailure, 'dial aborted', 'ABORTED'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      stream.onopen = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      stream.onclose = (error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const code = (error instanceof StreamError ? error.streamCode : SOCKS_REPLY.generalFailure) as DialReplyCode;
        reject(new DialError(code, error?.message ?? 'the stream closed before it opened', 'EXIT_REFUSED'));
      };
    });
    return new MuxStreamDuplex(stream);
  }

  close(): void {
    this.pipe = undefined;
    this.paths.clear();
    this.peerAddresses.clear();
    this.discardSession('the helper is stopping');
  }

  private sessionState(): SessionState {
    if (!this.session) return this.pipe ? 'waiting-for-path' : 'closed';
    const state: ProtocolSessionState = this.session.state;
    switch (state) {
      case 'open':
        return 'connected';
      case 'handshaking':
        return 'handshaking';
      case 'detached':
      case 'resuming':
        return 'resuming';
      case 'closed':
        return 'waiting-for-path';
    }
  }

  /**
   * Path `pathId` is up: it joins the session beside its others, resumes a session that has none left, or starts
   * one. A path the session cannot take (at its most paths) is handed back to the extension to close.
   */
  private usePath(pathId: number, role: PipePathRole): void {
    const pipe = this.pipe;
    if (!pipe) return;
    const previous = this.paths.get(pathId);
    if (previous !== undefined) this.pathLost(previous, 'the extension reused its id for a new path');
    const send = (record: Uint8Array): void => void pipe.sendRecord(framePipeRecord(pathId, record));
    const session = this.session;
    if (session?.resumable) {
      const carrying = session.attachedPaths.length > 0;
      if (carrying && !session.canJoin) {
        pipe.sendControl({ type: 'need-path', pathId, reason: 'the session already has as many paths as it may' });
        return;
      }
      // A path that comes while none is left carries everything at once, whatever the extension meant it for.
      const path = carrying ? session.join(send, role === 'standby' ? PathRole.STANDBY : PathRole.CARRY) : session.resume(send);
      this.paths.set(pathId, path);
      this.emitStatus();
      return;
    }
    const reason = 'a new path replaced a session that had not finished its handshake';
    this.releasePaths(reason, pathId);
    this.discardSession(reason);
    this.startSession(pathId, send);
  }

  private startSession(pathId: number, send: (record: Uint8Array) => void): void {
    const session: ClientSession = new ClientSession({
      exitPublicKey: this.exitPublicKey,
      aead: nodeChaCha20Poly1305,
      config: this.config.session,
      sendRecord: send,
      onOpen: () => this.wakeWaiters(),
      onStateChange: (state) => {
        if (state === 'open') this.wakeWaiters();
        this.emitStatus();
      },
      onPathFailed: (reason, path) => {
        if (this.session !== session) return;
        const id = this.idOf(path);
        if (id === undefined) return;
        this.paths.delete(id);
        // The path looks alive to the browser but is silent or hostile: have the extension replace it.
        this.pipe?.sendControl({ type: 'need-path', pathId: id, reason });
        this.emitStatus();
      },
      onClose: (error) => {
        if (this.session !== session) return;
        this.retire(session);
        if (error) this.lastPathError = error.message;
        // A refused resume leaves its path usable: start afresh on the newest path at once; the extension replaces
        // the others (they belonged to the old session). With no path, wait for one.
        const usable = [...this.paths.keys()].pop();
        this.releasePaths('the session it carried closed', usable);
        const pipe = this.pipe;
        if (usable !== undefined && pipe) this.startSession(usable, (record) => void pipe.sendRecord(framePipeRecord(usable, record)));
        this.emitStatus();
      },
    });
    this.session = session;
    const first = session.currentPath;
    if (first !== undefined) this.paths.set(pathId, first);
    session.start();
    this.emitStatus();
  }

  /** Hands the paths of a session that is ending back to the extension to replace, all but `keep`, and forgets them. */
  private releasePaths(reason: string, keep?: number): void {
    for (const id of this.paths.keys()) if (id !== keep) this.pipe?.sendControl({ type: 'need-path', pathId: id, reason });
    this.paths.clear();
  }

  private idOf(path: SessionPath): number | undefined {
    for (const [id, candidate] of this.paths) if (candidate === path) return id;
    return undefined;
  }

  /** A path is gone: the session carries on over its others, or (none left) waits for the next; a handshake starts over. */
  private pathLost(path: SessionPath, reason: string): void {
    const session = this.session;
    if (!session) return;
    if (session.resumable) session.removePath(path, reason);
    else this.discardSession(reason);
    this.emitStatus();
  }

  private allPathsLost(reason: string): void {
    this.paths.clear();
    // No path-down comes for the paths of a pipe that is gone: their volunteers must not go on bypassing the device.
    this.peerAddresses.clear();
    const session = this.session;
    if (!session) return;
    if (session.resumable) session.transportLost(reason);
    else this.discardSession(reason);
    this.emitStatus();
  }

  private discardSession(reason: string): void {
    const session = this.session;
    if (!session) return;
    this.retire(session);
    session.close(reason);
  }

  /** Moves a finished session's counters into the running totals and forgets it. */
  private retire(session: ClientSession): void {
    const stats = session.stats;
    this.carriedUp += stats.bytesSent;
    this.carriedDown += stats.bytesReceived;
    this.carriedPathChanges += stats.resumes + stats.pathSwitches;
    if (this.session === session) this.session = undefined;
  }

  private wakeWaiters(): void {
    for (const wake of this.sessionWaiters) wake();
  }

  private emitStatus(): void {
    this.onStatusChange(this.status);
  }

  /** The open session, waiting for one up to sessionWaitMs. */
  private openSession(signal: AbortSignal): Promise<ClientSession> {
    const ready = (): ClientSession | undefined => (this.session?.state === 'open' ? this.session : undefined);
    const now = ready();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.sessionWaiters.delete(wake);
        signal.removeEventListener('abort', onAbort);
      };
      const wake = (): void => {
        const session = ready();
        if (!session) return;
        finish();
        resolve(session);
      };
      const timer = setTimeout(() => {
        finish();
        const why = this.lastPathError ?? (this.pipe ? 'no volunteer has connected yet' : 'the browser extension is not connected (is Proxy me on?)');
        reject(new DialError(SOCKS_REPLY.networkUnreachable, `no path to the exit within ${this.config.sessionWaitMs} ms: ${why}`, 'NO_PATH'));
      }, this.config.sessionWaitMs);
      const onAbort = (): void => {
        finish();
        reject(signal.reason instanceof Error ? signal.reason : new DialError(SOCKS_REPLY.generalFailure, 'dial aborted', 'ABORTED'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.sessionWaiters.add(wake);
    });
  }
}
