import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { withTimeout } from '../../../harness/wait.ts';
import { errorCodeOf, errorMessageOf, offerBody, sampleOfferSdp, TEST_EXIT, TEST_EXIT_LIST, TestNetwork, WAIT_MS } from './helpers.ts';

/** Everything the broker writes on `socket` until it closes the connection. */
function everythingUntilClose(socket: Socket): Promise<string> {
  return new Promise<string>((resolve) => {
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('close', () => resolve(received));
  });
}

test('bad JSON: 400 BAD_REQUEST saying so', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const reply = await network.postClient('{"offer": {"type": "offer", "sdp": "v=0');
  assert.equal(reply.status, 400);
  assert.equal(errorCodeOf(reply), 'BAD_REQUEST');
  assert.match(errorMessageOf(reply), /not valid JSON/);
});

test('wrong types: 400 naming the field', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const cases: Array<[unknown, RegExp]> = [
    [{ offer: { type: 'offer', sdp: sampleOfferSdp() }, exitId: 42, nat: 'unknown' }, /"exitId"/],
    [{ offer: 'v=0', exitId: TEST_EXIT.id }, /"offer"/],
    [{ offer: { type: 'answer', sdp: sampleOfferSdp() }, exitId: TEST_EXIT.id }, /"offer\.type"/],
    [{ offer: { type: 'offer', sdp: 'hello' }, exitId: TEST_EXIT.id }, /"offer\.sdp"/],
    [{ offer: { type: 'offer', sdp: sampleOfferSdp() }, exitId: TEST_EXIT.id, nat: 'cone' }, /"nat"/],
    [[1, 2, 3], /JSON object/],
  ];
  for (const [body, field] of cases) {
    const reply = await network.postClient(JSON.stringify(body));
    assert.equal(reply.status, 400, JSON.stringify(body));
    assert.equal(errorCodeOf(reply), 'BAD_REQUEST');
    assert.match(errorMessageOf(reply), field);
  }
});

test('a body that is not UTF-8: 400', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const reply = await network.postClient(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
  assert.equal(reply.status, 400);
  assert.match(errorMessageOf(reply), /UTF-8/);
});

test('unknown exit: 400 UNKNOWN_EXIT', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const reply = await network.postClient(offerBody({ exitId: 'exit-nowhere' }));
  assert.equal(reply.status, 400);
  assert.equal(errorCodeOf(reply), 'UNKNOWN_EXIT');
  assert.match(errorMessageOf(reply), /exit-nowhere/);
});

test('a 10 MiB body gets 413 and the broker still serves the next request', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const huge = await network.postClient(new Uint8Array(10 * 1024 * 1024).fill(0x20));
  assert.equal(huge.status, 413);
  assert.equal(errorCodeOf(huge), 'BODY_TOO_LARGE');
  assert.equal(huge.headers.get('access-control-allow-origin'), '*');

  const volunteer = await network.volunteer();
  const reply = network.postClient();
  const offer = await volunteer.nextOffer();
  volunteer.answer(offer.matchId);
  assert.equal((await reply).status, 200);
});

test('a huge chunked body (no Content-Length) is cut off at the cap with 413', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const chunkBytes = 64 * 1024;
  const maxChunks = 160; // 10 MiB
  let chunksSent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (chunksSent === maxChunks) {
        controller.close();
        return;
      }
      chunksSent += 1;
      controller.enqueue(new Uint8Array(chunkBytes).fill(0x20));
    },
  });
  const response = await fetch(`${network.baseUrl}/v1/client`, {
    method: 'POST',
    body,
    duplex: 'half',
    signal: AbortSignal.timeout(WAIT_MS),
  } as RequestInit);
  assert.equal(response.status, 413);
  await response.body?.cancel();
  assert.equal((await network.get('/v1/exits')).status, 200);
});

test('a body that stops arriving gets 408 after bodyReadTimeoutMs (slow-loris)', async (t) => {
  const network = await TestNetwork.start({ bodyReadTimeoutMs: 200 });
  t.after(() => network.close());
  const { port } = new URL(network.baseUrl);
  const socket = connect(Number(port), '127.0.0.1');
  t.after(() => socket.destroy());
  socket.write('POST /v1/client HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"offer":');
  const text = await withTimeout(everythingUntilClose(socket), 'a response to a stalled body, and the close', WAIT_MS);
  assert.match(text, /^HTTP\/1\.1 408 /);
  assert.match(text, /did not arrive within 200 ms/);
});

test('headers that never finish get 408 after requestHeadersTimeoutMs (slow-loris)', async (t) => {
  const network = await TestNetwork.start({ requestHeadersTimeoutMs: 300 });
  t.after(() => network.close());
  const { port } = new URL(network.baseUrl);
  const socket = connect(Number(port), '127.0.0.1');
  t.after(() => socket.destroy());
  socket.write('POST /v1/client HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
  const text = await withTimeout(everythingUntilClose(socket), 'the broker to close a request with unfinished headers', WAIT_MS);
  assert.match(text, /^HTTP\/1\.1 408 /);
});

test('too many clients at once: 503 for the one over maxPendingClients', async (t) => {
  const network = await TestNetwork.start({ maxPendingClients: 1, clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const volunteer = await network.volunteer();
  const waiting = network.postClient();
  const offer = await volunteer.nextOffer();
  const refused = await network.postClient();
  assert.equal(refused.status, 503);
  assert.match(errorMessageOf(refused), /busy/);
  volunteer.answer(offer.matchId);
  assert.equal((await waiting).status, 200);
});

test('GET /v1/exits serves the signed exit list as it is, with CORS; without one, 503 NO_EXIT_LIST', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const response = await network.get('/v1/exits');
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('access-control-allow-origin'), '*');
  assert.deepEqual(await response.json(), TEST_EXIT_LIST);

  const bare = await TestNetwork.start({ exitList: undefined });
  t.after(() => bare.close());
  const none = await bare.get('/v1/exits');
  assert.equal(none.status, 503);
  assert.equal(none.headers.get('retry-after'), '60');
  assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'NO_EXIT_LIST');
});

test('CORS preflight on /v1/client and /v1/exits', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  for (const path of ['/v1/client', '/v1/exits']) {
    const response = await network.get(path, {
      method: 'OPTIONS',
      headers: { Origin: 'chrome-extension://abcdefghijklmnop', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(response.headers.get('access-control-allow-headers') ?? '', /Content-Type/i);
  }
});

test('unknown path: 404; wrong method: 405 with Allow', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const missing = await network.get('/v2/anything');
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');

  const wrongMethod = await network.get('/v1/client');
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'POST, OPTIONS');
  assert.equal(((await wrongMethod.json()) as { error: { code: string } }).error.code, 'METHOD_NOT_ALLOWED');

  const postExits = await network.get('/v1/exits', { method: 'POST', body: '{}' });
  assert.equal(postExits.status, 405);
  await postExits.body?.cancel();
});

test('a WebSocket upgrade on any path but /v1/volunteer is refused', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const { WebSocket } = await import('ws');
  const socket = new WebSocket(`${network.volunteerUrl.replace('/v1/volunteer', '/v1/other')}`);
  const status = await withTimeout(
    new Promise<number>((resolve) => {
      socket.on('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        socket.terminate();
      });
      socket.on('error', () => {});
    }),
    'the upgrade response',
    WAIT_MS,
  );
  assert.equal(status, 404);
});
