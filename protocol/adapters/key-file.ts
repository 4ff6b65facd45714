/**
 * @module adapters/key-file
 * A server's static X25519 key pair in a file: the exit's (clients pin its public key, from the signed exit list) and
 * the broker's rendezvous key (clients seal their offers to it, from the same list). Both must survive restarts, so
 * the secret is kept in a file readable only by its owner. Without a file a fresh key is made for this run.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fromBase64Url, toBase64Url } from '../bytes.ts';
import { generateKeyPair, type KeyPair, keyPairFromSecret } from '../crypto.ts';

export class KeyFileError extends Error {
  override name = 'KeyFileError';
  readonly code = 'FERRY_ERR_KEY_FILE';
}

/** Reads the secret key (base64url, 32 bytes) from `path`, creating the file with a new key if it does not exist. */
export function loadOrCreateKeyPair(path: string | undefined): KeyPair {
  if (!path) return generateKeyPair();
  if (!existsSync(path)) {
    const pair = generateKeyPair();
    writeFileSync(path, `${toBase64Url(pair.secretKey)}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    return pair;
  }
  let secret: Uint8Array;
  try {
    secret = fromBase64Url(readFileSync(path, 'utf8').trim());
  } catch {
    throw new KeyFileError(`${path} does not hold a base64url key; delete it to make a new one (clients must then learn the new public key)`);
  }
  if (secret.length !== 32) throw new KeyFileError(`${path} holds ${secret.length} bytes; an X25519 secret key is 32`);
  return keyPairFromSecret(secret);
}
