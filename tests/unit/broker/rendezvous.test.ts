// The broker's sealed routes (POST /v1/rendezvous, GET /v1/rendezvous/ENVELOPE) driven through the client's own code
// (requestAnswerSealed over fetchRendezvousCarrier), against a real broker on loopback with a stand-in volunteer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freeLoopbackPort } from '../../../harness/free-port.ts';
import { PathError, requestAnswerSealed } from '../../../protocol/broker-offer.ts';
import { fromUtf8, utf8 } from '../../../protocol/bytes.ts';
import { generateKeyPair } from '../../../protocol/crypto.ts';
import type { RendezvousChannel } from '../../../protocol/rendezvous.ts';
import { sealRendezvousRequest, unarmorReplyPage } from '../../../protocol/rendezvous-envelope.ts';
import { fetchRendezvousCarrier } from '../../../protocol/rendezvous-fetch.ts';
import type { BrokerLogEvent } from '../../../signaling-server/config.ts';
import { errorCodeOf, offerBody, sampleAnswerSdp, sampleOfferSdp, TEST_EXIT, TestNetwork } from './helpers.ts';

const offer = (sdp: string) => ({ offer: { type: 'offer' as const, sdp }, exitId: TEST_EXIT.id, nat: 'unknown' as const, signal: AbortSignal.timeout(20_000) });

test('a sealed offer over the direct channel reaches a volunteer, and its sealed answer comes back', async (t) => {
  const brokerKey = generateKeyPair();
  const log: BrokerLogEvent[] = [];
  const network = await TestNetwork.start({ rendezvousKeyPair: brokerKey, log: (event) => log.push(event) });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 2 });
  const clientSdp = sampleOfferSdp('seal');
  const channels: RendezvousChannel[] = [{ kind: 'direct', url: network.baseUrl }];
  const answered = requestAnswerSealed(offer(clientSdp), { brokerKey: brokerKey.publicKey, channels, carrier: fetchRendezvousCarrier() });
  answered.catch(() => {}); // awaited below, after the volunteer has answered
  const delivered = await volunteer.nextOffer();
  assert.equal(delivered.offer.sdp, clientSdp, 'the volunteer gets the SDP as the client sealed it');
  volunteer.answer(delivered.matchId, sampleAnswerSdp('vol1'));
  const answer = await answered;
  assert.deepEqual(answer.answer, { type: 'answer', sdp: sampleAnswerSdp('vol1') });
  assert.equal(answer.channel, `direct ${new URL(network.baseUrl).host}`);
  assert.deepEqual(answer.channelFailures, []);
  assert.ok(!JSON.stringify(log).includes('a=candidate') && !JSON.stringify(log).includes(clientSdp), 'the broker logged no SDP');
});

test('the cache channel: GET with the envelope in the path, the sealed answer in a cacheable HTML page', async (t) => {
  const brokerKey = generateKeyPair();
  const network = await TestNetwork.start({ rendezvousKeyPair: brokerKey });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 2 });
  volunteer.onEveryOffer((delivered) => volunteer.answer(delivered.matchId, sampleAnswerSdp('vol2')));
  const sealed = sealRendezvousRequest(brokerKey.publicKey, utf8(offerBody()));
  const response = await network.get(`/v1/rendezvous/${sealed.envelope}`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(response.headers.get('cache-control') ?? '', /public/);
  const page = await response.text();
  assert.ok(!page.includes('v=0') && !page.includes('answer'), 'the page shows no SDP');
  const reply = JSON.parse(fromUtf8(sealed.openReply(unarmorReplyPage(page)))) as { status: number; body: { answer: { sdp: string } } };
  assert.equal(reply.status, 200);
  assert.equal(reply.body.answer.sdp, sampleAnswerSdp('vol2'));
});

test("the broker's refusals travel sealed with HTTP 200 (a cache turns errors into 404), and throw their own PathError", async (t) => {
  const brokerKey = generateKeyPair();
  const network = await TestNetwork.start({ rendezvousKeyPair: brokerKey });
  t.after(() => network.close());
  // No volunteer at all.
  const sealed = sealRendezvousRequest(brokerKey.publicKey, utf8(offerBody()));
  const response = await network.get(`/v1/rendezvous/${sealed.envelope}`);
  assert.equal(response.status, 200);
  const reply = JSON.parse(fromUtf8(sealed.openReply(unarmorReplyPage(await response.text())))) as { status: number };
  assert.equal(reply.status, 503);
  await assert.rejects(
    requestAnswerSealed(offer(sampleOfferSdp('none')), {
      brokerKey: brokerKey.publicKey,
      channels: [{ kind: 'cache', url: network.baseUrl }],
      carrier: fetchRendezvousCarrier(),
    }),
    (error: unknown) => error instanceof PathError && error.code === 'NO_VOLUNTEERS',
  );
});

test('an envelope the broker cannot open is refused plainly with 400; a broker without a rendezvous key answers 404 and says why', async (t) => {
  const network = await TestNetwork.start({ rendezvousKeyPair: generateKeyPair() });
  t.after(() => network.close());
  const otherKey = generateKeyPair().publicKey;
  const wrongKey = sealRendezvousRequest(otherKey, utf8(offerBody())).envelope;
  const posted = await network.get('/v1/rendezvous', { method: 'POST', body: wrongKey, headers: { 'content-type': 'text/plain' } });
  assert.equal(posted.status, 400);
  assert.match(await posted.text(), /cannot be opened.*not sealed to this broker's key/);
  const junk = await network.get('/v1/rendezvous/not-an-envelope');
  assert.equal(junk.status, 400);
  const plain = await TestNetwork.start();
  t.after(() => plain.close());
  const missing = await plain.get(`/v1/rendezvous/${wrongKey}`);
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /no rendezvous key/);
  const reply = await plain.postClient(offerBody());
  assert.equal(errorCodeOf(reply), 'NO_VOLUNTEERS', 'the plain route still works');
});

test('channels are tried in order: a dead direct channel is named in the failures, the cache channel carries, and is tried first next time', async (t) => {
  const brokerKey = generateKeyPair();
  const network = await TestNetwork.start({ rendezvousKeyPair: brokerKey });
  t.after(() => network.close());
  const volunteer = await network.volunteer({ slots: 2 });
  volunteer.onEveryOffer((delivered) => volunteer.answer(delivered.matchId, sampleAnswerSdp('vol3')));
  const channels: RendezvousChannel[] = [
    { kind: 'direct', url: `http://127.0.0.1:${await freeLoopbackPort()}` },
    { kind: 'cache', url: network.baseUrl },
  ];
  const tried: string[] = [];
  const first = await requestAnswerSealed(offer(sampleOfferSdp('one')), {
    brokerKey: brokerKey.publicKey,
    channels,
    carrier: fetchRendezvousCarrier(),
    onTrying: (channel) => tried.push(channel),
  });
  assert.equal(first.channel, `cache ${new URL(network.baseUrl).host}`);
  assert.deepEqual(
    first.channelFailures.map((failure) => [failure.channel.split(' ')[0], failure.code]),
    [['direct', 'UNREACHABLE']],
  );
  assert.equal(tried.length, 2);
  const again: string[] = [];
  await requestAnswerSealed(offer(sampleOfferSdp('two')), {
    brokerKey: brokerKey.publicKey,
    channels,
    carrier: fetchRendezvousCarrier(),
    lastWorked: first.channel,
    onTrying: (channel) => again.push(channel),
  });
  assert.deepEqual(again, [first.channel], 'the channel that worked last is tried first, and alone when it works');
});

test('when every channel fails, BROKER_UNREACHABLE names each one and why', async () => {
  const port = await freeLoopbackPort();
  const error = await requestAnswerSealed(offer(sampleOfferSdp('dead')), {
    brokerKey: generateKeyPair().publicKey,
    channels: [
      { kind: 'direct', url: `http://127.0.0.1:${port}` },
      { kind: 'fronted', url: 'https://broker.example', front: 'cdn.example' },
      { kind: 'cache', url: `http://127.0.0.1:${port}/cache` },
    ],
    carrier: fetchRendezvousCarrier(),
  }).catch((caught: unknown) => caught);
  assert.ok(error instanceof PathError && error.code === 'BROKER_UNREACHABLE', String(error));
  assert.deepEqual(
    error.channelFailures.map((failure) => failure.code),
    ['UNREACHABLE', 'NEEDS_HELPER', 'UNREACHABLE'],
  );
  assert.match(error.message, /fronted via cdn\.example to broker\.example: fronting needs the helper/);
});
