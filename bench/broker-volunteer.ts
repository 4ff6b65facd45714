/**
 * @module bench/broker-volunteer
 * A volunteer as the broker sees one: one WebSocket to /v1/volunteer from its own source address, `hello` with its
 * free slots, `welcome` back. An idle one only waits (and answers pings, as ws does by itself). An answering one
 * behaves like relay-worker/relay-worker.ts without WebRTC: on an offer it takes a slot (leaving the count to the
 * broker), answers after `answerDelayMs` (a real one gathers ICE first), and when its client's session ends
 * (`sessionMs` later) frees the slot and announces again. It declines an offer when it has no free slot, as a real
 * one does.
 */
import { WebSocket } from 'ws';
import { sampleAnswerSdp } from '../harness/sample-sdp.ts';
import type { VolunteerToBroker } from '../protocol/signaling.ts';

export interface AnsweringBehaviour {
  /** Time from an offer to the answer (ms). */
  answerDelayMs: number;
  /** Time from the answer until that client's session ends and its slot is free again (ms). */
  sessionMs: number;
}

export interface BenchVolunteerOptions {
  /** ws://HOST:PORT/v1/volunteer */
  url: string;
  /** Source address of the socket (any 127.x.y.z). */
  localAddress: string;
  /** Free slots announced in hello (at most 32). */
  slots: number;
  /** Undefined: an idle volunteer that never gets an offer it answers. */
  answering?: AnsweringBehaviour | undefined;
  /** Longest the opening and the welcome may take (ms). */
  timeoutMs: number;
}

/** Why a volunteer could not join: the broker's HTTP status (503 when full, 429 for its address), or a socket error. */
export class VolunteerRefusedError extends Error {
  override readonly name = 'VolunteerRefusedError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export class BenchVolunteer {
  readonly #socket: WebSocket;
  readonly #slots: number;
  /** Clients whose answer has gone out (what `slots` counts); #clients also counts offers still being answered. */
  #answered = 0;
  readonly #answering: AnsweringBehaviour | undefined;
  #clients = 0;
  #answerCount = 0;
  /** Offers received (answered or declined). */
  offers = 0;
  /** Offers declined for want of a free slot. */
  declined = 0;

  private constructor(socket: WebSocket, options: BenchVolunteerOptions) {
    this.#socket = socket;
    this.#slots = options.slots;
    this.#answering = options.answering;
  }

  /** Opens the socket, says hello and resolves once welcomed; rejects with VolunteerRefusedError otherwise. */
  static connect(options: BenchVolunteerOptions): Promise<BenchVolunteer> {
    const socket = new WebSocket(options.url, { localAddress: options.localAddress, perMessageDeflate: false, handshakeTimeout: options.timeoutMs });
    const volunteer = new BenchVolunteer(socket, options);
    return new Promise<BenchVolunteer>((resolve, reject) => {
      let settled = false;
      const fail = (reason: string, message: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.terminate();
        reject(new VolunteerRefusedError(reason, message));
      };
      const timer = setTimeout(() => fail('timeout', `no welcome within ${options.timeoutMs} ms`), options.timeoutMs);
      socket.once('unexpected-response', (_request, response) => fail(`HTTP ${response.statusCode}`, `the broker answered HTTP ${response.statusCode}`));
      socket.on('error', (error: Error & { code?: string }) => fail(error.code ?? 'error', error.message));
      socket.once('close', (code) => fail(`closed ${code}`, `the broker closed the socket (${code}) before its welcome`));
      socket.once('open', () => volunteer.#send({ type: 'hello', version: 1, kind: 'headless', nat: 'unknown', slots: options.slots }));
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        const message = JSON.parse(String(data)) as { type?: unknown; matchId?: unknown; code?: unknown };
        if (message.type === 'welcome' && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve(volunteer);
        } else if (message.type === 'offer' && typeof message.matchId === 'string') {
          volunteer.#onOffer(message.matchId);
        } else if (message.type === 'error' && !settled) {
          fail(`error ${String(message.code)}`, `the broker refused the volunteer: ${String(message.code)}`);
        }
      });
    });
  }

  /** Slots free now (announced minus clients being answered or served). */
  get freeSlots(): number {
    return this.#slots - this.#clients;
  }

  get isOpen(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  /** Cuts the socket at once (no close handshake): the end of the run. */
  terminate(): void {
    this.#socket.terminate();
  }

  #onOffer(matchId: string): void {
    this.offers += 1;
    const answering = this.#answering;
    if (answering === undefined || this.freeSlots === 0) {
      this.declined += 1;
      this.#send({ type: 'decline', matchId, reason: 'no free slot' });
      return;
    }
    // As relay-worker.ts does: no `slots` when taking a client, and `slots` counts only clients already answered
    // (the broker holds a slot for an offer until its answer, then counts it as used itself).
    this.#clients += 1;
    setTimeout(() => {
      this.#answerCount += 1;
      this.#answered += 1;
      this.#send({ type: 'answer', matchId, answer: { type: 'answer', sdp: sampleAnswerSdp(`b${this.#answerCount.toString(36)}`) } });
      setTimeout(() => {
        this.#clients -= 1;
        this.#answered -= 1;
        this.#send({ type: 'slots', slots: this.#slots - this.#answered });
      }, answering.sessionMs);
    }, answering.answerDelayMs);
  }

  #send(message: VolunteerToBroker): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }
}
