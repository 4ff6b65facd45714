/**
 * @module channel
 * Sealing and opening SEALED records with the keys from the handshake. The sequence number is sent in the clear
 * (so the session can reorder, replay and acknowledge by number), authenticated as associated data, and used as the
 * nonce: a record moved to another number or direction fails.
 */

import { concatBytes, readUint64, viewOf } from './bytes.ts';
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
   * Opens record `seq`, in whatever order records come (several paths deliver them): the sequence number is the nonce
   * and is authenticated, so a record moved to another number or direction fails. Throws AuthenticationError if
   * forged. Receiving each number once, and in order, is the session's job (reorder-buffer.ts). The record's bytes
   * are the channel's from here on: the cipher may decrypt them in place.
   */
  open(seq: number, header: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (header.length !== SEALED_HEADER_BYTES || readUint64(viewOf(header), 1) !== seq)
      throw new SequenceError(`the header does not carry record number ${seq}`);
    const nonce = sequenceNonce(header);
    return this.receiver.openInPlace !== undefined ? this.receiver.openInPlace(nonce, ciphertext, header) : this.receiver.open(nonce, ciphertext, header);
  }
}
