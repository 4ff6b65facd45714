/**
 * @module session
 * The two session endpoints: ClientSession (in the native helper) and ExitSession (in the exit server). Each turns
 * tunnel records from its transport into mux frames and back: handshake, then SEALED records, each carrying one frame.
 * Any protocol violation closes the session with GOAWAY and a typed error; nothing throws out of receiveRecord().
 * Runtime-neutral: the transport is a callback, the cipher an injected factory.
 */
import { NOISE_PROLOGUE, NOISE_PROTOCOL_NAME, RecordType, SessionCloseCode, StreamErrorCode, FrameType, SESSION_ID_BYTES } from './constants.ts';
import { utf8 } from './bytes.ts';
import { verifySessionConfig, type SessionConfig } from './config.ts';
import { nobleChaCha20Poly1305, randomBytes, type AeadFactory, type KeyPair } from './crypto.ts';
import { ProtocolError, MalformedInputError, SessionClosedError, StreamError, AuthenticationError } from './errors.ts';
import { decodeFrame, encodeFrame, type Frame } from './frame.ts';
import { decodeClientHello, decodeServerHello, encodeClientHello, encodeServerHello, type ReceiveWindows } from './hello.ts';
import { Multiplexer, type StreamTarget } from './muxer.ts';
import { NkInitiator, NkResponder, type HandshakeResult } from './noise.ts';
import { decodeRecord, encodeHandshakeRecord, encodeRefusedRecord } from './record.ts';
import { SealedChannel } from './channel.ts';
import type { MuxStream } from './stream.ts';

export type SessionState = 'handshaking' | 'open' | 'closed';

export interface SessionOptions {
  /** Sends one record to the peer (over the pipe, data channel or WebSocket). */
  sendRecord(record: Uint8Array): void;
  config?: Partial<SessionConfig>;
  /** ChaCha20-Poly1305 implementation; @noble/ciphers by default. */
  aead?: AeadFactory;
  /** Fires once when the session closes; `error` is undefined for a normal close. */
  onClose?(error: ProtocolError | undefined): void;
}

/** Counters a UI can show. Payload bytes only (what the applications sent and received). */
export interface SessionStats {
  bytesSent: number;
  bytesReceived: number;
  recordsSent: number;
  recordsReceived: number;
  streams: number;
}

/** What the two endpoints share: record handling, the sealed channel, the muxer, closing. */
abstract class SessionEndpoint {
  protected readonly config: SessionConfig;
  protected readonly aead: AeadFactory;
  protected channel: SealedChannel | undefined;
  protected muxer: Multiplexer | undefined;
  protected handshake: HandshakeResult | undefined;
  private currentState: SessionState = 'handshaking';
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private closeError: ProtocolError | undefined;
  private readonly statsCounters = { bytesSent: 0, bytesReceived: 0, recordsSent: 0, recordsReceived: 0 };

  constructor(protected readonly options: SessionOptions) {
    this.config = verifySessionConfig(options.config);
    this.aead = options.aead ?? nobleChaCha20Poly1305;
    this.handshakeTimer = setTimeout(() => {
      this.fail(new ProtocolError('FERRY_ERR_HANDSHAKE_TIMEOUT', `the handshake did not complete within ${this.config.handshakeTimeoutMs} ms`, SessionCloseCode.IDLE_TIMEOUT));
    }, this.config.handshakeTimeoutMs);
  }

  get state(): SessionState {
    return this.currentState;
  }

  /** Why the session closed, if it failed. */
  get error(): ProtocolError | undefined {
    return this.closeError;
  }

  get stats(): SessionStats {
    return { ...this.statsCounters, streams: this.muxer?.streamCount ?? 0 };
  }

  /** Feeds one record from the transport. Never throws: a bad record closes the session with a typed error. */
  receiveRecord(bytes: Uint8Array): void {
    if (this.currentState === 'closed') return;
    try {
      this.statsCounters.recordsReceived++;
      const record = decodeRecord(bytes);
      if (record.type === RecordType.SEALED) {
        if (!this.channel) throw new MalformedInputError('a sealed record arrived before the handshake completed');
        const frame = decodeFrame(this.channel.open(record.seq, record.header, record.ciphertext));
        if (frame.type === FrameType.DATA) this.statsCounters.bytesReceived += frame.data.length;
        if (frame.type === FrameType.GOAWAY) {
          this.finish(frame.code === SessionCloseCode.NORMAL ? undefined : new SessionClosedError(`the peer closed the session: ${frame.reason}`, frame.code));
          return;
        }
        this.muxer?.receiveFrame(frame);
      } else {
        this.receiveHandshakeRecord(record);
      }
    } catch (error) {
      this.fail(error instanceof ProtocolError ? error : new ProtocolError('FERRY_ERR_INTERNAL', `internal error: ${String(error)}`, SessionCloseCode.INTERNAL_ERROR));
    }
  }

  /** Closes the session: tells the peer (GOAWAY) when it can, fails every open stream. */
  close(reason = 'closed', code: SessionCloseCode = SessionCloseCode.NORMAL): void {
    if (this.currentState === 'closed') return;
    if (this.channel) this.sendFrame({ type: FrameType.GOAWAY, code, reason });
    this.finish(code === SessionCloseCode.NORMAL ? undefined : new SessionClosedError(reason, code));
  }

  /** The transport under the session is gone (issue 2: no resumption yet, so the session ends). */
  transportLost(reason: string): void {
    this.finish(new SessionClosedError(`the path to the exit was lost: ${reason}`, SessionCloseCode.INTERNAL_ERROR));
  }

  protected abstract receiveHandshakeRecord(record: ReturnType<typeof decodeRecord>): void;

  protected sendRecord(record: Uint8Array): void {
    this.statsCounters.recordsSent++;
    this.options.sendRecord(record);
  }

  protected sendFrame = (frame: Frame): void => {
    if (!this.channel || this.currentState === 'closed') return;
    if (frame.type === FrameType.DATA) this.statsCounters.bytesSent += frame.data.length;
    this.sendRecord(this.channel.seal(encodeFrame(frame)));
  };

  protected opened(handshake: HandshakeResult, peerWindows: ReceiveWindows, role: 'client' | 'exit', onOpenRequest?: (stream: MuxStream) => void): void {
    clearTimeout(this.handshakeTimer);
    this.handshake = handshake;
    this.channel = new SealedChannel(handshake, this.aead);
    this.muxer = new Multiplexer({
      role,
      config: this.config,
      peerStreamWindowBytes: peerWindows.streamWindowBytes,
      peerSessionWindowBytes: peerWindows.sessionWindowBytes,
      sendFrame: this.sendFrame,
      ...(onOpenRequest ? { onOpenRequest } : {}),
    });
    this.currentState = 'open';
  }

  protected ownWindows(): ReceiveWindows {
    return { streamWindowBytes: this.config.streamReceiveWindowBytes, sessionWindowBytes: this.config.sessionReceiveWindowBytes };
  }

  protected fail(error: ProtocolError): void {
    if (this.currentState === 'closed') return;
    if (this.channel) this.sendFrame({ type: FrameType.GOAWAY, code: error.closeCode, reason: error.message });
    this.finish(error);
  }

  protected finish(error: ProtocolError | undefined): void {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    this.closeError = error;
    clearTimeout(this.handshakeTimer);
    const reason = error ? `the tunnel session ended: ${error.message}` : 'the tunnel session closed';
    this.muxer?.abortAll(new StreamError(StreamErrorCode.GENERAL_FAILURE, reason));
    this.onFinished(error);
    this.options.onClose?.(error);
  }

  protected onFinished(_error: ProtocolError | undefined): void {}
}

export interface ClientSessionOptions extends SessionOptions {
  /** The exit's static X25519 public key, known in advance (from the broker's exit list or configuration). */
  exitPublicKey: Uint8Array;
  /** Fires once the exit has answered and authenticated. */
  onOpen?(): void;
}

/** The client end: runs in the native helper. */
export class ClientSession extends SessionEndpoint {
  private readonly initiator: NkInitiator;
  private readonly openWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private started = false;
  sessionId: Uint8Array | undefined;

  constructor(private readonly clientOptions: ClientSessionOptions) {
    super(clientOptions);
    this.initiator = new NkInitiator(NOISE_PROTOCOL_NAME, clientOptions.exitPublicKey, { prologue: utf8(NOISE_PROLOGUE), aead: this.aead });
  }

  /** Sends HELLO. Call once the transport is up. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.sendRecord(encodeHandshakeRecord(RecordType.HELLO, this.initiator.writeMessage1(encodeClientHello(this.ownWindows()))));
  }

  /** Resolves when the session is open; rejects if it closes first. */
  whenOpen(): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(this.error ?? new SessionClosedError('the session is closed'));
    return new Promise((resolve, reject) => this.openWaiters.push({ resolve, reject }));
  }

  /** Opens a stream to host:port through the exit. The session must be open. */
  openStream(target: StreamTarget): MuxStream {
    if (this.state !== 'open' || !this.muxer) throw new SessionClosedError('the tunnel session is not open');
    return this.muxer.openStream(target);
  }

  protected receiveHandshakeRecord(record: ReturnType<typeof decodeRecord>): void {
    if (record.type === RecordType.REFUSED) {
      throw new ProtocolError('FERRY_ERR_REFUSED', `the exit refused the session: ${record.reason}`, SessionCloseCode.NORMAL);
    }
    if (record.type !== RecordType.WELCOME) throw new MalformedInputError('the client expected WELCOME');
    if (this.state !== 'handshaking' || !this.started) throw new MalformedInputError('WELCOME arrived twice or before HELLO');
    const { payload, result } = this.initiator.readMessage2(record.handshake);
    const hello = decodeServerHello(payload);
    this.sessionId = hello.sessionId;
    this.opened(result, hello, 'client');
    for (const waiter of this.openWaiters.splice(0)) waiter.resolve();
    this.clientOptions.onOpen?.();
  }

  protected override onFinished(error: ProtocolError | undefined): void {
    for (const waiter of this.openWaiters.splice(0)) waiter.reject(error ?? new SessionClosedError('the session closed'));
  }
}

export interface ExitSessionOptions extends SessionOptions {
  staticKeyPair: KeyPair;
  /** A client asks for a stream: connect, then stream.accept(), or stream.reject(code, reason). */
  onOpenRequest(stream: MuxStream): void;
  /** For ids; defaults to crypto.getRandomValues. */
  randomBytes?(length: number): Uint8Array;
}

/** The exit end: one per client session. */
export class ExitSession extends SessionEndpoint {
  private readonly responder: NkResponder;
  sessionId: Uint8Array | undefined;

  constructor(private readonly exitOptions: ExitSessionOptions) {
    super(exitOptions);
    this.responder = new NkResponder(NOISE_PROTOCOL_NAME, exitOptions.staticKeyPair, { prologue: utf8(NOISE_PROLOGUE), aead: this.aead });
  }

  /** Tells a client the exit will not take it (e.g. full), then closes. The reason is not authenticated. */
  refuse(reason: string): void {
    this.sendRecord(encodeRefusedRecord(reason));
    this.finish(new SessionClosedError(`refused: ${reason}`, SessionCloseCode.SHUTTING_DOWN));
  }

  protected receiveHandshakeRecord(record: ReturnType<typeof decodeRecord>): void {
    if (record.type !== RecordType.HELLO) throw new MalformedInputError('the exit expected HELLO');
    if (this.state !== 'handshaking') throw new MalformedInputError('HELLO arrived twice');
    let peerWindows: ReceiveWindows;
    try {
      peerWindows = decodeClientHello(this.responder.readMessage1(record.handshake));
    } catch (error) {
      if (error instanceof AuthenticationError || error instanceof MalformedInputError) throw error;
      throw new MalformedInputError(`unreadable HELLO: ${String(error)}`);
    }
    this.sessionId = (this.exitOptions.randomBytes ?? randomBytes)(SESSION_ID_BYTES);
    const { message, result } = this.responder.writeMessage2(encodeServerHello({ sessionId: this.sessionId, ...this.ownWindows() }));
    this.sendRecord(encodeHandshakeRecord(RecordType.WELCOME, message));
    this.opened(result, peerWindows, 'exit', this.exitOptions.onOpenRequest);
  }
}
