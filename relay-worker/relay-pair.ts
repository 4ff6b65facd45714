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
 *
 * Each direction has one queue: records wait there, in order, while the exit socket is still opening (c2e) and while
 * the volunteer's bandwidth cap (rate-limit.ts) holds them. The queue counts against maxBufferedBytes too.
 */
import { DATA_CHANNEL_LABEL, type SessionDescription, WebSocketCloseCode } from '../protocol/signaling.ts';
import type { RelayWorkerConfig } from './config.ts';
import { type RelayEnvironment, WEBSOCKET_OPEN } from './environment.ts';
import type { RelayRateLimit } from './rate-limit.ts';

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
  | 'limit'
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
  /** The volunteer's bandwidth cap, shared by all its pairs; none when it has no cap. */
  rateLimit?: RelayRateLimit | undefined;
}

/** Records waiting to go out in one direction, oldest first. */
interface OutgoingQueue {
  records: ArrayBuffer[];
  bytes: number;
  /** Waiting for the bandwidth cap to let the next record through. */
  waitingForCap: boolean;
  /** Called by the cap when it can give again. */
  readonly wake: () => void;
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
  readonly #queues: Record<RelayDirection, OutgoingQueue> = {
    c2e: { records: [], bytes: 0, waitingForCap: false, wake: () => this.#wake('c2e') },
    e2c: { records: [], bytes: 0, waitingForCap: false, wake: () => this.#wake('e2c') },
  };
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
    for (const queue of Object.values(this.#queues)) {
      if (queue.waitingForCap) this.init.rateLimit?.cancel(queue.wake);
      queue.records = [];
      queue.bytes = 0;
    }
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
    this.#drain('c2e');
  }

  #onClientMessage(data: unknown): void {
    if (this.#closed) return;
    if (!(data instanceof ArrayBuffer)) {
      this.close('protocol-violation', typeof data === 'string' ? 'the client sent a text message' : 'the client sent a non-binary message');
      return;
    }
    this.#enqueue('c2e', data);
  }

  #onExitMessage(data: unknown): void {
    if (this.#closed) return;
    if (!(data instanceof ArrayBuffer)) {
      this.close('protocol-violation', typeof data === 'string' ? 'the exit sent a text message' : 'the exit sent a non-binary message');
      return;
    }
    this.#enqueue('e2c', data);
  }

  /** Queues a record behind those already waiting in its direction, then sends what may go now. */
  #enqueue(direction: RelayDirection, record: ArrayBuffer): void {
    const queue = this.#queues[direction];
    queue.records.push(record);
    queue.bytes += record.byteLength;
    if (queue.bytes > this.init.config.maxBufferedBytes) {
      const limit = this.init.config.maxBufferedBytes;
      const why =
        direction === 'c2e' && !this.#exitOpened
          ? `the client sent over ${limit} bytes before the exit answered`
          : `over ${limit} bytes wait to be relayed ${direction === 'c2e' ? 'to the exit' : 'to the client'} under the bandwidth cap`;
      this.close('buffer-limit', why);
      return;
    }
    this.#drain(direction);
  }

  /** Sends the queued records of one direction, in order, as far as the exit socket and the bandwidth cap allow. */
  #drain(direction: RelayDirection): void {
    const queue = this.#queues[direction];
    const cap = this.init.rateLimit;
    while (!this.#closed && !queue.waitingForCap && queue.records.length > 0) {
      if (direction === 'c2e' && !this.#exitOpened) return; // #onExitOpen drains it
      const record = queue.records[0] as ArrayBuffer;
      if (cap !== undefined && !cap.tryTake(record.byteLength)) {
        queue.waitingForCap = true;
        cap.whenAvailable(queue.wake);
        return;
      }
      queue.records.shift();
      queue.bytes -= record.byteLength;
      if (direction === 'c2e') this.#sendToExit(record);
      else this.#sendToClient(record);
    }
  }

  #wake(direction: RelayDirection): void {
    this.#queues[direction].waitingForCap = false;
    this.#drain(direction);
  }

  #sendToClient(data: ArrayBuffer): void {
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
