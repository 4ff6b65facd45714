/**
 * @module noise
 * The Noise_NK_25519_ChaChaPoly_SHA256 handshake (Noise Protocol Framework, revision 34), and only that pattern:
 *
 *   NK:
 *     <- s
 *     ...
 *     -> e, es      (client: HELLO)
 *     <- e, ee      (exit: WELCOME)
 *
 * The client knows the exit's static key in advance, so the exit is authenticated and the client stays anonymous.
 * The state machine follows the spec's CipherState / SymmetricState / HandshakeState objects; it is checked against
 * the Cacophony test vector in tests/unit/protocol/noise.test.ts.
 */

import { concatBytes, utf8 } from './bytes.ts';
import { AEAD_TAG_BYTES, DH_PUBLIC_KEY_BYTES } from './constants.ts';
import { type AeadCipher, type AeadFactory, dh, generateKeyPair, hash, hmacSha256, type KeyPair } from './crypto.ts';
import { AuthenticationError, MalformedInputError } from './errors.ts';

const HASH_BYTES = 32;
const EMPTY = new Uint8Array(0);

/** Noise's HKDF (§4.3): HMAC-SHA256 based, returning two outputs. */
function hkdf2(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array): [Uint8Array, Uint8Array] {
  const tempKey = hmacSha256(chainingKey, inputKeyMaterial);
  const output1 = hmacSha256(tempKey, Uint8Array.of(0x01));
  const output2 = hmacSha256(tempKey, concatBytes(output1, Uint8Array.of(0x02)));
  return [output1, output2];
}

/** ChaChaPoly nonce (§12.3): 32 bits of zeros, then the 64-bit counter little-endian. */
function noiseNonce(counter: number): Uint8Array {
  const nonce = new Uint8Array(12);
  const view = new DataView(nonce.buffer);
  view.setUint32(4, counter >>> 0, true);
  view.setUint32(8, Math.floor(counter / 0x1_0000_0000), true);
  return nonce;
}

/** Noise CipherState (§5.1). Used for the handshake payloads and, in tests, for the vector's transport messages. */
export class CipherState {
  private cipher: AeadCipher | undefined;
  private counter = 0;
  constructor(private readonly aead: AeadFactory) {}

  initializeKey(key: Uint8Array): void {
    this.cipher = this.aead(key);
    this.counter = 0;
  }

  hasKey(): boolean {
    return this.cipher !== undefined;
  }

  encryptWithAd(associatedData: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.cipher) return plaintext;
    return this.cipher.seal(noiseNonce(this.counter++), plaintext, associatedData);
  }

  decryptWithAd(associatedData: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (!this.cipher) return ciphertext;
    const plaintext = this.cipher.open(noiseNonce(this.counter), ciphertext, associatedData);
    this.counter++;
    return plaintext;
  }
}

/** Noise SymmetricState (§5.2). */
class SymmetricState {
  private chainingKey: Uint8Array;
  handshakeHash: Uint8Array;
  readonly cipherState: CipherState;

  constructor(protocolName: string, aead: AeadFactory) {
    const name = utf8(protocolName);
    if (name.length <= HASH_BYTES) {
      this.handshakeHash = new Uint8Array(HASH_BYTES);
      this.handshakeHash.set(name);
    } else {
      this.handshakeHash = hash(name);
    }
    this.chainingKey = this.handshakeHash;
    this.cipherState = new CipherState(aead);
  }

  mixKey(inputKeyMaterial: Uint8Array): void {
    const [chainingKey, tempKey] = hkdf2(this.chainingKey, inputKeyMaterial);
    this.chainingKey = chainingKey;
    this.cipherState.initializeKey(tempKey);
  }

  mixHash(data: Uint8Array): void {
    this.handshakeHash = hash(concatBytes(this.handshakeHash, data));
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.cipherState.encryptWithAd(this.handshakeHash, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.cipherState.decryptWithAd(this.handshakeHash, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Split (§5.2): the initiator->responder key, then the responder->initiator key. */
  split(): { initiatorToResponder: Uint8Array; responderToInitiator: Uint8Array } {
    const [first, second] = hkdf2(this.chainingKey, EMPTY);
    return { initiatorToResponder: first, responderToInitiator: second };
  }

  /** Extra keying material bound to this handshake, for labels other than the transport keys (e.g. resumption). */
  exportSecret(label: string): Uint8Array {
    return hkdf2(this.chainingKey, utf8(`ferry export: ${label}`))[0];
  }
}

/** What a completed handshake yields on either side. */
export interface HandshakeResult {
  /** Key for records this side sends. */
  sendKey: Uint8Array;
  /** Key for records this side receives. */
  receiveKey: Uint8Array;
  /** The final handshake hash: a unique, public-to-both-ends identifier of this handshake (channel binding). */
  handshakeHash: Uint8Array;
  /** A secret derived from the handshake, known only to the client and the exit. */
  resumeSecret: Uint8Array;
}

export interface HandshakeOptions {
  prologue: Uint8Array;
  aead: AeadFactory;
  /** For test vectors only: a fixed ephemeral key pair. Production code lets it be generated. */
  ephemeral?: KeyPair;
}

function finish(state: SymmetricState, isInitiator: boolean): HandshakeResult {
  const { initiatorToResponder, responderToInitiator } = state.split();
  return {
    sendKey: isInitiator ? initiatorToResponder : responderToInitiator,
    receiveKey: isInitiator ? responderToInitiator : initiatorToResponder,
    handshakeHash: state.handshakeHash,
    resumeSecret: state.exportSecret('resume'),
  };
}

/** The client side: knows the exit's static public key in advance. */
export class NkInitiator {
  private readonly state: SymmetricState;
  private readonly ephemeral: KeyPair;
  private step: 'write-1' | 'read-2' | 'done' = 'write-1';

  constructor(
    protocolName: string,
    private readonly responderStaticKey: Uint8Array,
    options: HandshakeOptions,
  ) {
    if (responderStaticKey.length !== DH_PUBLIC_KEY_BYTES) throw new MalformedInputError('the exit public key must be 32 bytes');
    this.state = new SymmetricState(protocolName, options.aead);
    this.state.mixHash(options.prologue);
    this.state.mixHash(responderStaticKey); // pre-message: <- s
    this.ephemeral = options.ephemeral ?? generateKeyPair();
  }

  /** -> e, es, payload */
  writeMessage1(payload: Uint8Array): Uint8Array {
    if (this.step !== 'write-1') throw new MalformedInputError('handshake message 1 was already written');
    this.step = 'read-2';
    this.state.mixHash(this.ephemeral.publicKey);
    this.state.mixKey(dh(this.ephemeral.secretKey, this.responderStaticKey));
    return concatBytes(this.ephemeral.publicKey, this.state.encryptAndHash(payload));
  }

  /** <- e, ee, payload. Throws AuthenticationError if the reply was not made by the holder of the exit's key. */
  readMessage2(message: Uint8Array): { payload: Uint8Array; result: HandshakeResult } {
    if (this.step !== 'read-2') throw new MalformedInputError('handshake message 2 arrived out of order');
    if (message.length < DH_PUBLIC_KEY_BYTES + AEAD_TAG_BYTES) throw new MalformedInputError('handshake message 2 is truncated');
    this.step = 'done';
    const responderEphemeral = message.subarray(0, DH_PUBLIC_KEY_BYTES);
    this.state.mixHash(responderEphemeral);
    this.state.mixKey(dh(this.ephemeral.secretKey, responderEphemeral));
    const payload = this.state.decryptAndHash(message.subarray(DH_PUBLIC_KEY_BYTES));
    return { payload, result: finish(this.state, true) };
  }
}

/** The exit side: holds the static key pair the clients know. */
export class NkResponder {
  private readonly state: SymmetricState;
  private readonly ephemeral: KeyPair;
  private initiatorEphemeral: Uint8Array | undefined;
  private step: 'read-1' | 'write-2' | 'done' = 'read-1';

  constructor(
    protocolName: string,
    private readonly staticKeyPair: KeyPair,
    options: HandshakeOptions,
  ) {
    this.state = new SymmetricState(protocolName, options.aead);
    this.state.mixHash(options.prologue);
    this.state.mixHash(staticKeyPair.publicKey); // pre-message: <- s
    this.ephemeral = options.ephemeral ?? generateKeyPair();
  }

  /** -> e, es, payload. Throws AuthenticationError if the client used another exit's key. */
  readMessage1(message: Uint8Array): Uint8Array {
    if (this.step !== 'read-1') throw new MalformedInputError('handshake message 1 arrived twice');
    if (message.length < DH_PUBLIC_KEY_BYTES + AEAD_TAG_BYTES) throw new MalformedInputError('handshake message 1 is truncated');
    this.step = 'write-2';
    const initiatorEphemeral = message.slice(0, DH_PUBLIC_KEY_BYTES);
    this.initiatorEphemeral = initiatorEphemeral;
    this.state.mixHash(initiatorEphemeral);
    this.state.mixKey(dh(this.staticKeyPair.secretKey, initiatorEphemeral));
    try {
      return this.state.decryptAndHash(message.subarray(DH_PUBLIC_KEY_BYTES));
    } catch (error) {
      if (error instanceof AuthenticationError) {
        throw new AuthenticationError("the handshake was not made for this exit's key (wrong exit, or a forged HELLO)");
      }
      throw error;
    }
  }

  /** <- e, ee, payload */
  writeMessage2(payload: Uint8Array): { message: Uint8Array; result: HandshakeResult } {
    if (this.step !== 'write-2' || !this.initiatorEphemeral) throw new MalformedInputError('handshake message 2 written out of order');
    this.step = 'done';
    this.state.mixHash(this.ephemeral.publicKey);
    this.state.mixKey(dh(this.ephemeral.secretKey, this.initiatorEphemeral));
    const message = concatBytes(this.ephemeral.publicKey, this.state.encryptAndHash(payload));
    return { message, result: finish(this.state, false) };
  }
}
