/**
 * Fuzz target: the broker's volunteer WebSocket endpoint (signaling-server/volunteer-hub.ts, /v1/volunteer on the
 * broker of signaling-server/broker.ts), a real broker on 127.0.0.1 with one well-behaved volunteer connected.
 *
 * Each case opens a volunteer socket and sends a few messages: volunteer messages one edit away from valid (hello,
 * slots, answer, decline), random text and JSON, binary frames, text frames that are not UTF-8, oversize messages.
 * A model of the documented protocol (docs/wire-protocol.md) predicts the broker's reply to each: welcome after the
 * first valid hello; an `error` then close 1008 for bad JSON or shape (BAD_MESSAGE), binary (BINARY_NOT_ALLOWED),
 * anything before hello (HELLO_FIRST) or a second hello (ALREADY_HELLO); MATCH_EXPIRED for an answer to no match;
 * close 1007 for text that is not UTF-8 and 1009 for an oversize message; nothing for slots and decline.
 *
 * Properties: the broker sends exactly those replies and nothing else, never logs an error, never hangs; the other
 * volunteer stays connected and, after the cases, still gets the next client's offer; no socket or store entry of a
 * closed volunteer is left behind.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { type RawData, WebSocket } from 'ws';
import { waitFor } from '../../../harness/wait.ts';
import { MAX_SDP_CHARS, MAX_VOLUNTEER_SLOTS, NAT_CLASSES, VOLUNTEER_KINDS } from '../../../protocol/signaling.ts';
import type { BrokerLogEvent } from '../../../signaling-server/config.ts';
import { sampleOfferSdp, TEST_EXIT, TestNetwork } from '../../unit/broker/helpers.ts';
import { AnsweringVolunteer } from '../answering-volunteer.ts';
import { isJsonObject, type JsonObject, type JsonValue, nearValidJson, oddFieldValue } from '../json-mutations.ts';
import type { FuzzTarget } from '../target.ts';

/** The broker's message limit for this target (its smallest allowed maxBodyBytes), so oversize messages are cheap. */
const MAX_MESSAGE_BYTES = 1_024;

export type VolunteerFrame =
  | { kind: 'text'; text: string }
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'not-utf8'; bytes: Uint8Array }
  | { kind: 'oversize'; extraBytes: number };

export interface VolunteerCase {
  frames: VolunteerFrame[];
}

// ---- inputs ----

const matchId = fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 8 }));
const validMessage: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.record(
    {
      type: fc.constant('hello'),
      version: fc.constant(1),
      kind: fc.constantFrom(...VOLUNTEER_KINDS),
      slots: fc.integer({ min: 0, max: MAX_VOLUNTEER_SLOTS }),
      nat: fc.constantFrom(...NAT_CLASSES),
    },
    { requiredKeys: ['type', 'version', 'kind', 'slots'] },
  ),
  fc.record({ type: fc.constant('slots'), slots: fc.integer({ min: 0, max: MAX_VOLUNTEER_SLOTS }) }),
  fc.record({ type: fc.constant('answer'), matchId, answer: fc.record({ type: fc.constant('answer'), sdp: fc.constantFrom('v=0\r\n', 'v=0 answer') }) }),
  fc.record({ type: fc.constant('decline'), matchId, reason: fc.string({ maxLength: 20 }) }, { requiredKeys: ['type', 'matchId'] }),
);
const vocabulary: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 3, arbitrary: oddFieldValue },
  fc.constantFrom<JsonValue>(
    'hello',
    'slots',
    'answer',
    'decline',
    'offer',
    ...VOLUNTEER_KINDS,
    ...NAT_CLASSES,
    1,
    2,
    MAX_VOLUNTEER_SLOTS,
    MAX_VOLUNTEER_SLOTS + 1,
  ),
  fc.constantFrom<JsonValue>({ type: 'answer', sdp: 'v=0' }, { type: 'offer', sdp: 'v=0' }, 'x'.repeat(129)),
);
const frame: fc.Arbitrary<VolunteerFrame> = fc.oneof(
  {
    weight: 16,
    arbitrary: nearValidJson(validMessage, { fieldValue: vocabulary }).map((value): VolunteerFrame => ({ kind: 'text', text: JSON.stringify(value) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.string({ maxLength: 30 }),
        fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value) ?? ''),
      )
      .map((text): VolunteerFrame => ({ kind: 'text', text })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }).map((bytes): VolunteerFrame => ({ kind: 'binary', bytes })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(Uint8Array.of(0xff), Uint8Array.of(0x7b, 0xc3), Uint8Array.of(0xed, 0xa0, 0x80))
      .map((bytes): VolunteerFrame => ({ kind: 'not-utf8', bytes })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 }).map((extraBytes): VolunteerFrame => ({ kind: 'oversize', extraBytes })) },
);
/** Most cases start with a valid hello, so the messages after it meet a volunteer the broker knows. */
const input: fc.Arbitrary<VolunteerCase> = fc
  .tuple(
    fc.oneof(
      { weight: 2, arbitrary: fc.constant<VolunteerFrame[]>([{ kind: 'text', text: '{"type":"hello","version":1,"kind":"headless","slots":0}' }]) },
      { weight: 1, arbitrary: fc.constant<VolunteerFrame[]>([]) },
    ),
    fc.array(frame, { minLength: 1, maxLength: 5 }),
  )
  .map(([start, rest]) => ({ frames: [...start, ...rest] }));

// ---- the model ----

/** A volunteer message as docs/wire-protocol.md describes it; the type when valid. */
function volunteerMessageType(value: unknown): string | undefined {
  if (!isJsonObject(value)) return undefined;
  const isCount = (slots: unknown): boolean => typeof slots === 'number' && Number.isSafeInteger(slots) && slots >= 0 && slots <= MAX_VOLUNTEER_SLOTS;
  const isMatchId = (id: unknown): boolean => typeof id === 'string' && id.length >= 1 && id.length <= 128;
  switch (value.type) {
    case 'hello': {
      const natOk = value.nat === undefined || (typeof value.nat === 'string' && (NAT_CLASSES as readonly string[]).includes(value.nat));
      const kindOk = typeof value.kind === 'string' && (VOLUNTEER_KINDS as readonly string[]).includes(value.kind);
      return value.version === 1 && kindOk && isCount(value.slots) && natOk ? 'hello' : undefined;
    }
    case 'slots':
      return isCount(value.slots) ? 'slots' : undefined;
    case 'answer': {
      const answer = value.answer;
      const answerOk =
        isJsonObject(answer) &&
        answer.type === 'answer' &&
        typeof answer.sdp === 'string' &&
        answer.sdp.startsWith('v=0') &&
        answer.sdp.length <= MAX_SDP_CHARS;
      return isMatchId(value.matchId) && answerOk ? 'answer' : undefined;
    }
    case 'decline':
      return isMatchId(value.matchId) ? 'decline' : undefined;
    default:
      return undefined;
  }
}

/** What the broker must send back for one message. */
type Reply =
  | { kind: 'none' }
  | { kind: 'welcome' }
  | { kind: 'error'; code: string }
  | { kind: 'refusal'; code: string }
  | { kind: 'close'; closeCode: number };

function expectedReply(message: VolunteerFrame, helloDone: boolean): Reply {
  switch (message.kind) {
    case 'binary':
      return { kind: 'refusal', code: 'BINARY_NOT_ALLOWED' };
    case 'not-utf8':
      return { kind: 'close', closeCode: 1007 };
    case 'oversize':
      return { kind: 'close', closeCode: 1009 };
    case 'text': {
      if (Buffer.byteLength(message.text) > MAX_MESSAGE_BYTES) return { kind: 'close', closeCode: 1009 };
      let value: unknown;
      try {
        value = JSON.parse(message.text);
      } catch {
        return { kind: 'refusal', code: 'BAD_MESSAGE' };
      }
      const type = volunteerMessageType(value);
      if (type === undefined) return { kind: 'refusal', code: 'BAD_MESSAGE' };
      if (!helloDone) return type === 'hello' ? { kind: 'welcome' } : { kind: 'refusal', code: 'HELLO_FIRST' };
      if (type === 'hello') return { kind: 'refusal', code: 'ALREADY_HELLO' };
      return type === 'answer' ? { kind: 'error', code: 'MATCH_EXPIRED' } : { kind: 'none' };
    }
  }
}

// ---- one volunteer socket ----

type SocketEvent = { kind: 'message'; text: string; isBinary: boolean } | { kind: 'close'; code: number; reason: string };

/** A volunteer socket that queues what the broker sends, in order, for the model to take one at a time. */
class FuzzVolunteer {
  readonly socket: WebSocket;
  readonly #events: SocketEvent[] = [];
  #wake: (() => void) | undefined;

  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.socket.on('error', () => {});
    this.socket.on('message', (data: RawData, isBinary) => this.#push({ kind: 'message', text: rawText(data), isBinary }));
    this.socket.on('close', (code, reason) => this.#push({ kind: 'close', code, reason: reason.toString() }));
  }

  #push(event: SocketEvent): void {
    this.#events.push(event);
    this.#wake?.();
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('close', (code) => reject(new assert.AssertionError({ message: `the broker refused the volunteer socket (${code})` })));
    });
  }

  async next(): Promise<SocketEvent> {
    for (;;) {
      const event = this.#events.shift();
      if (event) return event;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  get pending(): readonly SocketEvent[] {
    return this.#events;
  }

  send(message: VolunteerFrame): void {
    switch (message.kind) {
      case 'text':
        this.socket.send(message.text);
        return;
      case 'binary':
        this.socket.send(message.bytes, { binary: true });
        return;
      case 'not-utf8':
        this.socket.send(message.bytes, { binary: false });
        return;
      case 'oversize':
        this.socket.send(JSON.stringify({ type: 'slots', slots: 1, padding: 'x'.repeat(MAX_MESSAGE_BYTES + message.extraBytes) }));
        return;
    }
  }
}

function rawText(data: RawData): string {
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data)).toString('utf8');
}

function parseBrokerReply(event: SocketEvent, what: string): Record<string, unknown> {
  assert.equal(event.kind, 'message', `${what}: the broker closed the socket (${event.kind === 'close' ? event.code : ''}) instead of sending a message`);
  assert.ok(event.kind === 'message' && !event.isBinary, `${what}: a text message`);
  const value: unknown = JSON.parse(event.text);
  assert.ok(isJsonObject(value), `${what}: a JSON object`);
  return value;
}

async function expectReply(volunteer: FuzzVolunteer, reply: Reply, what: string): Promise<void> {
  switch (reply.kind) {
    case 'none':
      return;
    case 'welcome': {
      const welcome = parseBrokerReply(await volunteer.next(), what);
      assert.equal(welcome.type, 'welcome', `${what}: ${JSON.stringify(welcome).slice(0, 200)}`);
      assert.ok(typeof welcome.volunteerId === 'string' && welcome.volunteerId.length > 0, `${what}: the welcome names the volunteer`);
      return;
    }
    case 'error':
    case 'refusal': {
      const error = parseBrokerReply(await volunteer.next(), what);
      assert.deepEqual([error.type, error.code], ['error', reply.code], `${what}: ${JSON.stringify(error).slice(0, 200)}`);
      assert.ok(typeof error.message === 'string' && error.message.length > 0, `${what}: the error has a message`);
      if (reply.kind === 'refusal') {
        const close = await volunteer.next();
        assert.deepEqual(close, { kind: 'close', code: 1008, reason: reply.code }, `${what}: closed with 1008 and the code`);
      }
      return;
    }
    case 'close': {
      const close = await volunteer.next();
      assert.equal(close.kind, 'close', `${what}: the broker sent ${close.kind === 'message' ? close.text.slice(0, 100) : ''} instead of closing`);
      assert.equal(close.kind === 'close' && close.code, reply.closeCode, `${what}: close code`);
    }
  }
}

// ---- the session ----

export const brokerVolunteerTarget: FuzzTarget<VolunteerCase> = {
  name: 'broker-volunteer',
  description: 'the broker volunteer WebSocket on 127.0.0.1 fed near-valid, random, binary, non-UTF-8 and oversize messages: model-exact replies and closes',
  input,
  async start() {
    const errors: BrokerLogEvent[] = [];
    const network = await TestNetwork.start({
      maxBodyBytes: MAX_MESSAGE_BYTES,
      maxVolunteersPerAddress: 10_000,
      log: (event) => {
        if (event.level === 'error') errors.push(event);
      },
    });
    const other = await AnsweringVolunteer.connect(network.volunteerUrl);

    async function check({ frames }: VolunteerCase): Promise<void> {
      const volunteer = new FuzzVolunteer(network.volunteerUrl);
      try {
        await volunteer.opened();
        let helloDone = false;
        let closed = false;
        for (const [index, message] of frames.entries()) {
          const reply = expectedReply(message, helloDone);
          volunteer.send(message);
          await expectReply(volunteer, reply, `message ${index} (${message.kind === 'text' ? message.text.slice(0, 120) : message.kind})`);
          if (reply.kind === 'welcome') helloDone = true;
          if (reply.kind === 'refusal' || reply.kind === 'close') {
            closed = true;
            break;
          }
        }
        if (!closed) {
          // A last message whose reply is certain: everything before it was handled, and answered as above only.
          const probe: VolunteerFrame = helloDone
            ? { kind: 'text', text: JSON.stringify({ type: 'answer', matchId: randomUUID(), answer: { type: 'answer', sdp: 'v=0' } }) }
            : { kind: 'text', text: '{"type":"hello","version":1,"kind":"tab","slots":0}' };
          volunteer.send(probe);
          await expectReply(volunteer, helloDone ? { kind: 'error', code: 'MATCH_EXPIRED' } : { kind: 'welcome' }, 'the closing probe');
          volunteer.socket.close(1000, 'case done');
          const close = await volunteer.next();
          assert.equal(close.kind, 'close', 'nothing more after the probe');
        }
        assert.deepEqual(volunteer.pending, [], 'nothing after the close');
        assert.deepEqual(errors, [], 'the broker logged no error');
        assert.ok(other.connected, 'the other volunteer is still connected');
      } finally {
        volunteer.socket.terminate();
      }
    }

    return {
      check,
      checkStillServing: async () => {
        await waitFor(async () => (await network.broker.metrics()).volunteersConnected === 1, 'the broker to forget every closed volunteer', {
          timeoutMs: 5_000,
          intervalMs: 20,
        });
        assert.deepEqual(other.surprises, []);
        const answered = other.offersAnswered;
        const reply = await network.postClient(JSON.stringify({ offer: { type: 'offer', sdp: sampleOfferSdp() }, exitId: TEST_EXIT.id, nat: 'unknown' }));
        assert.equal(reply.status, 200, `a client still gets the other volunteer's answer (got ${reply.status})`);
        assert.equal(other.offersAnswered, answered + 1);
      },
      close: async () => {
        await other.close();
        await network.close();
      },
      toleratedBugs: new Map(),
    };
  },
};
