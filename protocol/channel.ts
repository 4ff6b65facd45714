/**
 * @module channel
 * Sealing and opening SEALED records with the keys from the handshake. The sequence number is sent in the clear
 * (so a later session layer can replay and acknowledge by number), authenticated as associated data, and used as the
 * nonce: a record that is replayed, reordered or moved between directions fails.
 */

import { concatBytes } from './bytes.ts';
import { SEALED_HEADER_BYTES } from './constants.ts';
import type { AeadCipher, AeadFactory } from './crypto.ts';
import { SequenceError } from './errors.ts';
import { encodeSealedHeader } from './record.ts';

/** Nonce for ChaCha20-Poly1305: 4 zero bytes, then the sequence number (u64 BE). Each direction has its own key. */
function sequenceNonce(header: Uint8Array): Uint8Array {
  const nonce = new Uint8Array(12);
  nonce.set(header.subarray(1, SEALED_HEADER_BYTES), 4);
  return nonce;
}

export class SealedChannel {
  private readonly sender: AeadCipher;
  private readonly receiver: AeadCipher;
  /** Sequence number of the next record this side sends. */
  nextSendSeq = 0;
  /** Sequence number the next received record must carry. */
  nextReceiveSeq = 0;

  constructor(keys: { sendKey: Uint8Array; receiveKey: Uint8Array }, aead: AeadFactory) {
    this.sender = aead(keys.sendKey);
    this.receiver = aead(keys.receiveKey);
  }

  /**
   * Seals `plaintext`, or its pieces one after another as if concatenated, as the next record; into memory from
   * `allocate` when the cipher can (record-pool.ts).
   */
  seal(plaintext: Uint8Array | readonly Uint8Array[], allocate?: (length: number) => Uint8Array): Uint8Array {
    const header = encodeSealedHeader(this.nextSendSeq++);
    if (this.sender.sealAfter !== undefined) return this.sender.sealAfter(header, sequenceNonce(header), plaintext, header, allocate);
    if (!(plaintext instanceof Uint8Array)) plaintext = concatBytes(...plaintext);
    const ciphertext = this.sender.seal(sequenceNonce(header), plaintext, header);
    const record = new Uint8Array(SEALED_HEADER_BYTES + ciphertext.length);
    record.set(header, 0);
    record.set(ciphertext, SEALED_HEADER_BYTES);
    return record;
  }

  /**
   * Opens the next record; throws SequenceError if it is not the one expected, AuthenticationError if forged. The
   * record's bytes are the channel's from here on: the cipher may decrypt them in place.
   */
  open(seq: number, header: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (seq !== this.nextReceiveSeq) {
      throw new SequenceError(`expected record ${this.nextReceiveSeq}, got ${seq} (replayed, reordered or lost)`);
    }
    const nonce = sequenceNonce(header);
    const plaintext =
      this.receiver.openInPlace !== undefined ? this.receiver.openInPlace(nonce, ciphertext, header) : this.receiver.open(nonce, ciphertext, header);
    this.nextReceiveSeq++;
    return plaintext;
  }
}
