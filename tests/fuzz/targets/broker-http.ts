/**
 * Fuzz target: the broker's HTTP side (signaling-server/http-handler.ts, http-body.ts, on the node:http server that
 * signaling-server/broker.ts builds), a real broker on 127.0.0.1 with one always-answering volunteer.
 *
 * Two kinds of case. Well-formed HTTP requests with fuzzed method, request target, headers (Content-Type, chunked or
 * Content-Length framing, Expect, Origin) and bodies (offers one edit away from valid, random JSON, random bytes, not
 * UTF-8, oversize) go over one keep-alive connection, and a model of the documented routes predicts the status and
 * error code of each. Raw byte streams (requests with one byte changed or cut, lying Content-Length, random bytes)
 * go on a connection of their own, which the client then half-closes.
 *
 * Properties: every answer is a well-formed HTTP/1.1 response; its status is 2xx or 4xx, or one of the documented
 * 503 NO_VOLUNTEERS, 503 NO_EXIT_LIST (a broker started without a list; this one has one) and 504 TIMED_OUT, never
 * another 5xx; error bodies are {error: {code, message}} with the code
 * that belongs to the status; well-formed requests get exactly the model's status and code and leave the connection
 * usable; no case hangs, and afterwards the broker still matches a valid offer with the volunteer.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { concatBytes } from '../../../protocol/bytes.ts';
import { MAX_SDP_CHARS, NAT_CLASSES } from '../../../protocol/signaling.ts';
import { sampleOfferSdp, TEST_EXIT, TestNetwork } from '../../unit/broker/helpers.ts';
import { AnsweringVolunteer } from '../answering-volunteer.ts';
import { isJsonObject, type JsonObject, type JsonValue, nearValidJson, oddFieldValue } from '../json-mutations.ts';
import { type HttpResponse, headerValue, RawHttpConnection } from '../raw-http.ts';
import type { FuzzTarget } from '../target.ts';

/** The broker's default body limit (bytes), kept here so oversize bodies are built to match it. */
const MAX_BODY_BYTES = 64 * 1024;
/** Idle keep-alive connections are closed by node:http after 5 s; one idle for longer than this is not reused. */
const MAX_IDLE_REUSE_MS = 4_000;
/** The routes and methods the broker documents (docs/wire-protocol.md). */
const ROUTE_METHODS: Readonly<Record<string, readonly string[]>> = {
  '/v1/client': ['POST', 'OPTIONS'],
  '/v1/exits': ['GET', 'OPTIONS'],
  '/metrics': ['GET'],
};
const CORS_ROUTES = new Set(['/v1/client', '/v1/exits']);
/** The error code each error status carries. */
const CODES_BY_STATUS: Readonly<Record<number, readonly string[]>> = {
  400: ['BAD_REQUEST', 'UNKNOWN_EXIT'],
  404: ['NOT_FOUND'],
  405: ['METHOD_NOT_ALLOWED'],
  408: ['BAD_REQUEST'],
  413: ['BODY_TOO_LARGE'],
  429: ['TOO_MANY_REQUESTS'],
  503: ['NO_VOLUNTEERS', 'NO_EXIT_LIST'],
  504: ['TIMED_OUT'],
};

export interface HttpRequestSpec {
  method: string;
  target: string;
  http10: boolean;
  headers: Array<[string, string]>;
  body: Uint8Array;
  chunked: boolean;
}

export type BrokerHttpInput = { kind: 'request'; request: HttpRequestSpec } | { kind: 'raw'; bytes: Uint8Array };

const utf8 = new TextEncoder();

function serialize(request: HttpRequestSpec, declaredLength?: string): Uint8Array {
  const chunked = request.chunked && !request.http10 && declaredLength === undefined;
  const lines = [`${request.method} ${request.target} HTTP/${request.http10 ? '1.0' : '1.1'}`, 'Host: 127.0.0.1'];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  lines.push(chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${declaredLength ?? request.body.length}`);
  const head = utf8.encode(`${lines.join('\r\n')}\r\n\r\n`);
  const body = chunked ? chunkedBody(request.body) : request.body;
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}

/** The body in chunked coding, cut into up to three chunks. */
function chunkedBody(body: Uint8Array): Uint8Array {
  const cuts = [0, Math.floor(body.length / 3), Math.floor((2 * body.length) / 3), body.length];
  const parts: Uint8Array[] = [];
  for (let index = 0; index < 3; index += 1) {
    const piece = body.subarray(cuts[index] ?? 0, cuts[index + 1] ?? 0);
    if (piece.length === 0) continue;
    parts.push(utf8.encode(`${piece.length.toString(16)}\r\n`), piece, utf8.encode('\r\n'));
  }
  parts.push(utf8.encode('0\r\n\r\n'));
  return concatBytes(...parts);
}

// ---- inputs ----

const offerVocabulary: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 4, arbitrary: oddFieldValue },
  fc.constantFrom<JsonValue>('offer', 'answer', TEST_EXIT.id, ...NAT_CLASSES, 'v=0', 'v=0 x', 'x'.repeat(129), { type: 'offer', sdp: 'v=0' }),
  { weight: 1, arbitrary: fc.constantFrom(MAX_SDP_CHARS, MAX_SDP_CHARS + 1).map((length) => `v=0${'s'.repeat(length - 3)}`) },
);
const validOffer: fc.Arbitrary<JsonObject> = fc.record(
  {
    offer: fc.record({
      type: fc.constant('offer'),
      sdp: fc.oneof(
        fc.constant(sampleOfferSdp()),
        fc.string({ maxLength: 40 }).map((rest) => `v=0${rest}`),
      ),
    }),
    exitId: fc.oneof({ weight: 5, arbitrary: fc.constant(TEST_EXIT.id) }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) }),
    nat: fc.constantFrom(...NAT_CLASSES),
  },
  { requiredKeys: ['offer', 'exitId'] },
);
const body: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 12, arbitrary: nearValidJson(validOffer, { fieldValue: offerVocabulary }).map((value) => utf8.encode(JSON.stringify(value))) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value) => utf8.encode(JSON.stringify(value) ?? '')) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: validOffer.map((value) => utf8.encode(`\uFEFF${JSON.stringify(value)}`)) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '{', '[]', 'null', '{"offer":').map((text) => utf8.encode(text)) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_BODY_BYTES - 2, max: MAX_BODY_BYTES + 64 }).map((length) => new Uint8Array(length).fill(0x20)) },
);
const pathChar = fc.constantFrom(..."abcxyzXYZ019-._~!$&'()*+,;=:@/%".split(''));
const target = fc
  .tuple(
    fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom('/v1/client', '/v1/exits', '/metrics') },
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          '/',
          '*',
          '/v1',
          '/v1/volunteer',
          '/v1/client/',
          '/V1/CLIENT',
          '/v1//client',
          '/v1/./client',
          '/v1/x/../exits',
          '/v1/%63lient',
          '/metrics/',
          'http://127.0.0.1/v1/exits',
          'http://broker.example/metrics',
          '//v1/client',
        ),
      },
      { weight: 1, arbitrary: fc.string({ unit: pathChar, maxLength: 20 }).map((path) => `/${path}`) },
    ),
    fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.string({ unit: pathChar, maxLength: 12 }).map((query) => `?${query}`) }),
  )
  .map(([path, query]) => `${path}${query}`);
const method = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('POST', 'GET', 'OPTIONS') },
  { weight: 3, arbitrary: fc.constantFrom('HEAD', 'PUT', 'DELETE', 'PATCH') },
  { weight: 1, arbitrary: fc.constantFrom('TRACE', 'PROPFIND', 'SEARCH') },
);
const headerValueText = fc
  .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 30 })
  .map((value) => value.trim());
const header: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.constantFrom<[string, string]>(
    ['Content-Type', 'application/json'],
    ['Content-Type', 'application/json; charset=utf-8'],
    ['Content-Type', 'text/plain'],
    ['Content-Type', 'multipart/form-data; boundary=x'],
    ['Content-Type', ''],
    ['Expect', '100-continue'],
    ['Origin', 'chrome-extension://iicjeojiegedfieohhglnafgfieegdoe'],
    ['Origin', 'null'],
    ['Accept', '*/*'],
    ['Connection', 'keep-alive'],
    ['Access-Control-Request-Method', 'POST'],
  ),
  fc.tuple(fc.constantFrom('Content-Type', 'X-Fuzz', 'Accept-Encoding', 'Cookie'), headerValueText),
);
const http10 = fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
const chunked = fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
/** Offers: the one route with a body and the most to check, so half of the requests. */
const clientOffer: fc.Arbitrary<HttpRequestSpec> = fc.record({
  method: fc.constant('POST'),
  target: fc.constantFrom('/v1/client', '/v1/client?v=1', 'http://127.0.0.1/v1/client'),
  http10,
  headers: fc.array(header, { maxLength: 3 }),
  body,
  chunked,
});
const anyRequest: fc.Arbitrary<HttpRequestSpec> = fc.record({
  method,
  target,
  http10,
  headers: fc.array(header, { maxLength: 4 }),
  body: fc.oneof({ weight: 1, arbitrary: body }, { weight: 2, arbitrary: fc.constant(new Uint8Array(0)) }),
  chunked,
});
const request = fc.oneof(clientOffer, anyRequest);
const rawBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.tuple(request, fc.nat(), fc.nat(255), fc.constantFrom('set', 'insert', 'cut')).map(([spec, at, value, how]) => {
    const bytes = serialize(spec);
    const index = at % (bytes.length + 1);
    if (how === 'cut') return bytes.subarray(0, index);
    if (how === 'set') return Uint8Array.from(bytes, (byte, position) => (position === index ? value : byte));
    return Uint8Array.from([...bytes.subarray(0, index), value, ...bytes.subarray(index)]);
  }),
  fc
    .tuple(request, fc.constantFrom('0', '1', '-1', '5 ', ' 7', 'abc', '1e3', '99999999999999999999', '65537', '0x10', '3, 3'), fc.integer({ min: -8, max: 8 }))
    .map(([spec, lie, delta]) => serialize(spec, delta === 0 ? lie : String(Math.max(0, spec.body.length + delta)))),
  fc.uint8Array({ maxLength: 96 }),
  fc.array(fc.string({ maxLength: 30 }), { maxLength: 5 }).map((lines) => utf8.encode(`${lines.join('\r\n')}\r\n\r\n`)),
  // Not routes of the handler: node:http itself answers CONNECT, and ws the upgrades (with its own text errors).
  fc.constantFrom('CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'CONNECT /v1/client HTTP/1.1\r\n\r\n').map((text) => utf8.encode(text)),
  fc
    .tuple(
      fc.constantFrom('/v1/volunteer', '/v1/client', '/v1/volunteer?x=1', '/nowhere'),
      fc.constantFrom('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n', 'Sec-WebSocket-Version: 8\r\n', ''),
      fc.uint8Array({ maxLength: 16 }),
    )
    .map(([path, key, after]) =>
      Uint8Array.from([...utf8.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${key}\r\n`), ...after]),
    ),
);
const input: fc.Arbitrary<BrokerHttpInput> = fc.oneof(
  { weight: 5, arbitrary: request.map((spec): BrokerHttpInput => ({ kind: 'request', request: spec })) },
  { weight: 1, arbitrary: rawBytes.map((bytes): BrokerHttpInput => ({ kind: 'raw', bytes })) },
);

// ---- the model ----

interface Expected {
  status: number;
  /** The error code, for error statuses. */
  code?: string;
  /** Other statuses the broker may answer with instead (documented conditions). */
  alternatives?: readonly number[];
}

/** The path part of a request target, as WHATWG URL resolves it against the broker; '/' when it does not parse. */
function pathOfTarget(requestTarget: string): string {
  try {
    return new URL(requestTarget, 'http://broker.invalid').pathname;
  } catch {
    return '/';
  }
}

/** A client offer as docs/wire-protocol.md describes it. */
function isValidOffer(value: unknown): value is { exitId: string } {
  if (!isJsonObject(value) || !isJsonObject(value.offer)) return false;
  const { offer, exitId, nat } = value;
  if (offer.type !== 'offer' || typeof offer.sdp !== 'string' || !offer.sdp.startsWith('v=0') || offer.sdp.length > MAX_SDP_CHARS) return false;
  if (typeof exitId !== 'string' || exitId.length === 0 || exitId.length > 128) return false;
  return nat === undefined || (typeof nat === 'string' && (NAT_CLASSES as readonly string[]).includes(nat));
}

function predict(spec: HttpRequestSpec): Expected {
  const path = pathOfTarget(spec.target);
  const methods = ROUTE_METHODS[path];
  if (methods === undefined) return { status: 404, code: 'NOT_FOUND' };
  if (!methods.includes(spec.method)) return { status: 405, code: 'METHOD_NOT_ALLOWED' };
  if (spec.method === 'OPTIONS') return { status: 204 };
  if (path !== '/v1/client') return { status: 200 };
  if (spec.body.length > MAX_BODY_BYTES) return { status: 413, code: 'BODY_TOO_LARGE' };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(spec.body));
  } catch {
    return { status: 400, code: 'BAD_REQUEST' };
  }
  if (!isValidOffer(json)) return { status: 400, code: 'BAD_REQUEST' };
  if (json.exitId !== TEST_EXIT.id) return { status: 400, code: 'UNKNOWN_EXIT' };
  // The volunteer answers at once; it may still be between two matches (its slot not yet released).
  return { status: 200, alternatives: [503] };
}

/**
 * What every response must be, whatever the request. `path` is '' for raw bytes, whose request is unknown: they may
 * also have been a WebSocket upgrade, which ws answers (101, or an error in plain text).
 */
function checkWellFormed(response: HttpResponse, path: string, method: string): void {
  const { status } = response;
  const raw = path === '';
  assert.ok(
    (status >= 200 && status < 300) || (status >= 400 && status < 500) || status === 503 || status === 504 || (raw && status === 101),
    `status ${status}`,
  );
  const contentType = headerValue(response, 'content-type') ?? '';
  if (status >= 400 && response.body.length > 0 && !(raw && !contentType.startsWith('application/json'))) {
    assert.match(contentType, /^application\/json/, `a ${status} error body is JSON`);
    const parsed: unknown = JSON.parse(Buffer.from(response.body).toString('utf8'));
    assert.ok(isJsonObject(parsed) && isJsonObject(parsed.error), `a ${status} body is {error: {code, message}}`);
    const { code, message } = parsed.error;
    assert.ok(typeof code === 'string' && (CODES_BY_STATUS[status] ?? []).includes(code), `status ${status} with code ${String(code)}`);
    assert.ok(typeof message === 'string' && message.length > 0, 'an error has a message');
  }
  if (status === 503 || status === 429) assert.ok(headerValue(response, 'retry-after'), `${status} carries Retry-After`);
  if (status === 405 && headerValue(response, 'allow') === undefined) assert.fail('405 carries Allow');
  if (status === 200 && path === '/v1/client' && method === 'POST') {
    const answer: unknown = JSON.parse(Buffer.from(response.body).toString('utf8'));
    assert.ok(isJsonObject(answer) && typeof answer.matchId === 'string' && isJsonObject(answer.answer) && answer.answer.type === 'answer');
    assert.ok(typeof answer.answer.sdp === 'string' && answer.answer.sdp.startsWith('v=0'));
  }
  if (CORS_ROUTES.has(path) && status !== 404 && headerValue(response, 'access-control-allow-origin') !== '*') assert.fail(`${path} answers with CORS headers`);
}

function errorCodeOf(response: HttpResponse): string | undefined {
  if (response.body.length === 0) return undefined;
  const parsed: unknown = JSON.parse(Buffer.from(response.body).toString('utf8'));
  return isJsonObject(parsed) && isJsonObject(parsed.error) && typeof parsed.error.code === 'string' ? parsed.error.code : undefined;
}

// ---- the session ----

export const brokerHttpTarget: FuzzTarget<BrokerHttpInput> = {
  name: 'broker-http',
  description:
    'the broker HTTP routes on 127.0.0.1 fed fuzzed requests (keep-alive) and raw bytes: well-formed 2xx/4xx (or documented 503/504) exactly as modelled',
  input,
  async start() {
    // Rate limits off: a million requests from one address would otherwise all get 429 (their own tests cover them).
    const network = await TestNetwork.start({ maxOffersPerAddressPerMinute: 10_000_000, maxBodiesReadingPerAddress: 10_000 });
    const port = Number(new URL(network.baseUrl).port);
    const volunteer = await AnsweringVolunteer.connect(network.volunteerUrl);
    let connection: RawHttpConnection | undefined;

    async function keptAliveConnection(): Promise<RawHttpConnection> {
      if (connection && !connection.ended && performance.now() - connection.lastUsedAt < MAX_IDLE_REUSE_MS) return connection;
      connection?.destroy();
      connection = await RawHttpConnection.open(port);
      return connection;
    }

    async function checkRequest(spec: HttpRequestSpec): Promise<void> {
      const expected = predict(spec);
      const current = await keptAliveConnection();
      current.send(serialize(spec));
      const response = await current.readResponse(spec.method);
      assert.ok(response, `the broker closed the connection without answering ${spec.method} ${spec.target}`);
      if (response.closes) {
        current.destroy();
        connection = undefined;
      }
      const path = pathOfTarget(spec.target);
      checkWellFormed(response, path, spec.method);
      const allowed = [expected.status, ...(expected.alternatives ?? [])];
      assert.ok(allowed.includes(response.status), `${spec.method} ${spec.target}: status ${response.status}, the model says ${allowed.join(' or ')}`);
      if (response.status === expected.status && expected.code !== undefined && spec.method !== 'HEAD') {
        assert.equal(errorCodeOf(response), expected.code, `${spec.method} ${spec.target}: error code`);
      }
    }

    async function checkRaw(bytes: Uint8Array): Promise<void> {
      const own = await RawHttpConnection.open(port);
      // A HEAD response has a Content-Length but no body; the raw bytes' first request says whether to expect one.
      const method = Buffer.from(bytes.subarray(0, 5)).toString('latin1') === 'HEAD ' ? 'HEAD' : 'GET';
      try {
        own.send(bytes);
        own.end();
        for (let responses = 0; ; responses += 1) {
          assert.ok(responses < 16, 'at most one response per request in the bytes');
          const response = await own.readResponse(method);
          if (response === undefined) return;
          // Which request the server made of the bytes is unknown; every answer must still be well-formed.
          checkWellFormed(response, '', 'GET');
          if (response.status === 101) return;
        }
      } finally {
        own.destroy();
      }
    }

    return {
      check: (httpInput) => (httpInput.kind === 'request' ? checkRequest(httpInput.request) : checkRaw(httpInput.bytes)),
      checkStillServing: async () => {
        assert.ok(volunteer.connected, 'the answering volunteer is still connected');
        assert.deepEqual(volunteer.surprises, [], 'the answering volunteer got only welcome and offers');
        const answered = volunteer.offersAnswered;
        const offer = { offer: { type: 'offer', sdp: sampleOfferSdp() }, exitId: TEST_EXIT.id, nat: 'unknown' };
        const reply = await network.postClient(JSON.stringify(offer));
        assert.equal(reply.status, 200, `a valid offer after the fuzzing gets an answer (got ${reply.status})`);
        assert.equal(volunteer.offersAnswered, answered + 1);
        assert.equal((await network.get('/v1/exits')).status, 200);
      },
      close: async () => {
        connection?.destroy();
        await volunteer.close();
        await network.close();
      },
      toleratedBugs: new Map(),
    };
  },
};
