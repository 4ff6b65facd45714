import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PairingLinkRefusedError, PairingLinks } from '../../../extension/background/pairing-links.ts';
import { parseBackgroundMessage, parseOffscreenMessage } from '../../../extension/messages.ts';
import {
  heldTokenFor,
  linkFor,
  noPairings,
  PairingLimitError,
  type Pairings,
  parseStoredPairings,
  withNewLink,
  withoutLink,
} from '../../../extension/pairings.ts';
import { DEFAULT_SETTINGS } from '../../../extension/settings.ts';
import { createPairingToken, MAX_PAIRINGS_PER_VOLUNTEER, pairingLink } from '../../../protocol/pairing.ts';

test('stored pairings: malformed parts are dropped, never thrown', () => {
  const token = createPairingToken();
  assert.deepEqual(parseStoredPairings(undefined), noPairings());
  assert.deepEqual(parseStoredPairings({ made: [{ token, createdAt: 5 }, { token: 'short', createdAt: 1 }, 'junk'], held: { token: 'x' } }), {
    made: [{ token, createdAt: 5 }],
    held: undefined,
  });
});

test('links for friends: made up to the limit, revoked one by one; the shared link carries the token on the broker', () => {
  let pairings = noPairings();
  for (let index = 0; index < MAX_PAIRINGS_PER_VOLUNTEER; index += 1) pairings = withNewLink(pairings, index).pairings;
  assert.throws(() => withNewLink(pairings, 0), PairingLimitError);
  const first = pairings.made[0];
  assert.ok(first);
  assert.equal(linkFor(first, 'http://127.0.0.1:8787'), `http://127.0.0.1:8787/pair#${first.token}`);
  pairings = withoutLink(pairings, first.token);
  assert.equal(pairings.made.length, MAX_PAIRINGS_PER_VOLUNTEER - 1);
});

test('a held link is used only with the broker it was made on', () => {
  const token = createPairingToken();
  const pairings: Pairings = { made: [], held: { token, brokerOrigin: 'http://127.0.0.1:8787', addedAt: 1 } };
  assert.equal(heldTokenFor(pairings, 'http://127.0.0.1:8787'), token);
  assert.equal(heldTokenFor(pairings, 'https://broker.example.org'), undefined);
});

test('opening a link keeps it for this broker; links of another broker and its own links are refused', async () => {
  let saved: Pairings = noPairings();
  const own = createPairingToken();
  saved = { made: [{ token: own, createdAt: 1 }], held: undefined };
  const links = new PairingLinks({
    loadSettings: async () => DEFAULT_SETTINGS,
    loadPairings: async () => saved,
    savePairings: async (pairings) => {
      saved = pairings;
    },
    now: () => 42,
  });
  const friend = createPairingToken();
  await links.add(pairingLink(DEFAULT_SETTINGS.brokerUrl, friend));
  assert.deepEqual(saved.held, { token: friend, brokerOrigin: new URL(DEFAULT_SETTINGS.brokerUrl).origin, addedAt: 42 });
  await assert.rejects(links.add(pairingLink('https://other.example.org', createPairingToken())), PairingLinkRefusedError);
  await assert.rejects(links.add(pairingLink(DEFAULT_SETTINGS.brokerUrl, own)), PairingLinkRefusedError);
  assert.equal(saved.held?.token, friend, 'a refused link changes nothing');
});

test('pairing messages are checked: tokens must be tokens', () => {
  const token = createPairingToken();
  assert.deepEqual(parseBackgroundMessage({ target: 'background', type: 'add-pairing', link: `http://127.0.0.1:8787/pair#${token}` }), {
    target: 'background',
    type: 'add-pairing',
    link: `http://127.0.0.1:8787/pair#${token}`,
  });
  assert.deepEqual(parseOffscreenMessage({ target: 'offscreen', type: 'help-pairings', pairingTokens: [token] }), {
    target: 'offscreen',
    type: 'help-pairings',
    pairingTokens: [token],
  });
  assert.throws(() => parseOffscreenMessage({ target: 'offscreen', type: 'help-pairings', pairingTokens: ['nope'] }), /pairingTokens/);
  const start = {
    target: 'offscreen',
    type: 'client-start',
    pipeUrl: 'ws://127.0.0.1:1/pipe',
    token: 'pipe-token',
    brokerUrl: 'http://127.0.0.1:8787',
    exit: { id: 'local', url: 'ws://127.0.0.1:2/v1/relay', publicKey: 'A'.repeat(43) },
  };
  assert.equal((parseOffscreenMessage({ ...start, pairingToken: token }) as { pairingToken?: string }).pairingToken, token);
  assert.throws(() => parseOffscreenMessage({ ...start, pairingToken: 'nope' }), /pairingToken/);
});
