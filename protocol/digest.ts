/**
 * @module digest
 * SHA-256, HMAC-SHA-256 and random bytes: what pairing links and the handshake need, apart from the ciphers in
 * crypto.ts, so a page that only relays (the widget) does not download ChaCha20 and X25519. @noble/hashes and the web
 * standard crypto.getRandomValues. Runtime-neutral.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

export function hash(data: Uint8Array): Uint8Array {
  return sha256(data);
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(sha256, key, data);
}

export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  crypto.getRandomValues(out);
  return out;
}
