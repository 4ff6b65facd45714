/**
 * @module exit-server/exit-server
 * The exit: volunteers open a WebSocket here for each client path; each WebSocket carries one path of one client
 * session (binary messages = tunnel records). A session may hold several paths at once (JOIN, up to the session's
 * maxPathsPerSession). The exit completes the handshake, opens the requested TCP connections under the egress
 * policy, and bridges them to the session's streams. It never learns the client's address: it sees only volunteers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { nodeChaCha20Poly1305 } from '../protocol/adapters/node-aead.ts';
import { closeOrCut } from '../protocol/adapters/ws-shutdown.ts';
import { AddressHoldings, AddressRateLimit } from '../protocol/address-budget.ts';
import { EXIT_RESOLVER_HOST, EXIT_RESOLVER_PORT } from '../protocol/dns-message.ts';
import {
  AEAD_TAG_BYTES,
  ExitSession,
  FRAME_HEADER_BYTES,
  type KeyPair,
  MAX_DATA_PAYLOAD_BYTES,
  MAX_RECORD_BYTES,
  type MuxStream,
  type RecordSink,
  RecordType,
  SEALED_HEADER_BYTES,
  SessionCloseCode,
  StreamErrorCode,
  toBase64Url,
  verifySessionConfig,
} from '../protocol/index.ts';
import { encodeRefusedRecord } from '../protocol/record.ts';
import { RecordPool } from '../protocol/record-pool.ts';
import { peekResumeSessionId } from '../protocol/resume.ts';
import type { SessionPath } from '../protocol/session-path.ts';
import { BrokerRoute, closeReason, WebSocketCloseCode } from '../protocol/signaling.ts';
import { type ExitConfig, verifyExitConfig } from './config.ts';
import { DestinationBridge } from './destination-bridge.ts';
import { DestinationDialer, DestinationError } from './destination-dialer.ts';
import { EgressPolicy } from './egress-policy.ts';
import { type ExitMetrics, ExitPrometheus, noStreamRefusals, streamRefusalReason } from './metrics.ts';
import { OutboundBudget, type SessionAccount } from './outbound-budget.ts';
import { serveResolverStream } from './resolver-stream.ts';

/** A path that keeps sending refused RESUMEs or JOINs is closed after this many. */
const MAX_REFUSED_RESUMES_PER_PATH = 3;
/** The largest record the exit sends: one full DATA frame, sealed. Records up to this size are sealed into pooled blocks. */
const LARGEST_DATA_RECORD_BYTES = SEALED_HEADER_BYTES + FRAME_HEADER_BYTES + MAX_DATA_PAYLOAD_BYTES + AEAD_TAG_BYTES;
/** Unused record blocks the exit keeps for reuse (256 x ~64 KiB = 16 MiB idle at most); records in use are bounded by each session's replay buffer. */
const RECORD_POOL_IDLE_BLOCKS = 256;
/** On shutdown, how long volunteer sockets get to finish their close handshake before they are cut (ms). */
const SHUTDOWN_GRACE_MS = 1_000;

export interface ExitServerOptions {
  config?: Partial<ExitConfig>;
  keyPair: KeyPair;
  /**
   * Test hook: sees every record exactly as it crosses the volunteer's WebSocket. Copy what you keep: the exit opens
   * records in place and reuses the memory of those it sent.
   */
  wireTap?(direction: 'to-exit' | 'from-exit', record: Uint8Array): void;
  /** Observes each stream request as the client sent it (host unresolved), e.g. for operators' debug logs. */
  onStreamRequest?(target: { host: string; port: number }): void;
}

export type { ExitMetrics } from './metrics.ts';

/** Most addresses whose handshake budget the exit remembers at once. */
const MAX_TRACKED_ADDRESSES = 100_000;

export class ExitServer {
  readonly config: ExitConfig;
  readonly publicKey: string;
  private readonly http: Server;
  private readonly webSockets: WebSocketServer;
  private readonly dialer: DestinationDialer;
  private readonly sessions = new Set<ExitSession>();
  /** Open sessions by id (base64url), for RESUME. */
  private readonly sessionsById = new Map<string, ExitSession>();
  /** The paths (volunteer WebSockets) each session has now; none while detached. */
  private readonly socketsOf = new Map<ExitSession, Map<SessionPath, WebSocket>>();
  /** What each session holds toward its client, against the per-session and exit-wide budgets. */
  private readonly outboundBudget: OutboundBudget;
  /** Memory for the records every session seals, reused once sent and acknowledged (protocol/record-pool.ts). */
  private readonly recordPool: RecordPool;
  private readonly accountOf = new Map<ExitSession, SessionAccount>();
  private readonly metrics: ExitMetrics = {
    sessionsOpen: 0,
    sessionsTotal: 0,
    sessionsRefusedFull: 0,
    streamsOpen: 0,
    streamsTotal: 0,
    streamsRefused: noStreamRefusals(),
    bytesToDestinations: 0,
    bytesFromDestinations: 0,
    bytesReadFromDestinations: 0,
    outboundQueuedBytes: 0,
    largestSessionQueuedBytes: 0,
    outboundSharedPoolFull: false,
    sessionsPausedByBudget: 0,
    destinationsPausedByBudget: 0,
    sessionErrors: 0,
    resumes: 0,
    resumesRefused: 0,
    pathsJoined: 0,
    joinsRefused: 0,
    pathsFailed: 0,
    recordsFromOldPaths: 0,
    pathsSilent: 0,
    detachedEvicted: 0,
    pathsRefused: 0,
    handshakesRefused: 0,
  };
  /** Sessions without a path, longest-waiting first (a Set keeps insertion order). */
  private readonly detached = new Set<ExitSession>();
  /** Paths open per volunteer address. */
  private readonly pathsPerAddress: AddressHoldings;
  /** New sessions per volunteer address per minute. */
  private readonly handshakesPerAddress: AddressRateLimit;
  private readonly silenceSweep: ReturnType<typeof setInterval>;
  /** This exit's own registry: /metrics. */
  private readonly prometheus = new ExitPrometheus(() => this.snapshot());

  constructor(private readonly options: ExitServerOptions) {
    this.config = verifyExitConfig(options.config);
    this.publicKey = toBase64Url(options.keyPair.publicKey);
    this.dialer = new DestinationDialer({
      policy: new EgressPolicy({
        allowLoopback: this.config.allowLoopback,
        blockedPorts: this.config.blockedPorts,
        deniedRanges: this.config.deniedRanges,
        allowedRanges: this.config.allowedRanges,
      }),
      connectTimeoutMs: this.config.connectTimeoutMs,
    });
    this.outboundBudget = new OutboundBudget(this.config);
    this.recordPool = new RecordPool({ blockBytes: LARGEST_DATA_RECORD_BYTES, maxIdleBlocks: RECORD_POOL_IDLE_BLOCKS });
    this.http = createServer((request, response) => this.serveHttp(request, response));
    this.webSockets = new WebSocketServer({ server: this.http, path: this.config.path, maxPayload: MAX_RECORD_BYTES, perMessageDeflate: false });
    this.pathsPerAddress = new AddressHoldings(this.config.maxPathsPerAddress);
    this.handshakesPerAddress = new AddressRateLimit({
      maxPerMinute: this.config.maxHandshakesPerAddressPerMinute,
      maxTrackedAddresses: MAX_TRACKED_ADDRESSES,
    });
    this.webSockets.on('connection', (socket, request) => this.acceptVolunteer(socket, request.socket.remoteAddress ?? 'unknown'));
    // The sessions' heartbeat (PATH_PING, and a path silent while another is live), and a lone path's silence checked a
    // few times per period, so a silent path goes within 1.25 periods.
    const heartbeatMs = verifySessionConfig(this.config.session).heartbeatIntervalMs;
    this.silenceSweep = setInterval(
      () => this.sweep(),
      Math.max(25, Math.min(Math.floor(heartbeatMs / 2), Math.floor(this.config.sessionSilenceTimeoutMs / 4))),
    );
    this.silenceSweep.unref();
  }

  async listen(): Promise<{ host: string; port: number; url: string }> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.config.port, this.config.host, () => resolve());
    });
    const { port } = this.http.address() as AddressInfo;
    const host = this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
    return { host: this.config.host, port, url: `ws://${host}:${port}${this.config.path}` };
  }

  async close(): Promise<void> {
    clearInterval(this.silenceSweep);
    // Each session sends GOAWAY and closes its path; a socket cut at once could drop that GOAWAY unsent, and the
    // client would only notice by silence. So sockets get a short grace to close, then are cut.
    for (const session of this.sessions) session.close('the exit is shutting down', SessionCloseCode.SHUTTING_DOWN);
    await Promise.all(
      [...this.webSockets.clients].map((socket) => closeOrCut(socket, WebSocketCloseCode.GOING_AWAY, 'the exit is shutting down', SHUTDOWN_GRACE_MS)),
    );
    await new Promise<void>((resolve) => this.webSockets.close(() => resolve()));
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await closed;
  }

  snapshot(): ExitMetrics {
    const budget = this.outboundBudget.stats;
    return {
      ...this.metrics,
      streamsRefused: { ...this.metrics.streamsRefused },
      outboundQueuedBytes: budget.queuedBytes,
      largestSessionQueuedBytes: budget.largestSessionQueuedBytes,
      outboundSharedPoolFull: budget.sharedPoolFull,
      sessionsPausedByBudget: budget.sessionsPaused,
      destinationsPausedByBudget: budget.destinationsPaused,
    };
  }

  private serveHttp(request: IncomingMessage, response: ServerResponse): void {
    if (request.method === 'GET' && request.url === BrokerRoute.METRICS) {
      this.prometheus.render().then(
        (text) => response.writeHead(200, { 'content-type': this.prometheus.contentType, 'cache-control': 'no-store' }).end(text),
        () =>
          response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'INTERNAL_ERROR', message: 'metrics failed' } })),
      );
      return;
    }
    if (request.method === 'GET' && request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, publicKey: this.publicKey }));
      return;
    }
    response
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code: 'NOT_FOUND', message: `volunteers connect by WebSocket to ${this.config.path}` } }));
  }

  /** `address` is the volunteer's (never the client's); it is counted for admission and never logged. */
  private acceptVolunteer(socket: WebSocket, address: string): void {
    const tap = this.options.wireTap;
    // ws calls back once the socket has written the record (or failed to): only then may the pool reuse its memory.
    const send = (record: Uint8Array, onWritten?: () => void): void => {
      tap?.('from-exit', record);
      if (socket.readyState === socket.OPEN) socket.send(record, onWritten);
    };
    if (!this.pathsPerAddress.enter(address)) {
      this.metrics.pathsRefused++;
      send(encodeRefusedRecord(`this volunteer address already holds ${this.config.maxPathsPerAddress} paths to this exit`));
      socket.close(WebSocketCloseCode.TRY_AGAIN_LATER, 'too many paths from one address');
      return;
    }
    socket.once('close', () => this.pathsPerAddress.leave(address));
    /** The session this socket is a path of, and that path: set by its first record (HELLO, RESUME or JOIN). */
    let carried: { session: ExitSession; path: SessionPath } | undefined;
    let refusedRequests = 0;
    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (carried && carried.path.state === 'gone') {
        // The session let this path go (a RESUME moved it elsewhere, or the path failed): what still arrives here
        // (ws delivers while a socket closes) is not the session's, and must not reach it.
        this.metrics.recordsFromOldPaths++;
        // A path the exit is closing already (it dropped it for a bad record) finishes its close handshake, so the
        // volunteer hears why (1008); cutting it here raced the records still in flight and left it a bare 1006.
        if (socket.readyState === socket.OPEN) socket.terminate();
        return;
      }
      if (!isBinary) {
        // A path fault: the session (if any) loses this path when the socket closes.
        socket.close(WebSocketCloseCode.UNSUPPORTED_DATA, 'binary tunnel records only');
        return;
      }
      const record = toBytes(data);
      tap?.('to-exit', record);
      if (carried) {
        carried.session.receiveRecord(record, carried.path);
        // An ACK, CREDIT or RESET may have freed bytes (or a PING added a PONG): the session's destinations may read
        // again, or must stop.
        this.accountOf.get(carried.session)?.update();
        return;
      }
      if (record[0] === RecordType.RESUME || record[0] === RecordType.JOIN) {
        const decision = this.attachPath(record, send, socket);
        if (decision.accepted) {
          carried = decision;
          return;
        }
        // The session named (if any) is untouched. The path stays open for a fresh HELLO, a few times at most.
        send(encodeRefusedRecord(decision.reason));
        if (++refusedRequests >= MAX_REFUSED_RESUMES_PER_PATH) socket.close(WebSocketCloseCode.POLICY_VIOLATION, 'too many refused resumes');
        return;
      }
      if (this.sessions.size >= this.config.maxSessions) {
        this.metrics.sessionsRefusedFull++;
        send(encodeRefusedRecord(`this exit is full (${this.config.maxSessions} sessions); try again later`));
        socket.close(WebSocketCloseCode.TRY_AGAIN_LATER, 'exit full');
        return;
      }
      if (!this.handshakesPerAddress.take(address)) {
        this.metrics.handshakesRefused++;
        send(encodeRefusedRecord('this volunteer address starts sessions too fast; try again in a minute'));
        socket.close(WebSocketCloseCode.TRY_AGAIN_LATER, 'too many new sessions from one address');
        return;
      }
      carried = this.createSession(send, socket);
      carried.session.receiveRecord(record, carried.path);
    });
    const pathLost = (reason: string): void => {
      if (carried && carried.path.state !== 'gone') this.losePath(carried.session, carried.path, reason);
    };
    socket.on('close', () => pathLost('the volunteer closed its connection'));
    socket.on('error', () => pathLost('the volunteer connection failed'));
  }

  private createSession(send: RecordSink, socket: WebSocket): { session: ExitSession; path: SessionPath } {
    const session: ExitSession = new ExitSession({
      staticKeyPair: this.options.keyPair,
      aead: nodeChaCha20Poly1305,
      recordPool: this.recordPool,
      config: this.config.session,
      sendRecord: send,
      onOpenRequest: (stream) => this.openDestination(session, stream),
      // A path failed its checks (bad, replayed or lost records), went silent beside others, or the client moved to
      // its standby: close that volunteer (1008 when it misbehaved); the others carry on.
      onPathFailed: (reason, path, kind) => {
        if (kind === 'hostile') this.metrics.pathsFailed++;
        if (kind === 'silent') this.metrics.pathsSilent++;
        this.closePath(session, path, kind === 'hostile' ? WebSocketCloseCode.POLICY_VIOLATION : WebSocketCloseCode.NORMAL, reason);
      },
      onStateChange: (state) => this.sessionStateChanged(session, state),
      onClose: (error) => {
        const account = this.accountOf.get(session);
        this.accountOf.delete(session);
        if (account) this.outboundBudget.close(account);
        this.sessions.delete(session);
        this.detached.delete(session);
        if (session.sessionId) this.sessionsById.delete(toBase64Url(session.sessionId));
        this.metrics.sessionsOpen = this.sessions.size;
        if (error) this.metrics.sessionErrors++;
        const sockets = this.socketsOf.get(session);
        this.socketsOf.delete(session);
        // Let a GOAWAY already queued reach the client before the sockets close.
        for (const path of sockets?.values() ?? []) {
          if (path.readyState === path.OPEN)
            path.close(error ? WebSocketCloseCode.POLICY_VIOLATION : WebSocketCloseCode.NORMAL, closeReason(error?.code ?? 'closed'));
        }
      },
    });
    const path = session.firstPath as SessionPath;
    this.sessions.add(session);
    this.socketsOf.set(session, new Map([[path, socket]]));
    this.accountOf.set(
      session,
      this.outboundBudget.open(() => session.outboundQueuedBytes),
    );
    this.metrics.sessionsOpen = this.sessions.size;
    this.metrics.sessionsTotal++;
    return { session, path };
  }

  /**
   * Open sessions can be found for RESUME and JOIN; a session with no path left waits for one, at most
   * maxDetachedSessions of them (the longest-waiting is freed first).
   */
  private sessionStateChanged(session: ExitSession, state: string): void {
    if (state === 'open') {
      if (session.sessionId) this.sessionsById.set(toBase64Url(session.sessionId), session);
      this.detached.delete(session);
      return;
    }
    if (state !== 'detached') return;
    this.detached.add(session);
    for (const oldest of this.detached) {
      if (this.detached.size <= this.config.maxDetachedSessions) break;
      this.detached.delete(oldest);
      this.metrics.detachedEvicted++;
      oldest.close('this exit had too many sessions waiting for a resume; the longest-waiting one was freed', SessionCloseCode.IDLE_TIMEOUT);
    }
  }

  /** The session no longer uses `path`: close its socket, telling the volunteer why. */
  private closePath(session: ExitSession, path: SessionPath, code: number, reason: string): void {
    const sockets = this.socketsOf.get(session);
    const socket = sockets?.get(path);
    sockets?.delete(path);
    if (socket !== undefined && socket.readyState === socket.OPEN) socket.close(code, closeReason(reason));
  }

  /** A path's socket closed, failed or went silent: the session carries on over its others, or waits for a resume. */
  private losePath(session: ExitSession, path: SessionPath, reason: string): void {
    this.socketsOf.get(session)?.delete(path);
    session.removePath(path, reason);
  }

  /**
   * Each session's heartbeat (it pings its paths and drops one silent while another is live); and paths on which
   * nothing arrived for sessionSilenceTimeoutMs are closed: a silent client holds no volunteer socket.
   */
  private sweep(): void {
    const now = Date.now();
    for (const session of [...this.sessions]) {
      session.tick(now);
      for (const path of [...session.attachedPaths]) {
        if (now - path.lastHeardAtMs <= this.config.sessionSilenceTimeoutMs) continue;
        this.metrics.pathsSilent++;
        const seconds = this.config.sessionSilenceTimeoutMs / 1000;
        this.closePath(session, path, WebSocketCloseCode.POLICY_VIOLATION, `silent for ${seconds} s`);
        session.removePath(path, `nothing arrived on this path for ${seconds} s`);
      }
    }
  }

  /**
   * A RESUME moves a session (detached or not) to this path alone; a JOIN adds this path beside its others. Either is
   * taken only if genuine and fresh; a refused one leaves the session as it was.
   */
  private attachPath(
    record: Uint8Array,
    send: RecordSink,
    socket: WebSocket,
  ): { accepted: true; session: ExitSession; path: SessionPath } | { accepted: false; reason: string } {
    const isJoin = record[0] === RecordType.JOIN;
    const refused = (reason: string): { accepted: false; reason: string } => {
      if (isJoin) this.metrics.joinsRefused++;
      else this.metrics.resumesRefused++;
      return { accepted: false, reason };
    };
    let sessionId: Uint8Array;
    try {
      sessionId = peekResumeSessionId(record);
    } catch (error) {
      return refused(error instanceof Error ? error.message : 'malformed RESUME');
    }
    const session = this.sessionsById.get(toBase64Url(sessionId));
    if (!session) return refused('this exit has no such session: it expired or the exit restarted; open a new session');
    const decision = isJoin ? session.acceptJoin(record, send) : session.acceptResume(record, send);
    if (!decision.accepted) return refused(decision.reason);
    // A RESUME leaves one path per session: the others (if the exit had not noticed them die) are closed, so no
    // stale path keeps carrying.
    for (const old of decision.replaced) this.closePath(session, old, WebSocketCloseCode.NORMAL, 'the session moved to another path');
    let sockets = this.socketsOf.get(session);
    if (sockets === undefined) {
      sockets = new Map();
      this.socketsOf.set(session, sockets);
    }
    sockets.set(decision.path, socket);
    if (isJoin) this.metrics.pathsJoined++;
    else this.metrics.resumes++;
    return { accepted: true, session, path: decision.path };
  }

  private openDestination(session: ExitSession, stream: MuxStream): void {
    this.options.onStreamRequest?.(stream.target);
    const account = this.accountOf.get(session);
    if (!account) {
      stream.reject(StreamErrorCode.GENERAL_FAILURE, 'the session is closing');
      return;
    }
    if (stream.target.host === EXIT_RESOLVER_HOST && stream.target.port === EXIT_RESOLVER_PORT) {
      // DNS through the tunnel (whole-device mode): answered here from this machine's resolver, dialed nowhere.
      serveResolverStream(stream, { idleTimeoutMs: this.config.streamIdleTimeoutMs, onFinished: () => {} });
      return;
    }
    const abort = new AbortController();
    stream.onclose = () => abort.abort();
    const bridge = new DestinationBridge(stream, {
      idleTimeoutMs: this.config.streamIdleTimeoutMs,
      account,
      onFinished: () => {
        this.metrics.streamsOpen--;
        this.metrics.bytesToDestinations += stream.bytesReceived;
        this.metrics.bytesFromDestinations += stream.bytesSent;
      },
    });
    const receive = (bytes: Uint8Array): void => {
      this.metrics.bytesReadFromDestinations += bytes.length;
      bridge.receiveFromDestination(bytes);
    };
    this.dialer.dial(stream.target.host, stream.target.port, abort.signal, receive).then(
      (socket) => {
        if (stream.isClosed) {
          socket.destroy();
          return;
        }
        this.metrics.streamsOpen++;
        this.metrics.streamsTotal++;
        stream.accept();
        bridge.attach(socket);
      },
      (error: unknown) => {
        const code = error instanceof DestinationError ? error.streamCode : StreamErrorCode.GENERAL_FAILURE;
        this.metrics.streamsRefused[streamRefusalReason(code)]++;
        stream.reject(code, error instanceof Error ? error.message : 'connection failed');
      },
    );
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
