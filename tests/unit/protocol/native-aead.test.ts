import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { NATIVE_AEAD_PATH, nativeChaCha20Poly1305 } from '../../../protocol/adapters/native-aead.ts';
import { nodeCryptoChaCha20Poly1305 } from '../../../protocol/adapters/node-aead.ts';
import { type AeadCipher, type AeadFactory, nobleChaCha20Poly1305 } from '../../../protocol/crypto.ts';
import { AuthenticationError } from '../../../protocol/errors.ts';

/** The addon; `npm test` builds it first (scripts/setup.js runs scripts/build-native.js). */
function native(): AeadFactory {
  assert.ok(nativeChaCha20Poly1305, `the addon did not load from ${NATIVE_AEAD_PATH}: run "npm run build:native" (needs g++ and Node's headers)`);
  return nativeChaCha20Poly1305;
}

/** Plaintext lengths around ChaCha20's 64-byte blocks, Poly1305's 16-byte blocks, and a whole DATA record. */
const LENGTHS = [0, 1, 15, 16, 17, 63, 64, 65, 1000, 65_536, 65_536 + 5 + 9];

test('the addon seals exactly what node:crypto and @noble/ciphers seal (RFC 8439), whole or in pieces, after a prefix', () => {
  const key = randomBytes(32);
  const sealers = { native: native()(key), 'node:crypto': nodeCryptoChaCha20Poly1305(key), noble: nobleChaCha20Poly1305(key) };
  for (const length of LENGTHS) {
    const plaintext = randomBytes(length);
    const nonce = randomBytes(12);
    const associatedData = randomBytes(length % 23);
    const expected = Buffer.from(sealers.noble.seal(nonce, plaintext, associatedData));
    assert.deepEqual(Buffer.from(sealers.native.seal(nonce, plaintext, associatedData)), expected, `seal, ${length} bytes`);
    assert.deepEqual(Buffer.from(sealers['node:crypto'].seal(nonce, plaintext, associatedData)), expected);
    const prefix = randomBytes(9);
    const pieces = [plaintext.subarray(0, Math.min(5, length)), plaintext.subarray(Math.min(5, length))];
    const sealedAfter = sealers.native.sealAfter?.(prefix, nonce, pieces, associatedData);
    assert.deepEqual(Buffer.from(sealedAfter ?? []), Buffer.concat([prefix, expected]), `sealAfter in pieces, ${length} bytes`);
  }
});

test('the addon opens what the others sealed; open() leaves its input alone, openInPlace() decrypts over it', () => {
  const key = randomBytes(32);
  const opener = native()(key);
  const sealer = nodeCryptoChaCha20Poly1305(key);
  for (const length of LENGTHS) {
    const plaintext = randomBytes(length);
    const nonce = randomBytes(12);
    const associatedData = randomBytes(13);
    const sealed = Buffer.from(sealer.seal(nonce, plaintext, associatedData));
    const untouched = Buffer.from(sealed);
    assert.deepEqual(Buffer.from(opener.open(nonce, sealed, associatedData)), plaintext);
    assert.deepEqual(sealed, untouched, 'open() must not change its input (the Noise handshake hashes it afterwards)');
    const opened = opener.openInPlace?.(nonce, sealed, associatedData);
    assert.ok(opened);
    assert.deepEqual(Buffer.from(opened), plaintext);
    assert.equal(opened.buffer, sealed.buffer, 'the plaintext is a view of the record itself: nothing allocated');
    assert.equal(opened.byteOffset, sealed.byteOffset);
  }
});

test('the addon refuses every altered record with AuthenticationError, and opens the next good one (its context resets)', () => {
  const key = randomBytes(32);
  const sealer = native()(key);
  const opener = native()(key);
  const nonce = randomBytes(12);
  const associatedData = randomBytes(9);
  const plaintext = randomBytes(3000);
  const sealed = sealer.seal(nonce, plaintext, associatedData);
  const flip = (bytes: Uint8Array, index: number): Uint8Array => {
    const copy = Uint8Array.from(bytes);
    copy[index] = (copy[index] ?? 0) ^ 0x01;
    return copy;
  };
  const attempts: Array<[string, () => Uint8Array | undefined]> = [
    ['a flipped ciphertext bit', () => opener.openInPlace?.(nonce, flip(sealed, 100), associatedData)],
    ['a flipped tag bit', () => opener.openInPlace?.(nonce, flip(sealed, sealed.length - 1), associatedData)],
    ['other associated data', () => opener.open(nonce, sealed, flip(associatedData, 0))],
    ['another nonce', () => opener.open(flip(nonce, 11), sealed, associatedData)],
    ['another key', () => native()(randomBytes(32)).open(nonce, sealed, associatedData)],
    ['a record shorter than its tag', () => opener.open(nonce, sealed.subarray(0, 15), associatedData)],
    ['a truncated record', () => opener.open(nonce, sealed.subarray(0, sealed.length - 1), associatedData)],
  ];
  for (const [what, attempt] of attempts) {
    assert.throws(attempt, AuthenticationError, what);
    assert.deepEqual(Buffer.from(opener.open(nonce, sealed, associatedData)), plaintext, `the good record still opens after ${what}`);
  }
});

test('the addon seals into memory the caller gives, and says clearly when it is called wrongly', () => {
  const cipher: AeadCipher = native()(randomBytes(32));
  const block = new ArrayBuffer(4096);
  const sealed = cipher.sealAfter?.(Uint8Array.of(1, 2, 3), randomBytes(12), randomBytes(100), new Uint8Array(0), (length) => new Uint8Array(block, 0, length));
  assert.equal(sealed?.buffer, block);
  assert.equal(sealed?.length, 3 + 100 + 16);
  assert.deepEqual([...(sealed?.subarray(0, 3) ?? [])], [1, 2, 3]);

  const shortKey = native()(randomBytes(31));
  assert.throws(
    () => shortKey.seal(randomBytes(12), randomBytes(10), new Uint8Array(0)),
    (error: Error & { code?: string }) => error instanceof TypeError && error.code === 'FERRY_ERR_NATIVE_AEAD' && /32-byte/.test(error.message),
  );
  assert.throws(
    () => cipher.seal(randomBytes(8), randomBytes(10), new Uint8Array(0)),
    (error: Error & { code?: string }) => error.code === 'FERRY_ERR_NATIVE_AEAD',
    'a nonce that is not 12 bytes',
  );
  assert.throws(
    () => cipher.sealAfter?.(new Uint8Array(0), randomBytes(12), randomBytes(100), new Uint8Array(0), () => new Uint8Array(50)),
    (error: Error & { code?: string }) => error.code === 'FERRY_ERR_NATIVE_AEAD' && /too small/.test(error.message),
    'an allocator that hands back too little memory',
  );
});
