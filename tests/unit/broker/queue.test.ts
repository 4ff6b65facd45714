// A broker that queues instead of refusing: clients that arrive while every volunteer that suits them is busy
// answering another client's offer wait their turn, first come first served, bounded by their own deadline.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../../harness/wait.ts';
import type { TestNetwork as Network } from './helpers.ts';
import { errorCodeOf, offerBody, sampleOfferSdp, TestNetwork } from './helpers.ts';

/** The ice-ufrag tag of an offer, which these tests set per client to tell clients apart. */
function tagOf(sdp: string): string {
  return /a=ice-ufrag:(\S+)/.exec(sdp)?.[1] ?? '';
}

async function waitingCount(network: Network, count: number): Promise<void> {
  await waitFor(async () => (await network.broker.metrics()).clientsWaiting === count, `${count} clients queued`, { timeoutMs: 5_000 });
}

test('a burst of 60 clients on 4 volunteers that hold one offer each: every client is served, none refused', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 20_000, volunteerAnswerTimeoutMs: 5_000 });
  t.after(() => network.close());
  for (let index = 0; index < 4; index += 1) {
    const volunteer = await network.volunteer({ slots: 32 });
    // Answers a few milliseconds later, as a real volunteer gathering ICE would, and announces its slots again.
    volunteer.onEveryOffer((offer) => {
      setTimeout(() => {
        volunteer.answer(offer.matchId);
        volunteer.send({ type: 'slots', slots: 32 });
      }, 5);
    });
  }
  const replies = await Promise.all(Array.from({ length: 60 }, (_, index) => network.postClient(offerBody({ sdp: sampleOfferSdp(`burst${index}`) }))));
  assert.deepEqual(
    replies.map((reply) => reply.status),
    replies.map(() => 200),
  );
  const metrics = await network.broker.metrics();
  assert.equal(metrics.noVolunteersTotal, 0, 'no client refused while capacity existed');
  assert.ok(metrics.clientsQueuedTotal > 0, 'the burst did queue (4 offers at a time)');
  assert.equal(metrics.clientsWaiting, 0);
});

test('queued clients are offered in the order they arrived', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 20_000, volunteerAnswerTimeoutMs: 5_000 });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 32 });
  const first = network.postClient(offerBody({ sdp: sampleOfferSdp('first') }));
  const firstOffer = await volunteer.nextOffer();
  const queued: Array<Promise<unknown>> = [];
  for (const tag of ['second', 'third', 'fourth']) {
    queued.push(network.postClient(offerBody({ sdp: sampleOfferSdp(tag) })));
    await waitingCount(network, queued.length); // each joins the queue before the next arrives
  }
  const order: string[] = [tagOf(firstOffer.offer.sdp)];
  volunteer.answer(firstOffer.matchId);
  for (let index = 0; index < 3; index += 1) {
    volunteer.send({ type: 'slots', slots: 32 });
    const offer = await volunteer.nextOffer();
    order.push(tagOf(offer.offer.sdp));
    volunteer.answer(offer.matchId);
  }
  assert.deepEqual(order, ['first', 'second', 'third', 'fourth']);
  for (const reply of [first, ...queued]) assert.equal(((await reply) as { status: number }).status, 200);
});

test('a queued client never waits past its deadline: 504 TIMED_OUT when no volunteer frees up in time', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 1_500, volunteerAnswerTimeoutMs: 1_000 });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 32 });
  const first = network.postClient(offerBody({ sdp: sampleOfferSdp('held') }));
  await volunteer.nextOffer(); // never answered
  const started = Date.now();
  const second = await network.postClient(offerBody({ sdp: sampleOfferSdp('late') }));
  assert.equal(errorCodeOf(second), 'TIMED_OUT');
  assert.ok(Date.now() - started < 5_000, 'bounded by the client deadline');
  assert.equal(errorCodeOf(await first), 'TIMED_OUT');
  assert.equal((await network.broker.metrics()).clientsWaiting, 0);
});

test('a queued client that hangs up leaves the queue, and the next one gets the volunteer', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 20_000, volunteerAnswerTimeoutMs: 5_000 });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 32 });
  const first = network.postClient(offerBody({ sdp: sampleOfferSdp('first') }));
  const firstOffer = await volunteer.nextOffer();
  const leaving = new AbortController();
  const gone = fetch(`${network.baseUrl}/v1/client`, {
    method: 'POST',
    body: offerBody({ sdp: sampleOfferSdp('leaver') }),
    signal: leaving.signal,
  }).catch((error: unknown) => error);
  await waitingCount(network, 1);
  const stays = network.postClient(offerBody({ sdp: sampleOfferSdp('stayer') }));
  await waitingCount(network, 2);
  leaving.abort();
  await gone;
  await waitingCount(network, 1);
  volunteer.answer(firstOffer.matchId);
  volunteer.send({ type: 'slots', slots: 32 });
  const next = await volunteer.nextOffer();
  assert.equal(tagOf(next.offer.sdp), 'stayer');
  volunteer.answer(next.matchId);
  assert.equal((await first).status, 200);
  assert.equal((await stays).status, 200);
});

test('a queued client whose only suitable volunteer leaves gets 503 at once, not at its deadline', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 20_000, volunteerAnswerTimeoutMs: 5_000 });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 32, nat: 'full-cone' });
  const first = network.postClient(offerBody({ nat: 'symmetric', sdp: sampleOfferSdp('first') }));
  await volunteer.nextOffer();
  const started = Date.now();
  const second = network.postClient(offerBody({ nat: 'symmetric', sdp: sampleOfferSdp('second') }));
  await waitingCount(network, 1);
  volunteer.socket.terminate();
  assert.equal(errorCodeOf(await second), 'NO_VOLUNTEERS');
  assert.equal(errorCodeOf(await first), 'NO_VOLUNTEERS');
  assert.ok(Date.now() - started < 10_000, 'long before the 20 s deadline');
});

test('a queued client is served by a volunteer of another class that arrives, while others still wait for theirs', async (t) => {
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 20_000, volunteerAnswerTimeoutMs: 5_000 });
  t.after(() => network.close());
  const fullCone = await network.volunteer({ slots: 32, nat: 'full-cone' });
  const first = network.postClient(offerBody({ nat: 'symmetric', sdp: sampleOfferSdp('sym1') }));
  const firstOffer = await fullCone.nextOffer();
  const symmetricWaiter = network.postClient(offerBody({ nat: 'symmetric', sdp: sampleOfferSdp('sym2') }));
  await waitingCount(network, 1);
  // A port-restricted client arriving now may use a port-restricted volunteer that a symmetric client cannot.
  const portRestricted = await network.volunteer({ slots: 1, nat: 'port-restricted' });
  const portRestrictedClient = network.postClient(offerBody({ nat: 'port-restricted', sdp: sampleOfferSdp('pr') }));
  const prOffer = await portRestricted.nextOffer();
  assert.equal(tagOf(prOffer.offer.sdp), 'pr');
  portRestricted.answer(prOffer.matchId);
  assert.equal((await portRestrictedClient).status, 200);
  assert.equal((await network.broker.metrics()).clientsWaiting, 1, 'the symmetric client still waits for the full-cone one');
  fullCone.answer(firstOffer.matchId);
  fullCone.send({ type: 'slots', slots: 32 });
  const second = await fullCone.nextOffer();
  assert.equal(tagOf(second.offer.sdp), 'sym2');
  fullCone.answer(second.matchId);
  assert.equal((await first).status, 200);
  assert.equal((await symmetricWaiter).status, 200);
});
