/**
 * @module adapters/native-aead
 * ChaCha20-Poly1305 through Ferry's own small addon (native/aead, built by `npm run setup` where a C++ compiler
 * exists): one OpenSSL context per key serves every record, a record is sealed straight into the one buffer that
 * carries it, and a received record is opened in place. node:crypto instead makes a cipher object per record and a
 * fresh buffer per update(), and at the exit's rates those buffers, not the cipher, were the larger cost: they fill
 * V8's external-memory budget, and every overflow is a full mark-compact (docs/benchmarks.md). Undefined when the
 * addon is not built: the Node edges then use node:crypto (adapters/node-aead).
 */
import { createRequire } from 'node:module';
import { AEAD_TAG_BYTES } from '../constants.ts';
import type { AeadFactory } from '../crypto.ts';
import { AuthenticationError } from '../errors.ts';

/** Where scripts/build-native.js writes the addon. */
export const NATIVE_AEAD_PATH = new URL('../../native/aead/build/ferry_aead.node', import.meta.url).pathname;

/** An OpenSSL cipher context, freed when the garbage collector drops it. */
type CipherContext = { readonly __brand: 'CipherContext' };

interface FerryAeadAddon {
  newContext(key: Uint8Array, encrypt: boolean): CipherContext;
  /** Encrypts the pieces (as one plaintext) into out[offset...], the tag after them; returns the end offset. */
  seal(context: CipherContext, nonce: Uint8Array, associatedData: Uint8Array, out: Uint8Array, offset: number, pieces: readonly Uint8Array[]): number;
  /** Decrypts ciphertext ‖ tag over itself; false (and garbage bytes) when it is not authentic. */
  openInPlace(context: CipherContext, nonce: Uint8Array, associatedData: Uint8Array, sealed: Uint8Array): boolean;
}

function loadAddon(): FerryAeadAddon | undefined {
  try {
    return createRequire(import.meta.url)(NATIVE_AEAD_PATH) as FerryAeadAddon;
  } catch {
    return undefined;
  }
}

const addon = loadAddon();

/** A new array of `length` bytes, not zeroed first: every byte is written by the caller before anyone reads it. */
function uninitialized(length: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
}

const notAuthentic = (): AuthenticationError => new AuthenticationError('a record failed authentication: it was altered, forged or sent under another key');

function nativeFactory(native: FerryAeadAddon): AeadFactory {
  return (key) => {
    // A cipher instance in the protocol only seals or only opens (one per direction); each context is made on first use.
    let sealing: CipherContext | undefined;
    let opening: CipherContext | undefined;
    const sealInto = (out: Uint8Array, offset: number, nonce: Uint8Array, pieces: readonly Uint8Array[], associatedData: Uint8Array): Uint8Array => {
      sealing ??= native.newContext(key, true);
      native.seal(sealing, nonce, associatedData, out, offset, pieces);
      return out;
    };
    const openInPlace = (nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array => {
      if (sealed.length < AEAD_TAG_BYTES) throw new AuthenticationError('a record is shorter than its authentication tag');
      opening ??= native.newContext(key, false);
      if (!native.openInPlace(opening, nonce, associatedData, sealed)) throw notAuthentic();
      return sealed.subarray(0, sealed.length - AEAD_TAG_BYTES);
    };
    return {
      seal: (nonce, plaintext, associatedData) => sealInto(uninitialized(plaintext.length + AEAD_TAG_BYTES), 0, nonce, [plaintext], associatedData),
      sealAfter(prefix, nonce, plaintext, associatedData, allocate = uninitialized) {
        const pieces = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
        let plaintextLength = 0;
        for (const piece of pieces) plaintextLength += piece.length;
        const out = allocate(prefix.length + plaintextLength + AEAD_TAG_BYTES);
        out.set(prefix, 0);
        return sealInto(out, prefix.length, nonce, pieces, associatedData);
      },
      // open() must leave its input as it was (the Noise handshake hashes the ciphertext after opening it). A copy made
      // by hand: a Buffer's slice() is a view, not a copy.
      open(nonce, ciphertext, associatedData) {
        const copy = uninitialized(ciphertext.length);
        copy.set(ciphertext);
        return openInPlace(nonce, copy, associatedData);
      },
      openInPlace,
    };
  };
}

/** ChaCha20-Poly1305 through the addon, or undefined when it is not built. */
export const nativeChaCha20Poly1305: AeadFactory | undefined = addon === undefined ? undefined : nativeFactory(addon);
