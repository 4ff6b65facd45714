import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withTimeout } from '../../../harness/wait.ts';
import type { TestVolunteer } from './helpers.ts';
import { errorCodeOf, TestNetwork, WAIT_MS } from './helpers.ts';

async function expectRefusal(volunteer: TestVolunteer, errorCode: string, closeCode: number): Promise<void> {
  const message = await volunteer.nextMessage();
  assert.equal(message.type, 'error');
  assert.equal(message.type === 'error' && message.code, errorCode);
  assert.equal((await volunteer.closedBy()).code, closeCode);
}

test('garbage text: error BAD_MESSAGE, closed with 1008', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const volunteer = await network.volunteer(null);
  volunteer.send('}{ not json');
  await expectRefusal(volunteer, 'BAD_MESSAGE', 1008);
});

test('a wrong shape after hello: error naming the field, closed with 1008, volunteer removed', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 3 });
  volunteer.send({ type: 'slots', slots: 'many' });
  const message = await volunteer.nextMessage();
  assert.equal(message.type, 'error');
  assert.match(message.type === 'error' ? message.message : '', /"slots"/);
  assert.equal((await volunteer.closedBy()).code, 1008);
  assert.equal(errorCodeOf(await network.postClient()), 'NO_VOLUNTEERS');
  assert.equal((await network.broker.metrics()).volunteersConnected, 0);
});

test('a message before hello: error HELLO_FIRST, closed with 1008', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const volunteer = await network.volunteer(null);
  volunteer.send({ type: 'slots', slots: 2 });
  await expectRefusal(volunteer, 'HELLO_FIRST', 1008);
});

test('a second hello: error ALREADY_HELLO, closed with 1008', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const volunteer = await network.volunteer({});
  volunteer.send({ type: 'hello', version: 1, kind: 'tab', nat: 'unknown', slots: 1 });
  await expectRefusal(volunteer, 'ALREADY_HELLO', 1008);
});

test('a hello with an unsupported version is refused', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const volunteer = await network.volunteer(null);
  volunteer.send({ type: 'hello', version: 2, kind: 'tab', nat: 'unknown', slots: 1 });
  await expectRefusal(volunteer, 'BAD_MESSAGE', 1008);
});

test('binary data: error BINARY_NOT_ALLOWED, closed with 1008', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const volunteer = await network.volunteer({});
  volunteer.socket.send(new Uint8Array([1, 2, 3]));
  await expectRefusal(volunteer, 'BINARY_NOT_ALLOWED', 1008);
});

test('an oversize message: closed with 1009 and the broker keeps serving', async (t) => {
  const network = await TestNetwork.start({ maxBodyBytes: 4_096 });
  t.after(() => network.close());
  const volunteer = await network.volunteer({});
  volunteer.send(JSON.stringify({ type: 'slots', slots: 1, padding: 'x'.repeat(8_192) }));
  assert.equal((await volunteer.closedBy()).code, 1009);
  const next = await network.volunteer({});
  const reply = network.postClient();
  const offer = await next.nextOffer();
  next.answer(offer.matchId);
  assert.equal((await reply).status, 200);
  assert.ok((await network.broker.metrics()).volunteerProtocolErrorsTotal >= 1);
});

test('a volunteer that never says hello is closed after volunteerHelloTimeoutMs', async (t) => {
  const network = await TestNetwork.start({ volunteerHelloTimeoutMs: 150 });
  t.after(() => network.close());
  const volunteer = await network.volunteer(null);
  await expectRefusal(volunteer, 'HELLO_TIMEOUT', 1008);
});

test('a volunteer that stops answering pings is cut off and removed', async (t) => {
  const network = await TestNetwork.start({ volunteerHeartbeatMs: 300 });
  t.after(() => network.close());
  const silent = await network.volunteer({}, { autoPong: false });
  const lively = await network.volunteer({ slots: 0 });
  const closed = await silent.closedBy();
  assert.equal(closed.code, 1006, 'terminated without a close frame');
  assert.equal(lively.socket.readyState, lively.socket.OPEN, 'a volunteer answering pings stays');
  assert.equal((await network.broker.metrics()).volunteersConnected, 1);
});

test('maxVolunteers: the socket over the cap is refused with 503', async (t) => {
  const network = await TestNetwork.start({ maxVolunteers: 1 });
  t.after(() => network.close());
  await network.volunteer({});
  const { WebSocket } = await import('ws');
  const extra = new WebSocket(network.volunteerUrl);
  const status = await withTimeout(
    new Promise<number>((resolve) => {
      extra.on('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        extra.terminate();
      });
      extra.on('error', () => {});
    }),
    'the upgrade response',
    WAIT_MS,
  );
  assert.equal(status, 503);
});
