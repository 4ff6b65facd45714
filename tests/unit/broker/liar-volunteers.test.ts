// Issue 10, item 1: a volunteer that lies. A volunteer that announces 32 free slots and never answers used to be
// picked first for every client and hold each one until its whole deadline, while an honest volunteer sat free.
// These tests run a real broker on 127.0.0.1 with real volunteer sockets and real HTTP clients, and show the honest
// parties served while liars are connected: each volunteer gets one short turn (volunteerAnswerTimeoutMs), the
// ranking follows what volunteers did rather than what they announced, and a volunteer that keeps failing is benched
// after a bounded number of offers. Timeouts are small so the file runs in a few seconds; assertions are about who
// got what, not about how long it took.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import type { BrokerConfig } from '../../../signaling-server/config.ts';
import type { ClientReply, TestVolunteer, TestVolunteerOptions } from './helpers.ts';
import { errorCodeOf, offerBody, sampleAnswerSdp, TestNetwork, WAIT_MS } from './helpers.ts';

/** Short turns: a liar costs a client 200 ms, and the client's 1.5 s wait fits several fallbacks. */
const QUICK: Partial<BrokerConfig> = { clientAnswerTimeoutMs: 1_500, volunteerAnswerTimeoutMs: 200, maxConsecutiveAnswerFailures: 3 };

/** A volunteer that answers every offer at once with an SDP tagged `tag` (from its welcome on: an offer may follow it at once). */
async function honestVolunteer(network: TestNetwork, tag: string, slots = 8, options: TestVolunteerOptions = {}): Promise<TestVolunteer> {
  const volunteer = await network.volunteer(null, options);
  volunteer.onEveryOffer((offer) => volunteer.answer(offer.matchId, sampleAnswerSdp(tag)));
  await volunteer.hello({ slots });
  return volunteer;
}

/** A volunteer that claims the most slots allowed and never answers; it only counts the offers it collects. */
async function liarVolunteer(network: TestNetwork, options: TestVolunteerOptions = {}): Promise<TestVolunteer> {
  const volunteer = await network.volunteer(null, options);
  volunteer.onEveryOffer(() => {});
  await volunteer.hello({ slots: 32 });
  return volunteer;
}

function answerSdpOf(reply: ClientReply): string | undefined {
  const body = reply.body as { answer?: { sdp?: unknown } } | undefined;
  return typeof body?.answer?.sdp === 'string' ? body.answer.sdp : undefined;
}

/** Expects the broker to bench `volunteer`: an `error` BENCHED that says what to fix, then close 1008. */
async function expectBenched(volunteer: TestVolunteer, timeoutMs: number): Promise<void> {
  const notice = await volunteer.nextMessage();
  assert.equal(notice.type === 'error' && notice.code, 'BENCHED');
  assert.match(notice.type === 'error' ? notice.message : '', new RegExp(`not answered within ${timeoutMs} ms`));
  const closed = await volunteer.closedBy();
  assert.equal(closed.code, 1008);
  assert.equal(closed.reason, 'BENCHED');
}

test('a liar announcing 32 slots that never answers: clients in a row all get the honest answer', async (t) => {
  const network = await TestNetwork.start(QUICK);
  t.after(() => network.close());
  // The liar says hello first, so on equal footing it is the first pick: the worst case for the clients.
  const liar = await liarVolunteer(network);
  await honestVolunteer(network, 'hnst', 8);

  for (let client = 0; client < 6; client++) {
    const reply = await network.postClient();
    assert.equal(reply.status, 200, `client ${client}: ${JSON.stringify(reply.body)}`);
    assert.equal(answerSdpOf(reply), sampleAnswerSdp('hnst'));
  }
  // One timeout moved the liar far below the honest volunteer; it never got a second client.
  assert.ok(liar.offersReceived <= 1, `the liar saw ${liar.offersReceived} offers`);
  const metrics = await network.broker.metrics();
  assert.equal(metrics.matchesTotal, 6);
  assert.equal(metrics.timeoutsTotal, 0, 'no client got 504');
  assert.equal(metrics.volunteerAnswerTimeoutsTotal, liar.offersReceived);
  assert.equal(metrics.offerFallbacksTotal, liar.offersReceived);
});

test('four clients at once with a liar connected: all four are matched (the issue saw 4 of 4 get 504)', async (t) => {
  // Each volunteer may hold four offers, so the liar can take several clients at once, as in the report.
  const network = await TestNetwork.start({ ...QUICK, maxOffersPerVolunteerPending: 4 });
  t.after(() => network.close());
  const liar = await liarVolunteer(network);
  await honestVolunteer(network, 'hnst', 8);

  const replies = await Promise.all([0, 1, 2, 3].map(() => network.postClient()));
  assert.deepEqual(
    replies.map((reply) => reply.status),
    [200, 200, 200, 200],
  );
  for (const reply of replies) assert.equal(answerSdpOf(reply), sampleAnswerSdp('hnst'));
  assert.ok(liar.offersReceived >= 1, 'the liar was tried, and the clients it held moved on');
  assert.equal((await network.broker.metrics()).volunteerAnswerTimeoutsTotal, liar.offersReceived);
});

test('a liar is benched after maxConsecutiveAnswerFailures timeouts and sees no offer after that', async (t) => {
  const network = await TestNetwork.start({ ...QUICK, clientAnswerTimeoutMs: 600, benchedAddressCooldownMs: 0 });
  t.after(() => network.close());
  const liar = await liarVolunteer(network);

  // Alone, the liar is every client's only choice: each waits out its deadline (504), and the liar gets its three turns.
  for (let client = 0; client < 3; client++) assert.equal(errorCodeOf(await network.postClient()), 'TIMED_OUT');
  await expectBenched(liar, 200);

  assert.equal(errorCodeOf(await network.postClient()), 'NO_VOLUNTEERS', 'a benched volunteer is not offered anyone');
  assert.equal(liar.offersReceived, 3, 'three offers, then nothing: the SDP a liar collects is bounded');
  const metrics = await network.broker.metrics();
  assert.equal(metrics.volunteersBenchedTotal, 1);
  assert.equal(metrics.volunteerAnswerTimeoutsTotal, 3);
  assert.equal(metrics.volunteersConnected, 0);

  // Honest volunteers are unaffected (the cooldown is off here; it has its own test).
  await honestVolunteer(network, 'hnst');
  assert.equal(answerSdpOf(await network.postClient()), sampleAnswerSdp('hnst'));
});

test('a volunteer that declines every offer is benched the same way', async (t) => {
  const network = await TestNetwork.start({ ...QUICK, benchedAddressCooldownMs: 0 });
  t.after(() => network.close());
  const decliner = await network.volunteer({ slots: 32 });
  decliner.onEveryOffer((offer) => decliner.decline(offer.matchId, 'no'));

  // It is the only volunteer and says no at once: each client hears NO_VOLUNTEERS without waiting.
  for (let client = 0; client < 3; client++) assert.equal(errorCodeOf(await network.postClient()), 'NO_VOLUNTEERS');
  await expectBenched(decliner, 200);
  assert.equal(errorCodeOf(await network.postClient()), 'NO_VOLUNTEERS');
  assert.equal(decliner.offersReceived, 3);
  const metrics = await network.broker.metrics();
  assert.equal(metrics.declinesTotal, 3);
  assert.equal(metrics.volunteersBenchedTotal, 1);
});

test('an answer clears the failures: only failures in a row bench a volunteer', async (t) => {
  const network = await TestNetwork.start({ ...QUICK, benchedAddressCooldownMs: 0 });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 32 });
  const script: Array<'decline' | 'answer'> = ['decline', 'decline', 'answer', 'decline', 'decline', 'answer'];
  volunteer.onEveryOffer((offer) => {
    if (script.shift() === 'answer') volunteer.answer(offer.matchId);
    else volunteer.decline(offer.matchId);
  });
  const statuses: number[] = [];
  for (let client = 0; client < 6; client++) statuses.push((await network.postClient()).status);
  assert.deepEqual(statuses, [503, 503, 200, 503, 503, 200]);
  assert.equal(volunteer.socket.readyState, WebSocket.OPEN);
  assert.equal((await network.broker.metrics()).volunteersBenchedTotal, 0);
});

test('a late answer after the volunteer timeout never reaches the client; the next volunteer answers', async (t) => {
  const network = await TestNetwork.start(QUICK);
  t.after(() => network.close());
  // An unrestricted client is offered to restricted volunteers first: `slow` is asked before `honest`.
  const slow = await network.volunteer({ nat: 'restricted', slots: 1 });
  const honest = await network.volunteer({ nat: 'unknown', slots: 1 });
  const reply = network.postClient(offerBody({ nat: 'unrestricted' }));

  const slowOffer = await slow.nextOffer();
  // The offer reaches `honest` only once `slow` has had its turn.
  const honestOffer = await honest.nextOffer();
  assert.notEqual(honestOffer.matchId, slowOffer.matchId);
  slow.answer(slowOffer.matchId, sampleAnswerSdp('late'));
  const notice = await slow.nextMessage();
  assert.equal(notice.type === 'error' && notice.code, 'MATCH_EXPIRED', 'the late answer is refused');
  honest.answer(honestOffer.matchId, sampleAnswerSdp('hnst'));

  const { status, body } = await reply;
  assert.equal(status, 200);
  const { volunteer, ...answered } = body as { matchId: string; answer: unknown; volunteer: string };
  assert.deepEqual(answered, { matchId: honestOffer.matchId, answer: { type: 'answer', sdp: sampleAnswerSdp('hnst') } });
  assert.ok(volunteer.length > 0, 'the answer names the honest volunteer');
  assert.equal(slow.socket.readyState, WebSocket.OPEN, 'one slow answer is not a protocol error');
});

test('a late answer while the client still waits is dropped too: the client gets 504, not that answer', async (t) => {
  const network = await TestNetwork.start(QUICK);
  t.after(() => network.close());
  const slow = await network.volunteer({ slots: 1 });
  let settled = false;
  const reply = network.postClient().finally(() => {
    settled = true;
  });
  const offer = await slow.nextOffer();
  await waitFor(async () => (await network.broker.metrics()).volunteerAnswerTimeoutsTotal === 1, 'the volunteer turn to end', { timeoutMs: WAIT_MS });
  assert.equal(settled, false, 'the client is still waiting for another volunteer');
  slow.answer(offer.matchId, sampleAnswerSdp('late'));
  const notice = await slow.nextMessage();
  assert.equal(notice.type === 'error' && notice.code, 'MATCH_EXPIRED');
  const result = await reply;
  assert.equal(result.status, 504);
  assert.equal(errorCodeOf(result), 'TIMED_OUT');
  assert.equal(answerSdpOf(result), undefined);
});

test('only liars connected: the client gets 504 TIMED_OUT at its deadline, each liar tried once', async (t) => {
  const clientAnswerTimeoutMs = 800;
  const network = await TestNetwork.start({ ...QUICK, clientAnswerTimeoutMs });
  t.after(() => network.close());
  const liars = [await liarVolunteer(network), await liarVolunteer(network)];
  const started = Date.now();
  const reply = await network.postClient();
  const waitedMs = Date.now() - started;
  assert.equal(reply.status, 504);
  assert.equal(errorCodeOf(reply), 'TIMED_OUT');
  assert.match((reply.body as { error: { message: string } }).error.message, /no volunteer answered within 800 ms/);
  // Once both liars had their turn the client kept waiting for someone to free up, until its deadline (timers may
  // fire a few ms early against Date.now(); the bound only shows the broker did not give up after the liars).
  assert.ok(waitedMs >= clientAnswerTimeoutMs - 50, `the client waited ${waitedMs} ms`);
  assert.deepEqual(
    liars.map((liar) => liar.offersReceived),
    [1, 1],
  );
  const metrics = await network.broker.metrics();
  assert.equal(metrics.volunteerAnswerTimeoutsTotal, 2);
  assert.equal(metrics.offerFallbacksTotal, 1);
  assert.equal(metrics.timeoutsTotal, 1);
});

test('a volunteer freeing up while a client waits after a timeout serves that client', async (t) => {
  const network = await TestNetwork.start(QUICK);
  t.after(() => network.close());
  await liarVolunteer(network);
  let settled = false;
  const reply = network.postClient().finally(() => {
    settled = true;
  });
  await waitFor(async () => (await network.broker.metrics()).volunteerAnswerTimeoutsTotal === 1, 'the liar turn to end', { timeoutMs: WAIT_MS });
  assert.equal(settled, false);
  // An honest volunteer arrives while the client waits: its hello wakes the search.
  await honestVolunteer(network, 'late');
  const result = await reply;
  assert.equal(result.status, 200);
  assert.equal(answerSdpOf(result), sampleAnswerSdp('late'));
});

test('a newcomer is tried at once and then shares clients with a proven volunteer', async (t) => {
  // Default turns (2 s): even a slow loopback answer counts as quick, so both volunteers keep the top score.
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const proven = await honestVolunteer(network, 'prvn', 32);
  for (let client = 0; client < 4; client++) assert.equal(answerSdpOf(await network.postClient()), sampleAnswerSdp('prvn'));

  const newcomer = await honestVolunteer(network, 'newc', 32);
  assert.equal(answerSdpOf(await network.postClient()), sampleAnswerSdp('newc'), 'the newcomer gets the very next client');
  const answers: Array<string | undefined> = [];
  for (let client = 0; client < 4; client++) answers.push(answerSdpOf(await network.postClient()));
  assert.ok(answers.includes(sampleAnswerSdp('prvn')) && answers.includes(sampleAnswerSdp('newc')), 'clients spread over both');
  assert.equal(proven.offersReceived + newcomer.offersReceived, 9);
});

test('a benched volunteer cannot come straight back: its address waits out benchedAddressCooldownMs (429)', async (t) => {
  const network = await TestNetwork.start({ ...QUICK, clientAnswerTimeoutMs: 600, maxConsecutiveAnswerFailures: 1, benchedAddressCooldownMs: 60_000 });
  t.after(() => network.close());
  const liar = await liarVolunteer(network, { localAddress: '127.0.0.2' });
  assert.equal(errorCodeOf(await network.postClient()), 'TIMED_OUT');
  await expectBenched(liar, 200);

  const upgradeStatus = (localAddress: string): Promise<{ status: number; retryAfter: string | undefined }> => {
    const socket = new WebSocket(network.volunteerUrl, { localAddress });
    t.after(() => socket.terminate());
    return withTimeout(
      new Promise((resolve) => {
        socket.once('open', () => resolve({ status: 101, retryAfter: undefined }));
        socket.once('unexpected-response', (_request, response) => {
          const retryAfter = response.headers['retry-after'];
          resolve({ status: response.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined });
        });
        socket.once('error', () => {});
      }),
      `a volunteer socket from ${localAddress}`,
      WAIT_MS,
    );
  };
  const again = await upgradeStatus('127.0.0.2');
  assert.equal(again.status, 429);
  assert.ok(Number(again.retryAfter) > 0 && Number(again.retryAfter) <= 60, `Retry-After ${again.retryAfter}`);
  assert.equal((await upgradeStatus('127.0.0.1')).status, 101, 'other addresses connect as before');

  await honestVolunteer(network, 'hnst');
  assert.equal(answerSdpOf(await network.postClient()), sampleAnswerSdp('hnst'));
});
