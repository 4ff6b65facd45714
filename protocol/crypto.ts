/**
 * @module crypto
 * The primitives the protocol is built on, behind small interfaces so each runtime can plug in its fastest audited
 * implementation: @noble/* (pure JS, runs everywhere) by default, node:crypto at the Node edges
 * (protocol/adapters/node-aead.ts, ~15x faster). Nothing here is home-made: X25519 and SHA-256/HMAC come from
 * @noble/curves and @noble/hashes, ChaCha20-Poly1305 from @noble/ciphers or OpenSSL.
 */

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { AuthenticationError } from './errors.ts';

// SHA-256, HMAC and random bytes live apart (digest.ts), so code that needs only them does not load the ciphers.
export { hash, hmacSha256, randomBytes } from './digest.ts';

/** An AEAD keyed once; nonces are 12 bytes. `open` throws AuthenticationError when the tag does not verify. */
export interface AeadCipher {
  seal(nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array;
  open(nonce: Uint8Array, ciphertext: Uint8Array, associatedData: Uint8Array): Uint8Array;
  /**
   * Optional: `prefix` followed by what seal() returns for `plaintext` (or for its pieces, concatenated), in one
   * array, from `allocate` when given (record-pool.ts) or new. Records are sealed under their header this way, and a
   * DATA frame as its header and data, so an implementation that can saves two copies of a whole record (the exit
   * seals hundreds of MB a second).
   */
  sealAfter?(
    prefix: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array | readonly Uint8Array[],
    associatedData: Uint8Array,
    allocate?: (length: number) => Uint8Array,
  ): Uint8Array;
  /**
   * Optional: open() that decrypts `sealed` over its own bytes and returns a view of them, saving an allocation per
   * record. For callers that own the record and never read it again: afterwards, and after a failure too, its bytes
   * are no longer the ciphertext.
   */
  openInPlace?(nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array;
}

/** Makes a ChaCha20-Poly1305 cipher for a 32-byte key. */
export type AeadFactory = (key: Uint8Array) => AeadCipher;

export const nobleChaCha20Poly1305: AeadFactory = (key) => ({
  seal: (nonce, plaintext, associatedData) => chacha20poly1305(key, nonce, associatedData).encrypt(plaintext),
  open: (nonce, ciphertext, associatedData) => {
    try {
      return chacha20poly1305(key, nonce, associatedData).decrypt(ciphertext);
    } catch {
      throw new AuthenticationError('a record failed authentication: it was altered, forged or sent under another key');
    }
  },
});

export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const secretKey = x25519.utils.randomSecretKey();
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

export function keyPairFromSecret(secretKey: Uint8Array): KeyPair {
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

/** X25519. Rejects low-order points (noble throws on an all-zero shared secret). */
export function dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    return x25519.getSharedSecret(secretKey, publicKey);
  } catch {
    throw new AuthenticationError('the peer sent an invalid X25519 public key');
  }
}
