/**
 * @module fuzz/answering-volunteer
 * A well-behaved volunteer on a real WebSocket for the broker fuzz targets: it says hello, answers every offer at once
 * and announces its slots again after each, so a valid client offer always finds it. Fuzz cases must not disturb it:
 * it staying connected and answering is how the targets see that the broker keeps serving others.
 */
import { WebSocket } from 'ws';
import { withTimeout } from '../../harness/wait.ts';
import { MAX_VOLUNTEER_SLOTS } from '../../protocol/signaling.ts';

/** A data-channel answer as a headless volunteer would send it (only its start, `v=0`, is checked by the broker). */
const ANSWER_SDP = 'v=0\r\no=rtc 2849178233 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n';

export class AnsweringVolunteer {
  readonly #socket: WebSocket;
  /** Offers answered so far. */
  offersAnswered = 0;
  /** Messages it did not expect (anything but welcome, offer, and MATCH_EXPIRED for a client that left). */
  readonly surprises: string[] = [];

  private constructor(socket: WebSocket) {
    this.#socket = socket;
  }

  /** Connects to `url`, says hello, and resolves once welcomed. */
  static async connect(url: string): Promise<AnsweringVolunteer> {
    const socket = new WebSocket(url);
    const volunteer = new AnsweringVolunteer(socket);
    socket.on('error', () => {});
    const welcomed = new Promise<void>((resolve, reject) => {
      socket.once('close', (code) => reject(new Error(`the broker closed the answering volunteer (${code}) before welcoming it`)));
      socket.on('message', (data) => {
        const text = String(data);
        let message: { type?: unknown; matchId?: unknown; code?: unknown };
        try {
          message = JSON.parse(text) as typeof message;
        } catch {
          volunteer.surprises.push(text.slice(0, 200));
          return;
        }
        if (message.type === 'welcome') resolve();
        else if (message.type === 'offer' && typeof message.matchId === 'string') volunteer.#answer(message.matchId);
        else if (!(message.type === 'error' && message.code === 'MATCH_EXPIRED')) volunteer.surprises.push(text.slice(0, 200));
      });
    });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      }),
      'the answering volunteer to connect',
      5_000,
    );
    socket.send(JSON.stringify({ type: 'hello', version: 1, kind: 'headless', nat: 'unknown', slots: MAX_VOLUNTEER_SLOTS }));
    await withTimeout(welcomed, 'the broker to welcome the answering volunteer', 5_000);
    return volunteer;
  }

  get connected(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  #answer(matchId: string): void {
    this.#socket.send(JSON.stringify({ type: 'answer', matchId, answer: { type: 'answer', sdp: ANSWER_SDP } }));
    // An answered offer uses a slot; announcing them all again keeps one free for the next valid offer.
    this.#socket.send(JSON.stringify({ type: 'slots', slots: MAX_VOLUNTEER_SLOTS }));
    this.offersAnswered += 1;
  }

  async close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()));
    this.#socket.close(1000, 'fuzzing done');
    await withTimeout(closed, 'the answering volunteer to close', 5_000).catch(() => this.#socket.terminate());
  }
}
