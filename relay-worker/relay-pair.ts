/**
 * @module relay-pair
 * One client, relayed to one exit:
 *
 *     client <-- WebRTC data channel 'ferry' --> volunteer <-- WebSocket --> exit
 *
 * c2e = client -> exit, e2c = exit -> client. Messages are encrypted tunnel records: they pass verbatim, one message
 * for one message, never inspected or altered. A text message is a protocol violation. Browser sockets cannot pause
 * reading, so instead of pausing, a pair whose queue or send buffer grows past maxBufferedBytes is closed: the
 * tunnel's end-to-end credit flow control keeps honest peers far below it. The volunteer tells the exit nothing about
 * the client (no address, no header): the exit never learns the client's IP.
 */
import { DATA_CHANNEL_LABEL, type SessionDescription, WebSocketCloseCode } from '../protocol/signaling.ts';
import type { RelayWorkerConfig } from './config.ts';
import { type RelayEnvironment, WEBSOCKET_OPEN } from './environment.ts';

export type RelayDirection = 'c2e' | 'e2c';

export type RelayPairCloseReason =
  | 'client-closed'
  | 'client-never-connected'
  | 'exit-closed'
  | 'exit-unreachable'
  | 'protocol-violation'
  | 'buffer-limit'
  | 'send-failed'
  | 'answer-failed'
  | 'stopped';

export type RelayPairConfig = Pick<RelayWorkerConfig, 'iceServers' | 'answerTimeoutMs' | 'dataChannelOpenTimeoutMs' | 'exitOpenTimeoutMs' | 'maxBufferedBytes'>;

export interface RelayPairEvents {
  /** The client's data channel opened: someone is being helped. */
  onClientConnected(): void;
  onRelayed(direction: RelayDirection, byteLength: number): void;
  /** Called exactly once, after the data channel, the exit socket and the peer connection were closed. */
  onClosed(reason: RelayPairCloseReason, detail: string): void;
}

export interface RelayPairInit {
  environment: RelayEnvironment;
  config: RelayPairConfig;
  /** Already checked against the broker's exit list (exit-allowlist.ts). */
  exitUrl: string;
  events: RelayPairEvents;
}

/** Answering the client's offer failed; the pair is closed. */
export class AnswerError extends Error {
  override readonly name = 'AnswerError';
  readonly code = 'ANSWER_FAILED';
}

export class RelayPair {
  bytesClientToExit = 0;
  bytesExitToClient = 0;
  #closed = false;
  #clientConnected = false;
  readonly #peer: RTCPeerConnection;
  #channel: RTCDataChannel | undefined;
  #exit: WebSocket | undefined;
  #exitOpened = false;
  /** c2e messages that arrived before the exit socket opened, with their total size. */
  #c2eQueue: ArrayBuffer[] = [];
  #c2eQueuedBytes = 0;
  #clientOpenTimer: ReturnType<typeof setTimeout> | undefined;
  #exitOpenTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly init: RelayPairInit) {
    this.#peer = init.environment.createPeerConnection({ iceServers: init.config.iceServers.map((server) => ({ ...server })) });
    this.#peer.addEventListener('datachannel', (event: RTCDataChannelEvent) => this.#onDataChannel(event.channel));
    this.#peer.addEventListener('connectionstatechange', () => {
      const state = this.#peer.connectionState;
      if (state === 'failed' || state === 'closed') this.close('client-closed', `the peer connection is ${state}`);
    });
    this.#clientOpenTimer = setTimeout(() => {
      this.close('client-never-connected', `the client did not connect within ${init.config.dataChannelOpenTimeoutMs} ms`);
    }, init.config.dataChannelOpenTimeoutMs);
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get isClientConnected(): boolean {
    return this.#clientConnected;
  }

  /** Answers the client's offer with a complete SDP (non-trickle ICE). Throws AnswerError. */
  async answer(offer: SessionDescription): Promise<SessionDescription> {
    try {
      await this.#peer.setRemoteDescription({ type: offer.type, sdp: offer.sdp });
      const answer = await this.#peer.createAnswer();
      await this.#peer.setLocalDescription(answer);
      await this.#iceGatheringDone();
      const local = this.#peer.localDescription;
      if (this.#closed) throw new AnswerError('the pair was closed while answering');
      if (local === null || local.type !== 'answer' || !local.sdp) throw new AnswerError('the peer connection produced no answer');
      // A plain object: some WebRTC stacks (node-datachannel) reject RTCSessionDescription instances from others.
      return { type: 'answer', sdp: local.sdp };
    } catch (error) {
      const wrapped = error instanceof AnswerError ? error : new AnswerError(`could not answer the client's offer: ${describe(error)}`);
      this.close('answer-failed', wrapped.message);
      throw wrapped;
    }
  }

  /** Closes the data channel, the exit socket and the peer connection; idempotent. */
  close(reason: RelayPairCloseReason, detail: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#clientOpenTimer);
    clearTimeout(this.#exitOpenTimer);
    this.#c2eQueue = [];
    this.#c2eQueuedBytes = 0;
    // Handlers stay attached (a WebSocket 'error' with no listener throws in some runtimes); #closed mutes them.
    attempt(() => this.#channel?.close());
    attempt(() => this.#exit?.close(WebSocketCloseCode.NORMAL));
    attempt(() => this.#peer.close());
    this.init.events.onClosed(reason, detail);
  }

  #iceGatheringDone(): Promise<void> {
    const peer = this.#peer;
    if (peer.iceGatheringState === 'complete') return Promise.resolve();
    // After answerTimeoutMs the answer goes out with the candidates gathered so far.
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        peer.removeEventListener('icegatheringstatechange', onChange);
        resolve();
      };
      const onChange = () => {
        if (peer.iceGatheringState === 'complete' || this.#closed) finish();
      };
      const timer = setTimeout(finish, this.init.config.answerTimeoutMs);
      peer.addEventListener('icegatheringstatechange', onChange);
    });
  }

  #onDataChannel(channel: RTCDataChannel): void {
    if (this.#closed) {
      attempt(() => channel.close());
      return;
    }
    if (this.#channel !== undefined || channel.label !== DATA_CHANNEL_LABEL) {
      attempt(() => channel.close());
      this.close('protocol-violation', `the client opened an unexpected data channel "${channel.label.slice(0, 32)}"`);
      return;
    }
    this.#channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.addEventListener('message', (event: MessageEvent) => this.#onClientMessage(event.data));
    channel.addEventListener('close', () => this.close('client-closed', 'the client closed the data channel'));
    channel.addEventListener('error', () => this.close('client-closed', 'the data channel failed'));
    if (channel.readyState === 'open') this.#onClientOpen();
    else channel.addEventListener('open', () => this.#onClientOpen(), { once: true });
  }

  #onClientOpen(): void {
    if (this.#closed || this.#clientConnected) return;
    this.#clientConnected = true;
    clearTimeout(this.#clientOpenTimer);
    this.init.events.onClientConnected();
    if (!this.#closed) this.#openExit();
  }

  #openExit(): void {
    let exit: WebSocket;
    try {
      exit = this.init.environment.createWebSocket(this.init.exitUrl);
    } catch (error) {
      this.close('exit-unreachable', `cannot open a WebSocket to the exit: ${describe(error)}`);
      return;
    }
    this.#exit = exit;
    exit.binaryType = 'arraybuffer';
    this.#exitOpenTimer = setTimeout(() => {
      this.close('exit-unreachable', `the exit did not accept the connection within ${this.init.config.exitOpenTimeoutMs} ms`);
    }, this.init.config.exitOpenTimeoutMs);
    exit.addEventListener('open', () => this.#onExitOpen());
    exit.addEventListener('message', (event: MessageEvent) => this.#onExitMessage(event.data));
    const onGone = (what: string) => () => {
      if (this.#exitOpened) this.close('exit-closed', `the exit ${what} the connection`);
      else this.close('exit-unreachable', 'the exit cannot be reached');
    };
    exit.addEventListener('close', onGone('closed'));
    exit.addEventListener('error', onGone('broke'));
  }

  #onExitOpen(): void {
    if (this.#closed) return;
    this.#exitOpened = true;
    clearTimeout(this.#exitOpenTimer);
    const queued = this.#c2eQueue;
    this.#c2eQueue = [];
    this.#c2eQueuedBytes = 0;
    for (const record of queued) {
      if (this.#closed) return;
      this.#sendToExit(record);
    }
  }

  #onClientMessage(data: unknown): void {
    if (this.#closed) return;
    if (!(data instanceof ArrayBuffer)) {
      this.close('protocol-violation', typeof data === 'string' ? 'the client sent a text message' : 'the client sent a non-binary message');
      return;
    }
    if (this.#exitOpened) {
      this.#sendToExit(data);
      return;
    }
    this.#c2eQueuedBytes += data.byteLength;
    if (this.#c2eQueuedBytes > this.init.config.maxBufferedBytes) {
      this.close('buffer-limit', `the client sent over ${this.init.config.maxBufferedBytes} bytes before the exit answered`);
      return;
    }
    this.#c2eQueue.push(data);
  }

  #onExitMessage(data: unknown): void {
    if (this.#closed) return;
    if (!(data instanceof ArrayBuffer)) {
      this.close('protocol-violation', typeof data === 'string' ? 'the exit sent a text message' : 'the exit sent a non-binary message');
      return;
    }
    const channel = this.#channel;
    if (channel === undefined || channel.readyState !== 'open') {
      this.close('client-closed', 'the data channel is no longer open');
      return;
    }
    try {
      channel.send(data);
    } catch (error) {
      this.close('send-failed', `could not send to the client: ${describe(error)}`);
      return;
    }
    this.bytesExitToClient += data.byteLength;
    this.init.events.onRelayed('e2c', data.byteLength);
    if (channel.bufferedAmount > this.init.config.maxBufferedBytes) {
      this.close('buffer-limit', `over ${this.init.config.maxBufferedBytes} bytes wait for the client to read them`);
    }
  }

  #sendToExit(data: ArrayBuffer): void {
    const exit = this.#exit;
    if (exit === undefined || exit.readyState !== WEBSOCKET_OPEN) {
      this.close('exit-closed', 'the exit connection is no longer open');
      return;
    }
    try {
      exit.send(data);
    } catch (error) {
      this.close('send-failed', `could not send to the exit: ${describe(error)}`);
      return;
    }
    this.bytesClientToExit += data.byteLength;
    this.init.events.onRelayed('c2e', data.byteLength);
    if (exit.bufferedAmount > this.init.config.maxBufferedBytes) {
      this.close('buffer-limit', `over ${this.init.config.maxBufferedBytes} bytes wait for the exit to read them`);
    }
  }
}

function attempt(action: () => void): void {
  try {
    action();
  } catch {
    // Closing something already closed or closing: nothing left to release.
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
