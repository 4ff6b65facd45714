/**
 * @module adapters/node-aead
 * ChaCha20-Poly1305 for the Node edges (helper, exit), which pass it to the protocol instead of the pure-JS default:
 * Ferry's addon when it is built (adapters/native-aead), node:crypto otherwise. Both are OpenSSL's cipher, measured
 * here at ≈2500 MiB/s against ≈150 MiB/s for @noble/ciphers; the addon saves node:crypto's per-record objects and
 * buffers.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { AEAD_TAG_BYTES } from '../constants.ts';
import type { AeadFactory } from '../crypto.ts';
import { AuthenticationError } from '../errors.ts';
import { nativeChaCha20Poly1305 } from './native-aead.ts';

/** prefix ‖ ciphertext ‖ tag in one allocation: node:crypto's update() returns a new buffer, copied once here. */
function sealAfter(
  key: Uint8Array,
  prefix: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array | readonly Uint8Array[],
  associatedData: Uint8Array,
  allocate?: (length: number) => Uint8Array,
): Uint8Array {
  const pieces = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
  let plaintextLength = 0;
  for (const piece of pieces) plaintextLength += piece.length;
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
  cipher.setAAD(associatedData, { plaintextLength });
  const length = prefix.length + plaintextLength + AEAD_TAG_BYTES;
  const out = allocate === undefined ? new Uint8Array(length) : allocate(length);
  out.set(prefix, 0);
  let offset = prefix.length;
  for (const piece of pieces) {
    const sealed = cipher.update(piece);
    out.set(sealed, offset);
    offset += sealed.length;
  }
  const tail = cipher.final();
  out.set(tail, offset);
  out.set(cipher.getAuthTag(), offset + tail.length);
  return out;
}

const NO_PREFIX = new Uint8Array(0);

/** Through node:crypto: a cipher object per record, its output copied once into the record. */
export const nodeCryptoChaCha20Poly1305: AeadFactory = (key) => ({
  seal: (nonce, plaintext, associatedData) => sealAfter(key, NO_PREFIX, nonce, plaintext, associatedData),
  sealAfter: (prefix, nonce, plaintext, associatedData, allocate) => sealAfter(key, prefix, nonce, plaintext, associatedData, allocate),
  open(nonce, ciphertext, associatedData) {
    if (ciphertext.length < AEAD_TAG_BYTES) throw new AuthenticationError('a record is shorter than its authentication tag');
    const bodyLength = ciphertext.length - AEAD_TAG_BYTES;
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
    decipher.setAAD(associatedData, { plaintextLength: bodyLength });
    decipher.setAuthTag(ciphertext.subarray(bodyLength));
    const head = decipher.update(ciphertext.subarray(0, bodyLength));
    try {
      const tail = decipher.final();
      if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
      const out = new Uint8Array(head.length + tail.length);
      out.set(head, 0);
      out.set(tail, head.length);
      return out;
    } catch {
      throw new AuthenticationError('a record failed authentication: it was altered, forged or sent under another key');
    }
  },
});

/** The best ChaCha20-Poly1305 this process has: the addon when built, else node:crypto. */
export const nodeChaCha20Poly1305: AeadFactory = nativeChaCha20Poly1305 ?? nodeCryptoChaCha20Poly1305;

/** Which one nodeChaCha20Poly1305 is, for start-up lines. */
export const nodeAeadImplementation: 'native addon' | 'node:crypto' = nativeChaCha20Poly1305 === undefined ? 'node:crypto' : 'native addon';
