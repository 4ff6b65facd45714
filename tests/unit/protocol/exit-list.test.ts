import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromBase64Url, toBase64Url } from '../../../protocol/bytes.ts';
import {
  EXIT_LIST_CLOCK_SKEW_MS,
  EXIT_LIST_SIGNING_CONTEXT,
  ExitListError,
  generateOperatorKeyPair,
  MAX_LISTED_EXITS,
  MAX_PINNED_EXIT_LIST_KEYS,
  MAX_SIGNED_EXIT_LIST_CHARS,
  OperatorKeyError,
  operatorPublicKeyOf,
  parseOperatorPublicKey,
  parseOperatorPublicKeys,
  signExitList,
  verifyExitList,
} from '../../../protocol/exit-list.ts';
import { createPairingToken } from '../../../protocol/pairing.ts';

const operator = generateOperatorKeyPair();
const exitKey = toBase64Url(new Uint8Array(32).fill(7));
const exitA = { id: 'a', url: 'wss://exit-a.example.org/v1/relay', publicKey: exitKey };
const exitB = { id: 'b', url: 'ws://192.0.2.1:8443/v1/relay', publicKey: exitKey };
const NOW = Date.UTC(2026, 10, 27);
const DAY = 24 * 60 * 60 * 1000;

const isCode = (code: string) => (error: unknown) => error instanceof ExitListError && error.code === code;

/** Signs any payload text as an operator would (to test what readers do with payloads signExitList never makes). */
function signRaw(payload: unknown, secretKey = operator.secretKey): { payload: string; signature: string } {
  const bytes = new TextEncoder().encode(JSON.stringify(payload));
  const message = new Uint8Array([...new TextEncoder().encode(EXIT_LIST_SIGNING_CONTEXT), ...bytes]);
  return { payload: toBase64Url(bytes), signature: toBase64Url(ed25519.sign(message, fromBase64Url(secretKey))) };
}

describe('signed exit list', () => {
  test('a list signed by a pinned key verifies and says what it lists, by whom, until when', () => {
    const list = signExitList([exitA, exitB], operator.secretKey, { issuedAt: NOW, validForMs: 7 * DAY });
    const verified = verifyExitList(list, [operator.publicKey], NOW + DAY);
    assert.deepEqual(verified.exits, [exitA, exitB]);
    assert.equal(verified.signedBy, operator.publicKey);
    assert.equal(verified.expiresAt, NOW + 7 * DAY);
    assert.deepEqual(verified.document, list);
    assert.equal(operatorPublicKeyOf(operator.secretKey), operator.publicKey);
  });

  test('during a key change either pinned key is accepted', () => {
    const next = generateOperatorKeyPair();
    const list = signExitList([exitA], next.secretKey, { issuedAt: NOW });
    assert.equal(verifyExitList(list, [operator.publicKey, next.publicKey], NOW).signedBy, next.publicKey);
  });

  test('another key, a changed payload, a changed signature or no key at all: refused', () => {
    const list = signExitList([exitA], operator.secretKey, { issuedAt: NOW });
    const stranger = generateOperatorKeyPair();
    assert.throws(() => verifyExitList(list, [stranger.publicKey], NOW), isCode('EXIT_LIST_NOT_SIGNED'));
    const other = signExitList([{ ...exitA, url: 'ws://10.0.0.1/' }], stranger.secretKey, { issuedAt: NOW });
    assert.throws(() => verifyExitList({ payload: other.payload, signature: list.signature }, [operator.publicKey], NOW), isCode('EXIT_LIST_NOT_SIGNED'));
    const signature = fromBase64Url(list.signature);
    signature[10] = (signature[10] as number) ^ 1;
    assert.throws(() => verifyExitList({ ...list, signature: toBase64Url(signature) }, [operator.publicKey], NOW), isCode('EXIT_LIST_NOT_SIGNED'));
    assert.throws(() => verifyExitList({ ...list, signature: 'AAAA' }, [operator.publicKey], NOW), isCode('EXIT_LIST_NOT_SIGNED'));
    assert.throws(() => verifyExitList(list, [], NOW), isCode('NO_EXIT_LIST_KEY'));
  });

  test('a signature over the bare payload (no context) does not verify: the key signs nothing else by accident', () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ version: 1, issuedAt: NOW, expiresAt: NOW + DAY, exits: [exitA] }));
    const bare = { payload: toBase64Url(bytes), signature: toBase64Url(ed25519.sign(bytes, fromBase64Url(operator.secretKey))) };
    assert.throws(() => verifyExitList(bare, [operator.publicKey], NOW), isCode('EXIT_LIST_NOT_SIGNED'));
  });

  test('an expired list is refused once the clock allowance has passed', () => {
    const list = signExitList([exitA], operator.secretKey, { issuedAt: NOW, validForMs: DAY });
    assert.equal(verifyExitList(list, [operator.publicKey], NOW + DAY + EXIT_LIST_CLOCK_SKEW_MS).exits.length, 1);
    assert.throws(
      () => verifyExitList(list, [operator.publicKey], NOW + DAY + EXIT_LIST_CLOCK_SKEW_MS + 1),
      (error: unknown) => isCode('EXIT_LIST_EXPIRED')(error) && /sign a new one/.test((error as Error).message),
    );
  });

  test('even a correctly signed payload is refused when an exit is unusable or the list is malformed', () => {
    const base = { version: 1, issuedAt: NOW, expiresAt: NOW + DAY };
    for (const exits of [
      [{ ...exitA, url: 'http://exit.example.org/' }],
      [{ ...exitA, url: 'ws://user:pw@exit.example.org/' }],
      [{ ...exitA, url: 'not a url' }],
      [{ ...exitA, publicKey: 'short' }],
      [{ ...exitA, publicKey: `${exitKey.slice(0, 42)}B` }], // 43 characters whose last bits are not canonical
      [exitA, { ...exitB, id: 'a' }],
      Array.from({ length: MAX_LISTED_EXITS + 1 }, (_, index) => ({ ...exitA, id: `e${index}` })),
    ]) {
      assert.throws(() => verifyExitList(signRaw({ ...base, exits }), [operator.publicKey], NOW), isCode('BAD_EXIT_LIST'), JSON.stringify(exits).slice(0, 80));
    }
    for (const payload of [{ ...base, version: 2, exits: [] }, { ...base, expiresAt: NOW - 1, exits: [] }, { ...base, exits: 'none' }, [1, 2]]) {
      assert.throws(() => verifyExitList(signRaw(payload), [operator.publicKey], NOW), isCode('BAD_EXIT_LIST'), JSON.stringify(payload));
    }
  });

  test('documents that are not {payload, signature} are malformed', () => {
    for (const document of [null, [], { exits: [exitA] }, { payload: 'a b', signature: 'c' }, { payload: 'x'.repeat(300 * 1024), signature: 'c' }]) {
      assert.throws(() => verifyExitList(document, [operator.publicKey], NOW), isCode('BAD_EXIT_LIST'));
    }
  });

  test('signExitList checks exits as readers will, and bounds validity', () => {
    assert.throws(() => signExitList([{ ...exitA, url: 'https://x.example/' }], operator.secretKey), isCode('BAD_EXIT_LIST'));
    assert.throws(() => signExitList([exitA, exitA], operator.secretKey), isCode('BAD_EXIT_LIST'));
    assert.throws(() => signExitList([exitA], operator.secretKey, { validForMs: 400 * DAY }), RangeError);
    assert.throws(() => signExitList([exitA], 'short'), OperatorKeyError);
    // What cannot be read is not signed: 256 exits with 1,000-character URLs exceed the payload limit.
    const longUrl = `wss://exit.example.org/${'x'.repeat(1000)}`;
    const many = Array.from({ length: MAX_LISTED_EXITS }, (_, index) => ({ ...exitA, id: `e${index}`, url: longUrl }));
    assert.throws(
      () => signExitList(many, operator.secretKey),
      (error: unknown) => isCode('BAD_EXIT_LIST')(error) && /longer than/.test((error as Error).message),
    );
    const signed = signExitList(many.slice(0, 100), operator.secretKey);
    assert.ok(JSON.stringify(signed).length <= MAX_SIGNED_EXIT_LIST_CHARS, 'a list that signs fits every reader');
  });

  test('pinned keys: each checked, at most MAX_PINNED_EXIT_LIST_KEYS, the bad one named', () => {
    assert.deepEqual(parseOperatorPublicKeys([` ${operator.publicKey} `]), [operator.publicKey]);
    assert.throws(() => parseOperatorPublicKeys([operator.publicKey, 'AAAA']), /"AAAA" is not an exit-list key: .*32 bytes, got 3/);
    assert.throws(() => parseOperatorPublicKeys([7]), OperatorKeyError);
    assert.throws(() => parseOperatorPublicKeys(Array.from({ length: MAX_PINNED_EXIT_LIST_KEYS + 1 }, () => operator.publicKey)), /at most 8/);
  });

  test('operator public keys are 32 bytes of base64url', () => {
    assert.equal(parseOperatorPublicKey(` ${operator.publicKey}\n`), operator.publicKey);
    assert.throws(() => parseOperatorPublicKey('not base64!'), OperatorKeyError);
    assert.throws(() => parseOperatorPublicKey('AAAA'), /32 bytes, got 3/);
  });
});

test('operator keys and pairing tokens never start with "-", which a command line would take for an option', () => {
  // One in 64 would without the redraw: 500 draws all passing by chance has a probability of about 4 in 10,000.
  for (let index = 0; index < 500; index += 1) {
    const keys = generateOperatorKeyPair();
    assert.ok(!keys.publicKey.startsWith('-') && !keys.secretKey.startsWith('-'), keys.publicKey);
    assert.ok(!createPairingToken().startsWith('-'));
  }
});

describe('the rendezvous part of a signed list', () => {
  const rendezvous = {
    brokerKey: toBase64Url(new Uint8Array(32).fill(9)),
    channels: [
      { kind: 'direct' as const, url: 'https://broker.example.org' },
      { kind: 'fronted' as const, url: 'https://broker.example.org', front: 'cdn.example.net' },
      { kind: 'cache' as const, url: 'https://cache.example.net/c/s/broker.example.org' },
    ],
  };

  test('is signed with the exits and read back as it was given', () => {
    const list = signExitList([exitA], operator.secretKey, { issuedAt: NOW, rendezvous });
    assert.deepEqual(verifyExitList(list, [operator.publicKey], NOW).rendezvous, rendezvous);
    assert.equal(verifyExitList(signExitList([exitA], operator.secretKey, { issuedAt: NOW }), [operator.publicKey], NOW).rendezvous, undefined);
  });

  test('a list whose rendezvous key or channels are malformed is refused as BAD_EXIT_LIST, saying which', () => {
    for (const [bad, why] of [
      [{ ...rendezvous, brokerKey: 'short' }, /brokerKey/],
      [{ ...rendezvous, channels: [] }, /channels/],
      [{ ...rendezvous, channels: [{ kind: 'fronted', url: 'https://broker.example.org' }] }, /front/],
    ] as const) {
      assert.throws(
        () => signExitList([exitA], operator.secretKey, { issuedAt: NOW, rendezvous: bad as never }),
        (error: unknown) => isCode('BAD_EXIT_LIST')(error) && why.test((error as Error).message),
      );
    }
  });
});
