/**
 * Test harness for the broker: a real broker on 127.0.0.1 port 0, volunteers as real `ws` clients, clients as
 * real fetch() calls. Every wait is bounded; everything started is closed by TestNetwork.close().
 */
import { WebSocket } from 'ws';
import { LocalOperator } from '../../../harness/operator.ts';
import { sampleAnswerSdp, sampleOfferSdp } from '../../../harness/sample-sdp.ts';
import { withTimeout } from '../../../harness/wait.ts';
import type { BrokerOffer, BrokerToVolunteer, ExitInfo, NatClass, SessionDescription, VolunteerKind } from '../../../protocol/signaling.ts';
import { parseBrokerMessage } from '../../../protocol/signaling.ts';
import type { Broker } from '../../../signaling-server/broker.ts';
import { createBroker } from '../../../signaling-server/broker.ts';
import type { BrokerConfig } from '../../../signaling-server/config.ts';

/** Longest any single wait in these tests may take before the test fails (ms). */
export const WAIT_MS = 5_000;

export const TEST_EXIT: ExitInfo = {
  id: 'exit-local',
  url: 'ws://127.0.0.1:9/v1/relay',
  publicKey: 'mW3pZ8qLZxQ2b1Rj4n0Yc7Vt9Ue6Hs5Gk3Df2Sa1QwE',
};

/** The operator of the test network, and the list it signed: TEST_EXIT only. */
export const TEST_OPERATOR = new LocalOperator();
export const TEST_EXIT_LIST = TEST_OPERATOR.signExitList([TEST_EXIT]);

export { sampleAnswerSdp, sampleOfferSdp } from '../../../harness/sample-sdp.ts';

export function offerBody(overrides: { exitId?: string; nat?: NatClass; sdp?: string; avoid?: unknown } = {}): string {
  const offer: SessionDescription = { type: 'offer', sdp: overrides.sdp ?? sampleOfferSdp() };
  return JSON.stringify({
    offer,
    exitId: overrides.exitId ?? TEST_EXIT.id,
    nat: overrides.nat ?? 'unknown',
    ...(overrides.avoid === undefined ? {} : { avoid: overrides.avoid }),
  });
}

export interface ClientReply {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface HelloFields {
  kind: VolunteerKind;
  nat: NatClass;
  slots: number;
}

export interface TestVolunteerOptions {
  /** Answer pings by itself (ws default). Default true. */
  autoPong?: boolean;
  /** Source address to connect from, e.g. '127.0.0.2' (Linux routes all of 127/8 to lo). */
  localAddress?: string;
}

/** A volunteer speaking the broker protocol over a real WebSocket, keeping every message it receives in order. */
export class TestVolunteer {
  readonly socket: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  volunteerId = '';
  /** Offers received so far, whether taken from the inbox, handled by onEveryOffer, or still queued. */
  offersReceived = 0;
  readonly #inbox: BrokerToVolunteer[] = [];
  readonly #waiters: Array<(message: BrokerToVolunteer) => void> = [];
  #offerHandler: ((offer: BrokerOffer) => void) | undefined;

  constructor(url: string, options: TestVolunteerOptions = {}) {
    const socketOptions = options.localAddress === undefined ? {} : { localAddress: options.localAddress };
    this.socket = new WebSocket(url, { autoPong: options.autoPong ?? true, ...socketOptions });
    this.closed = new Promise((resolve) => {
      this.socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.socket.on('error', () => {});
    this.socket.on('message', (data) => {
      const message = parseBrokerMessage(JSON.parse(String(data)));
      if (message.type === 'offer') {
        this.offersReceived += 1;
        if (this.#offerHandler) {
          this.#offerHandler(message);
          return;
        }
      }
      const waiter = this.#waiters.shift();
      if (waiter) waiter(message);
      else this.#inbox.push(message);
    });
  }

  opened(): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        this.socket.once('open', () => resolve());
        this.socket.once('error', reject);
      }),
      'the volunteer socket to open',
      WAIT_MS,
    );
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  nextMessage(): Promise<BrokerToVolunteer> {
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(queued);
    return withTimeout(new Promise<BrokerToVolunteer>((resolve) => this.#waiters.push(resolve)), 'a broker message', WAIT_MS);
  }

  async nextOffer(): Promise<BrokerOffer> {
    const message = await this.nextMessage();
    if (message.type !== 'offer') throw new Error(`expected an offer, got ${JSON.stringify(message)}`);
    return message;
  }

  /** Resolves with the close code the broker chose. */
  closedBy(): Promise<{ code: number; reason: string }> {
    return withTimeout(this.closed, 'the broker to close the volunteer socket', WAIT_MS);
  }

  /** Messages received and not yet taken. */
  get pending(): readonly BrokerToVolunteer[] {
    return this.#inbox;
  }

  async hello(fields: Partial<HelloFields> = {}): Promise<void> {
    this.send({ type: 'hello', version: 1, kind: fields.kind ?? 'headless', nat: fields.nat ?? 'unknown', slots: fields.slots ?? 1 });
    const welcome = await this.nextMessage();
    if (welcome.type !== 'welcome') throw new Error(`expected welcome, got ${JSON.stringify(welcome)}`);
    this.volunteerId = welcome.volunteerId;
  }

  answer(matchId: string, sdp = sampleAnswerSdp()): void {
    this.send({ type: 'answer', matchId, answer: { type: 'answer', sdp } });
  }

  decline(matchId: string, reason = 'busy'): void {
    this.send({ type: 'decline', matchId, reason });
  }

  /**
   * From now on every offer goes to `handler` as it arrives instead of the inbox: a volunteer that runs by itself
   * (answers at once, declines, or stays silent). Other messages still go to the inbox.
   */
  onEveryOffer(handler: (offer: BrokerOffer) => void): void {
    this.#offerHandler = handler;
  }
}

/** One broker and everything the test opened against it. */
export class TestNetwork {
  readonly broker: Broker;
  readonly baseUrl: string;
  readonly volunteerUrl: string;
  readonly #volunteers: TestVolunteer[] = [];

  private constructor(broker: Broker, port: number) {
    this.broker = broker;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.volunteerUrl = `ws://127.0.0.1:${port}/v1/volunteer`;
  }

  static async start(overrides: Partial<BrokerConfig> = {}): Promise<TestNetwork> {
    const broker = createBroker({ host: '127.0.0.1', port: 0, exitList: TEST_EXIT_LIST, ...overrides });
    const { port } = await broker.listen();
    return new TestNetwork(broker, port);
  }

  /** Opens a volunteer socket; unless `hello` is null it also says hello and waits for the welcome. */
  async volunteer(hello: Partial<HelloFields> | null = {}, options: TestVolunteerOptions = {}): Promise<TestVolunteer> {
    const volunteer = new TestVolunteer(this.volunteerUrl, options);
    this.#volunteers.push(volunteer);
    await volunteer.opened();
    if (hello) await volunteer.hello(hello);
    return volunteer;
  }

  /** POSTs to /v1/client; `body` is sent as is. */
  async postClient(body: string | Uint8Array<ArrayBuffer> = offerBody()): Promise<ClientReply> {
    const response = await fetch(`${this.baseUrl}/v1/client`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
      signal: AbortSignal.timeout(WAIT_MS * 2),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text.length > 0 ? JSON.parse(text) : undefined };
  }

  async get(path: string, init: RequestInit = {}): Promise<Response> {
    return await fetch(`${this.baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(WAIT_MS) });
  }

  async close(): Promise<void> {
    for (const volunteer of this.#volunteers) volunteer.socket.terminate();
    await this.broker.close();
  }
}

export function errorCodeOf(reply: ClientReply): string | undefined {
  const body = reply.body as { error?: { code?: unknown } } | undefined;
  return typeof body?.error?.code === 'string' ? body.error.code : undefined;
}

export function errorMessageOf(reply: ClientReply): string {
  const body = reply.body as { error?: { message?: unknown } } | undefined;
  return typeof body?.error?.message === 'string' ? body.error.message : '';
}
