import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromBase64Url, toBase64Url, utf8 } from '../../../protocol/bytes.ts';
import { generateKeyPair } from '../../../protocol/crypto.ts';
import {
  armorReplyPage,
  MAX_PADDED_REQUEST_BYTES,
  openRendezvousRequest,
  pad,
  RendezvousEnvelopeError,
  sealRendezvousRequest,
  unarmorReplyPage,
  unpad,
} from '../../../protocol/rendezvous-envelope.ts';

const offerRequest = (candidates: number): Uint8Array =>
  utf8(
    JSON.stringify({
      offer: { type: 'offer', sdp: `v=0\r\n${'a=candidate:1 1 udp 2122260223 192.0.2.7 50000 typ host\r\n'.repeat(candidates)}` },
      exitId: 'local',
      nat: 'unknown',
    }),
  );

const errorCode = (code: string) => (error: unknown) => error instanceof RendezvousEnvelopeError && error.code === code;

describe('rendezvous envelope', () => {
  test('a request opens only with the broker key, and its reply only for the client that sealed it', () => {
    const broker = generateKeyPair();
    const request = offerRequest(3);
    const sealed = sealRendezvousRequest(broker.publicKey, request);
    const opened = openRendezvousRequest(broker, sealed.envelope);
    assert.deepEqual(opened.request, request);
    const reply = utf8('{"status":200,"body":{"answer":{"type":"answer","sdp":"v=0"}}}');
    assert.deepEqual(sealed.openReply(opened.sealReply(reply)), reply);
  });

  test('neither the SDP nor any address is readable in what travels', () => {
    const broker = generateKeyPair();
    const sealed = sealRendezvousRequest(broker.publicKey, offerRequest(3));
    const carried = Buffer.from(fromBase64Url(sealed.envelope)).toString('latin1') + sealed.envelope;
    for (const secret of ['a=candidate', '192.0.2.7', 'v=0', 'offer']) assert.ok(!carried.includes(secret), secret);
  });

  test('every envelope is new, even for the same request (every cache URL is unique)', () => {
    const broker = generateKeyPair();
    const request = offerRequest(1);
    assert.notEqual(sealRendezvousRequest(broker.publicKey, request).envelope, sealRendezvousRequest(broker.publicKey, request).envelope);
  });

  test('padding hides how many candidates an offer had: 1 and 6 give envelopes of one size', () => {
    const broker = generateKeyPair();
    const one = sealRendezvousRequest(broker.publicKey, offerRequest(1)).envelope;
    const six = sealRendezvousRequest(broker.publicKey, offerRequest(6)).envelope;
    assert.equal(one.length, six.length);
    assert.deepEqual(unpad(pad(utf8('x'), 1024)), utf8('x'));
    assert.equal(pad(new Uint8Array(1020), 8192).length, 1024);
    assert.equal(pad(new Uint8Array(1021), 8192).length, 2048);
  });

  test('a request larger than an envelope may carry is refused when sealed, with the limit in the message', () => {
    const broker = generateKeyPair();
    assert.throws(
      () => sealRendezvousRequest(broker.publicKey, new Uint8Array(MAX_PADDED_REQUEST_BYTES)),
      (error: unknown) => {
        return errorCode('ENVELOPE_TOO_LARGE')(error) && /at most 8188 bytes/.test((error as Error).message);
      },
    );
  });

  test("a request sealed to another broker's key does not open", () => {
    const sealed = sealRendezvousRequest(generateKeyPair().publicKey, offerRequest(1));
    assert.throws(() => openRendezvousRequest(generateKeyPair(), sealed.envelope), errorCode('ENVELOPE_NOT_AUTHENTIC'));
  });

  test('an altered request or reply does not open; nor does a reply to another request', () => {
    const broker = generateKeyPair();
    const sealed = sealRendezvousRequest(broker.publicKey, offerRequest(1));
    const flip = (text: string, at: number): string => {
      const bytes = fromBase64Url(text);
      bytes[at] = (bytes[at] ?? 0) ^ 1;
      return toBase64Url(bytes);
    };
    assert.throws(() => openRendezvousRequest(broker, flip(sealed.envelope, 100)), errorCode('ENVELOPE_NOT_AUTHENTIC'));
    const opened = openRendezvousRequest(broker, sealed.envelope);
    const reply = opened.sealReply(utf8('{}'));
    assert.throws(() => sealed.openReply(flip(reply, 100)), errorCode('ENVELOPE_NOT_AUTHENTIC'));
    const other = sealRendezvousRequest(broker.publicKey, offerRequest(1));
    const otherReply = openRendezvousRequest(broker, other.envelope).sealReply(utf8('{}'));
    const fresh = sealRendezvousRequest(broker.publicKey, offerRequest(1));
    assert.throws(() => fresh.openReply(otherReply), errorCode('ENVELOPE_NOT_AUTHENTIC'));
  });

  test('malformed envelopes are refused with BAD_ENVELOPE: not base64url, truncated, unknown version', () => {
    const broker = generateKeyPair();
    const good = sealRendezvousRequest(broker.publicKey, offerRequest(1)).envelope;
    assert.throws(() => openRendezvousRequest(broker, 'not base64url!'), errorCode('BAD_ENVELOPE'));
    assert.throws(() => openRendezvousRequest(broker, good.slice(0, 40)), errorCode('BAD_ENVELOPE'));
    const bytes = fromBase64Url(good);
    bytes[0] = 2;
    assert.throws(() => openRendezvousRequest(broker, toBase64Url(bytes)), /version 2/);
    assert.throws(() => openRendezvousRequest(broker, 'A'.repeat(30_000)), errorCode('ENVELOPE_TOO_LARGE'));
  });

  test('an armoured page reads back after a cache re-wraps and re-indents it', () => {
    const broker = generateKeyPair();
    const sealed = sealRendezvousRequest(broker.publicKey, offerRequest(2));
    const reply = openRendezvousRequest(broker, sealed.envelope).sealReply(utf8('{"status":200}'));
    const page = armorReplyPage(reply);
    const rewrapped = page.replace(/\n/g, '\r\n    ').replace('<pre>', '<PRE class="x">').replace('</pre>', '</PRE>');
    assert.equal(unarmorReplyPage(rewrapped), reply);
    assert.deepEqual(sealed.openReply(unarmorReplyPage(rewrapped)), utf8('{"status":200}'));
    assert.throws(() => unarmorReplyPage('<html><body>404 Not Found</body></html>'), errorCode('BAD_ENVELOPE'));
    assert.throws(() => unarmorReplyPage('<pre>not an envelope!</pre>'), errorCode('BAD_ENVELOPE'));
  });
});
