// Pairing links: a holder is matched only to the volunteer that made the link, on its personal slots; nobody else is
// ever given those slots; a revoked or unknown link is refused, saying so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../../harness/wait.ts';
import { createPairingToken, pairingIdOf, pairingLink, tokenOfPairingLink } from '../../../protocol/pairing.ts';
import { MemoryVolunteerStore } from '../../../signaling-server/memory-store.ts';
import { errorCodeOf, errorMessageOf, sampleOfferSdp, TEST_EXIT, TestNetwork } from './helpers.ts';

function pairedOffer(token: string | undefined, tag: string): string {
  return JSON.stringify({ offer: { type: 'offer', sdp: sampleOfferSdp(tag) }, exitId: TEST_EXIT.id, nat: 'unknown', ...(token ? { pairing: token } : {}) });
}

test('a link holder gets only that volunteer, on a personal slot; strangers never get its personal slots', async (t) => {
  const store = new MemoryVolunteerStore();
  const network = await TestNetwork.start({ clientAnswerTimeoutMs: 3_000, volunteerAnswerTimeoutMs: 1_000, store });
  t.after(() => network.close());
  const token = createPairingToken();
  const friend = await network.volunteer(null);
  friend.send({ type: 'hello', version: 1, kind: 'extension', nat: 'unknown', slots: 0, personalSlots: 2, pairings: [pairingIdOf(token)] });
  const welcome = await friend.nextMessage();
  assert.equal(welcome.type, 'welcome');
  const friendId = welcome.type === 'welcome' ? welcome.volunteerId : '';
  const stranger = await network.volunteer({ slots: 32 });
  stranger.onEveryOffer((offer) => {
    stranger.answer(offer.matchId);
    stranger.send({ type: 'slots', slots: 32 });
  });

  // Strangers, one after another and at once: all to the stranger volunteer, none to the friend.
  for (let index = 0; index < 3; index += 1) assert.equal((await network.postClient(pairedOffer(undefined, `anyone${index}`))).status, 200);
  const together = await Promise.all([0, 1, 2].map((index) => network.postClient(pairedOffer(undefined, `crowd${index}`))));
  assert.deepEqual(
    together.map((reply) => reply.status),
    [200, 200, 200],
  );
  assert.equal(friend.offersReceived, 0, 'the friend’s personal slots went to nobody without its link');

  // The holder goes to the friend, on a personal slot, even with the stranger free.
  const holder = network.postClient(pairedOffer(token, 'holder'));
  const offer = await friend.nextOffer();
  assert.equal(offer.pool, 'personal');
  assert.match(offer.offer.sdp, /ice-ufrag:holder/);
  friend.answer(offer.matchId);
  assert.equal((await holder).status, 200);

  // A link nobody registered, and then the friend's own link once revoked: refused, saying why.
  const unknown = await network.postClient(pairedOffer(createPairingToken(), 'unknown'));
  assert.equal(errorCodeOf(unknown), 'NO_VOLUNTEERS');
  assert.match(errorMessageOf(unknown), /pairing link/);
  friend.send({ type: 'pairings', pairings: [] });
  friend.send({ type: 'slots', slots: 0, personalSlots: 2 });
  await waitFor(async () => (await store.getVolunteer(friendId))?.pairingIds.length === 0, 'the broker to drop the revoked link', { timeoutMs: 5_000 });
  const revoked = await network.postClient(pairedOffer(token, 'revoked'));
  assert.equal(errorCodeOf(revoked), 'NO_VOLUNTEERS');
  assert.equal(friend.offersReceived, 1);
});

test('malformed pairing tokens and ids are refused with the field named', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const reply = await network.postClient(pairedOffer('not-a-token', 'bad'));
  assert.equal(reply.status, 400);
  assert.match(errorMessageOf(reply), /"pairing"/);
  const volunteer = await network.volunteer(null);
  volunteer.send({ type: 'hello', version: 1, kind: 'headless', nat: 'unknown', slots: 1, pairings: ['x'] });
  const refusal = await volunteer.nextMessage();
  assert.equal(refusal.type === 'error' && refusal.code, 'BAD_MESSAGE');
  assert.match(refusal.type === 'error' ? refusal.message : '', /"pairings"/);
});

test('pairing links carry the token in the fragment, on the broker’s origin only', () => {
  const token = createPairingToken();
  const link = pairingLink('https://broker.example.org/some/path', token);
  assert.equal(link, `https://broker.example.org/pair#${token}`);
  assert.equal(tokenOfPairingLink(link, 'https://broker.example.org'), token);
  assert.equal(tokenOfPairingLink(link, 'https://other.example.org'), undefined, 'another origin');
  assert.equal(tokenOfPairingLink('https://broker.example.org/pair#short', 'https://broker.example.org'), undefined);
  assert.notEqual(pairingIdOf(token), token, 'the id is not the token');
  assert.equal(pairingIdOf(token), pairingIdOf(token));
});

test('GET /pair shows a person what a pairing link is, loading nothing', async (t) => {
  const network = await TestNetwork.start();
  t.after(() => network.close());
  const response = await network.get('/pair');
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/html/);
  assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  assert.match(await response.text(), /Ferry pairing link/);
});
