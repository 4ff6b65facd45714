import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../../harness/wait.ts';
import { errorCodeOf, offerBody, sampleAnswerSdp, sampleOfferSdp, TEST_EXIT, TEST_EXIT_LIST, TestNetwork } from './helpers.ts';

test('a volunteer gets the offer and the exit, and the client gets its answer', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 2 });
  const clientSdp = sampleOfferSdp('clnt');
  const reply = network.postClient(offerBody({ sdp: clientSdp }));
  const offer = await volunteer.nextOffer();
  assert.equal(offer.offer.sdp, clientSdp);
  assert.deepEqual(offer.exit, TEST_EXIT);
  volunteer.answer(offer.matchId, sampleAnswerSdp('vol1'));
  const { status, body } = await reply;
  assert.equal(status, 200);
  const reply2 = body as { matchId: string; answer: unknown; volunteer: string };
  assert.deepEqual({ matchId: reply2.matchId, answer: reply2.answer }, { matchId: offer.matchId, answer: { type: 'answer', sdp: sampleAnswerSdp('vol1') } });
  assert.match(reply2.volunteer, /^[0-9a-f-]{36}$/, 'the answer names its volunteer, for a later "avoid"');
});

test('a second path: a client that avoids the volunteer carrying its session gets another one, never the same', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const first = await network.volunteer({ slots: 2 });
  const firstReply = network.postClient();
  const firstOffer = await first.nextOffer();
  first.answer(firstOffer.matchId, sampleAnswerSdp('vol1'));
  const carrying = ((await firstReply).body as { volunteer: string }).volunteer;

  // Only the carrying volunteer has room: avoiding it leaves nobody, and it is never offered the client again.
  const alone = await network.postClient(offerBody({ avoid: [carrying] }));
  assert.equal(errorCodeOf(alone), 'NO_VOLUNTEERS');

  const second = await network.volunteer({ slots: 2 });
  const secondReply = network.postClient(offerBody({ avoid: [carrying] }));
  const secondOffer = await second.nextOffer();
  second.answer(secondOffer.matchId, sampleAnswerSdp('vol2'));
  const standby = ((await secondReply).body as { volunteer: string }).volunteer;
  assert.notEqual(standby, carrying);
});

test('"avoid" is bounded and checked: a list of at most 3 volunteer names', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  await network.volunteer({ slots: 2 });
  for (const avoid of [['a', 'b', 'c', 'd'], 'a', [''], [7], ['x'.repeat(65)]]) {
    const reply = await network.postClient(offerBody({ avoid }));
    assert.equal(reply.status, 400, JSON.stringify(avoid));
    assert.equal(errorCodeOf(reply), 'BAD_REQUEST');
  }
});

test('the welcome carries the signed exit list as it is, and a volunteer id', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const volunteer = await network.volunteer(null);
  volunteer.send({ type: 'hello', version: 1, kind: 'extension', nat: 'unknown', slots: 1 });
  const welcome = await volunteer.nextMessage();
  assert.equal(welcome.type, 'welcome');
  if (welcome.type !== 'welcome') return;
  assert.deepEqual(welcome.exitList, TEST_EXIT_LIST);
  assert.ok(welcome.volunteerId.length > 0);
});

test('no volunteers: 503 NO_VOLUNTEERS at once, long before the answer timeout', async (t) => {
  // With a 60 s answer timeout, only an immediate 503 fits in the harness's 10 s fetch limit.
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const reply = await network.postClient();
  assert.equal(reply.status, 503);
  assert.equal(errorCodeOf(reply), 'NO_VOLUNTEERS');
  assert.equal(reply.headers.get('retry-after'), '2');
  assert.equal(reply.headers.get('access-control-allow-origin'), '*');
});

test('a volunteer with 0 slots is not offered anyone', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  await network.volunteer({ slots: 0 });
  const reply = await network.postClient();
  assert.equal(errorCodeOf(reply), 'NO_VOLUNTEERS');
});

test('a volunteer that never answers: 504 TIMED_OUT, and its late answer is dropped with MATCH_EXPIRED', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 300, volunteerAnswerTimeoutMs: 200 });
  t.after(() => network.close());
  const volunteer = await network.volunteer();
  const reply = network.postClient();
  const offer = await volunteer.nextOffer();
  const { status, body } = await reply;
  assert.equal(status, 504);
  assert.equal((body as { error: { code: string } }).error.code, 'TIMED_OUT');

  volunteer.answer(offer.matchId);
  const notice = await volunteer.nextMessage();
  assert.equal(notice.type, 'error');
  assert.equal(notice.type === 'error' && notice.code, 'MATCH_EXPIRED');
  assert.equal(volunteer.socket.readyState, volunteer.socket.OPEN, 'a late answer is not a protocol error');

  // The reservation was given back: the same volunteer serves the next client.
  const secondReply = network.postClient();
  const secondOffer = await volunteer.nextOffer();
  volunteer.answer(secondOffer.matchId);
  assert.equal((await secondReply).status, 200);
});

test('a decline moves the client on to the next volunteer', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  // For an unrestricted client the restricted volunteer is offered first (see store rules).
  const first = await network.volunteer({ nat: 'restricted' });
  const second = await network.volunteer({ nat: 'unrestricted' });
  const reply = network.postClient(offerBody({ nat: 'unrestricted' }));
  const firstOffer = await first.nextOffer();
  first.send({ type: 'decline', matchId: firstOffer.matchId, reason: 'busy' });
  const secondOffer = await second.nextOffer();
  assert.notEqual(secondOffer.matchId, firstOffer.matchId);
  second.answer(secondOffer.matchId, sampleAnswerSdp('sec2'));
  const { status, body } = await reply;
  assert.equal(status, 200);
  assert.equal((body as { answer: { sdp: string } }).answer.sdp, sampleAnswerSdp('sec2'));
  assert.equal((await network.broker.metrics()).declinesTotal, 1);
});

test('when every volunteer declines, the client gets 503 without waiting for the timeout', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const only = await network.volunteer();
  const reply = network.postClient();
  const offer = await only.nextOffer();
  only.send({ type: 'decline', matchId: offer.matchId, reason: 'at capacity' });
  const result = await reply;
  assert.equal(result.status, 503);
  assert.equal(errorCodeOf(result), 'NO_VOLUNTEERS');
});

test('a volunteer that disconnects mid-match fails over to another volunteer', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const vanishing = await network.volunteer({ nat: 'restricted' });
  const staying = await network.volunteer({ nat: 'unknown' });
  const reply = network.postClient(offerBody({ nat: 'unrestricted' }));
  await vanishing.nextOffer();
  vanishing.socket.terminate();
  const offer = await staying.nextOffer();
  staying.answer(offer.matchId);
  assert.equal((await reply).status, 200);
  assert.equal((await network.broker.metrics()).volunteersConnected, 1);
});

test('the only volunteer disconnecting mid-match gives 503 at once', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const vanishing = await network.volunteer();
  const reply = network.postClient();
  await vanishing.nextOffer();
  vanishing.socket.close();
  const result = await reply;
  assert.equal(result.status, 503);
  assert.equal(errorCodeOf(result), 'NO_VOLUNTEERS');
});

test('an answer uses up a slot: the next client waits until the volunteer announces a free slot, then gets it', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 1 });
  const reply = network.postClient();
  const offer = await volunteer.nextOffer();
  volunteer.answer(offer.matchId);
  assert.equal((await reply).status, 200);

  // Its one slot serves that client: the next client is not refused (503) but waits for the slot to come back.
  const nextReply = network.postClient();
  await waitFor(async () => (await network.broker.metrics()).clientsWaiting === 1, 'the next client to queue', { timeoutMs: 5_000 });
  assert.equal(volunteer.pending.length, 0, 'no offer while its slot is taken');
  volunteer.send({ type: 'slots', slots: 1 }); // that client left
  const nextOffer = await volunteer.nextOffer();
  volunteer.answer(nextOffer.matchId);
  assert.equal((await nextReply).status, 200);
});

test('a client waiting for a volunteer whose slots all serve others gets 504 at its deadline, saying none answered', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 600, volunteerAnswerTimeoutMs: 300 });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 1 });
  const reply = network.postClient();
  volunteer.answer((await volunteer.nextOffer()).matchId);
  assert.equal((await reply).status, 200);
  const refused = await network.postClient();
  assert.equal(refused.status, 504);
  assert.equal(errorCodeOf(refused), 'TIMED_OUT');
  assert.equal(volunteer.pending.length, 0);
});

test('a volunteer holds one offer at a time; a second client waits its turn and goes to the next volunteer free', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const busy = await network.volunteer({ slots: 5, nat: 'unrestricted' });
  const firstReply = network.postClient();
  const firstOffer = await busy.nextOffer();
  // While `busy` holds that offer, a second client may not be offered to it: it waits in the queue (not 503).
  const secondReply = network.postClient();
  await waitFor(async () => (await network.broker.metrics()).clientsWaiting === 1, 'the second client to queue', { timeoutMs: 5_000 });
  const other = await network.volunteer({ slots: 1, nat: 'unrestricted' });
  const secondOffer = await other.nextOffer();
  other.answer(secondOffer.matchId);
  busy.answer(firstOffer.matchId);
  assert.equal((await firstReply).status, 200);
  assert.equal((await secondReply).status, 200);
  assert.equal(busy.pending.length, 0, 'the busy volunteer got no second offer');
});

test('a volunteer cannot answer a match offered to another volunteer', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const offered = await network.volunteer({ nat: 'unrestricted' });
  const intruder = await network.volunteer({ nat: 'restricted', slots: 0 });
  const reply = network.postClient(offerBody({ nat: 'restricted' }));
  const offer = await offered.nextOffer();
  intruder.answer(offer.matchId, sampleAnswerSdp('evil'));
  const notice = await intruder.nextMessage();
  assert.equal(notice.type === 'error' && notice.code, 'MATCH_EXPIRED');
  offered.answer(offer.matchId, sampleAnswerSdp('good'));
  const { body } = await reply;
  assert.equal((body as { answer: { sdp: string } }).answer.sdp, sampleAnswerSdp('good'));
});

test('NAT matching: no client is offered a volunteer it cannot connect to; full-cone volunteers are saved', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  t.after(() => network.close());
  const symmetric = await network.volunteer({ nat: 'symmetric', slots: 4 });

  assert.equal(errorCodeOf(await network.postClient(offerBody({ nat: 'symmetric' }))), 'NO_VOLUNTEERS');
  assert.equal(errorCodeOf(await network.postClient(offerBody({ nat: 'port-restricted' }))), 'NO_VOLUNTEERS');
  assert.equal(errorCodeOf(await network.postClient(offerBody({ nat: 'restricted' }))), 'NO_VOLUNTEERS');

  const fullCone = await network.volunteer({ nat: 'full-cone', slots: 4 });
  const symmetricClient = network.postClient(offerBody({ nat: 'symmetric' }));
  const toFullCone = await fullCone.nextOffer();
  fullCone.answer(toFullCone.matchId);
  assert.equal((await symmetricClient).status, 200);

  const fullConeClient = network.postClient(offerBody({ nat: 'full-cone' }));
  const toSymmetric = await symmetric.nextOffer();
  symmetric.answer(toSymmetric.matchId);
  assert.equal((await fullConeClient).status, 200);
  assert.equal(fullCone.pending.length, 0, 'the full-cone volunteer was saved');
});

test('closing the broker lets a waiting client go and closes volunteer sockets with 1001', async () => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 60_000 });
  const volunteer = await network.volunteer();
  const reply = network.postClient();
  await volunteer.nextOffer();
  const closed = volunteer.closedBy();
  await network.broker.close();
  assert.equal((await closed).code, 1001);
  assert.equal((await reply).status, 504);
});
