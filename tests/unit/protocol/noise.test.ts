import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeChaCha20Poly1305 } from '../../../protocol/adapters/native-aead.ts';
import { nodeChaCha20Poly1305, nodeCryptoChaCha20Poly1305 } from '../../../protocol/adapters/node-aead.ts';
import { concatBytes } from '../../../protocol/bytes.ts';
import { SealedChannel } from '../../../protocol/channel.ts';
import { RecordType } from '../../../protocol/constants.ts';
import { generateKeyPair, keyPairFromSecret, nobleChaCha20Poly1305 } from '../../../protocol/crypto.ts';
import { AuthenticationError } from '../../../protocol/errors.ts';
import { CipherState, NkInitiator, NkResponder } from '../../../protocol/noise.ts';
import { decodeRecord } from '../../../protocol/record.ts';
import vector from './noise-nk-vector.json' with { type: 'json' };

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

for (const [name, aead] of [
  ['noble', nobleChaCha20Poly1305],
  ['node:crypto', nodeCryptoChaCha20Poly1305],
  // Built by npm test's setup; native-aead.test.ts fails with the reason when it is not.
  ...(nativeChaCha20Poly1305 === undefined ? [] : ([['native addon', nativeChaCha20Poly1305]] as const)),
] as const) {
  test(`Noise NK matches the Cacophony vector (${name} AEAD)`, () => {
    const initiator = new NkInitiator(vector.protocol_name, hex(vector.init_remote_static), {
      prologue: hex(vector.init_prologue),
      aead,
      ephemeral: keyPairFromSecret(hex(vector.init_ephemeral)),
    });
    const responder = new NkResponder(vector.protocol_name, keyPairFromSecret(hex(vector.resp_static)), {
      prologue: hex(vector.resp_prologue),
      aead,
      ephemeral: keyPairFromSecret(hex(vector.resp_ephemeral)),
    });
    const [m0, m1, ...transport] = vector.messages;
    assert.ok(m0 && m1);
    const message1 = initiator.writeMessage1(hex(m0.payload));
    assert.equal(toHex(message1), m0.ciphertext);
    assert.equal(toHex(responder.readMessage1(message1)), m0.payload);
    const { message: message2, result: responderResult } = responder.writeMessage2(hex(m1.payload));
    assert.equal(toHex(message2), m1.ciphertext);
    const { payload, result: initiatorResult } = initiator.readMessage2(message2);
    assert.equal(toHex(payload), m1.payload);
    assert.deepEqual(initiatorResult.handshakeHash, responderResult.handshakeHash);
    assert.deepEqual(initiatorResult.sendKey, responderResult.receiveKey);
    assert.deepEqual(initiatorResult.resumeSecret, responderResult.resumeSecret);

    // Transport messages alternate initiator -> responder, responder -> initiator, with counter nonces.
    const initiatorSend = new CipherState(aead);
    initiatorSend.initializeKey(initiatorResult.sendKey);
    const responderSend = new CipherState(aead);
    responderSend.initializeKey(responderResult.sendKey);
    transport.forEach((message, index) => {
      const sender = index % 2 === 0 ? initiatorSend : responderSend;
      assert.equal(toHex(sender.encryptWithAd(new Uint8Array(0), hex(message.payload))), message.ciphertext, `transport message ${index}`);
    });
  });
}

test('a HELLO made for another exit key fails authentication at the exit', () => {
  const realExit = generateKeyPair();
  const otherExit = generateKeyPair();
  const options = { prologue: new Uint8Array(0), aead: nobleChaCha20Poly1305 };
  const initiator = new NkInitiator(vector.protocol_name, otherExit.publicKey, options);
  const responder = new NkResponder(vector.protocol_name, realExit, options);
  assert.throws(() => responder.readMessage1(initiator.writeMessage1(new Uint8Array(4))), AuthenticationError);
});

test('a WELCOME not made by the exit fails authentication at the client', () => {
  const exit = generateKeyPair();
  const impostor = generateKeyPair();
  const options = { prologue: new Uint8Array(0), aead: nobleChaCha20Poly1305 };
  const initiator = new NkInitiator(vector.protocol_name, exit.publicKey, options);
  const message1 = initiator.writeMessage1(new Uint8Array(0));
  // An impostor cannot read message 1 (it lacks the exit's key), so it answers with a message of its own.
  const fake = new NkResponder(vector.protocol_name, impostor, options);
  assert.throws(() => fake.readMessage1(message1), AuthenticationError);
  const forged = new Uint8Array(message1.length);
  forged.set(impostor.publicKey);
  assert.throws(() => initiator.readMessage2(forged), AuthenticationError);
});

test("a record sealed in pieces by the Node edges' AEAD opens with @noble and equals sealing the whole", () => {
  const keys = { sendKey: new Uint8Array(32).fill(7), receiveKey: new Uint8Array(32).fill(9) };
  const header = Uint8Array.of(1, 2, 3, 4, 5);
  const data = new Uint8Array(70_000).map((_, index) => index % 251);
  const inPieces = new SealedChannel(keys, nodeChaCha20Poly1305).seal([header, data]);
  const whole = new SealedChannel(keys, nobleChaCha20Poly1305).seal(concatBytes(header, data));
  assert.deepEqual(inPieces, whole);
  const receiver = new SealedChannel({ sendKey: keys.receiveKey, receiveKey: keys.sendKey }, nobleChaCha20Poly1305);
  const record = decodeRecord(inPieces);
  assert.equal(record.type, RecordType.SEALED);
  if (record.type === RecordType.SEALED) assert.deepEqual(receiver.open(record.seq, record.header, record.ciphertext), concatBytes(header, data));
});
