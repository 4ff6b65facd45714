/**
 * @module rendezvous-envelope
 * What a client and the broker exchange when the client asks for a volunteer, sealed so that whatever carries it (a
 * CDN in front of the broker, a cache, a censor's middlebox) reads neither the SDP nor the address candidates in it.
 *
 * Both messages are one Noise_NK handshake (protocol/noise.ts) with its own prologue, so nothing sealed here can be
 * taken for an exit handshake or the other way round:
 *
 *     request:  0x01 || e || AEAD(padded request)      (Noise message 1: -> e, es; to the broker's static key)
 *     reply:    0x01 || e || AEAD(padded reply)        (Noise message 2: <- e, ee; only that client can open it)
 *
 * and travel as base64url text: in a POST body, in a GET URL's path (the cache channel), or armoured in an HTML page
 * (armorReplyPage). Only the broker's key opens a request; only the client that sealed it opens the reply, and the
 * reply is forward secret. Every envelope is unique (a fresh ephemeral key each time), so every cache URL is too.
 *
 * Padding: the plaintext is `u32 length || body || zeros` up to the next of a few fixed sizes (PADDED_SIZES), so an
 * observer learns only which size class an offer fell in, not how many candidates it had.
 */

import { concatBytes, fromBase64Url, toBase64Url, utf8 } from './bytes.ts';
import { AEAD_TAG_BYTES, DH_PUBLIC_KEY_BYTES, NOISE_PROTOCOL_NAME } from './constants.ts';
import { type AeadFactory, type KeyPair, nobleChaCha20Poly1305 } from './crypto.ts';
import { AuthenticationError, MalformedInputError } from './errors.ts';
import { NkInitiator, NkResponder } from './noise.ts';

/** The first byte of every envelope: the format this code writes and reads. */
export const RENDEZVOUS_ENVELOPE_VERSION = 1;
/** Binds both messages to rendezvous (an exit handshake uses another prologue). */
export const RENDEZVOUS_PROLOGUE = 'ferry rendezvous v1';
/**
 * The sizes a padded plaintext may have (bytes). A request is at most the fourth: its envelope, in base64url, must fit
 * a GET request line through caches and Node's 16 KiB header limit (8,241 bytes -> 10,988 characters).
 */
export const PADDED_SIZES: readonly number[] = Object.freeze([1024, 2048, 4096, 8192, 16384]);
/** Largest padded request plaintext (bytes). */
export const MAX_PADDED_REQUEST_BYTES = 8192;
/** Largest padded reply plaintext (bytes): an answer SDP is a few KB. */
export const MAX_PADDED_REPLY_BYTES = 16384;
const LENGTH_PREFIX_BYTES = 4;
/** Longest envelope text accepted (base64url characters), either way. */
export const MAX_ENVELOPE_CHARS = Math.ceil(((1 + DH_PUBLIC_KEY_BYTES + MAX_PADDED_REPLY_BYTES + AEAD_TAG_BYTES) * 4) / 3);

export type RendezvousEnvelopeErrorCode =
  /** Not an envelope: wrong version, not base64url, too short, or its padding is wrong. */
  | 'BAD_ENVELOPE'
  /** The message is too large to seal (or, read, larger than any envelope may be). */
  | 'ENVELOPE_TOO_LARGE'
  /** It does not open: sealed to another broker's key, altered on the way, or not the reply to this request. */
  | 'ENVELOPE_NOT_AUTHENTIC';

export class RendezvousEnvelopeError extends Error {
  override readonly name = 'RendezvousEnvelopeError';
  constructor(
    readonly code: RendezvousEnvelopeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** `body` behind its length, padded with zeros to the smallest PADDED_SIZES entry that holds it and not above `max`. */
export function pad(body: Uint8Array, max: number): Uint8Array {
  const needed = LENGTH_PREFIX_BYTES + body.length;
  const size = PADDED_SIZES.find((candidate) => candidate >= needed && candidate <= max);
  if (size === undefined) {
    throw new RendezvousEnvelopeError('ENVELOPE_TOO_LARGE', `a rendezvous message may hold at most ${max - LENGTH_PREFIX_BYTES} bytes, not ${body.length}`);
  }
  const padded = new Uint8Array(size);
  new DataView(padded.buffer).setUint32(0, body.length);
  padded.set(body, LENGTH_PREFIX_BYTES);
  return padded;
}

/** The body inside `padded`; throws BAD_ENVELOPE when the size is not one of PADDED_SIZES or the length lies. */
export function unpad(padded: Uint8Array): Uint8Array {
  if (!PADDED_SIZES.includes(padded.length))
    throw new RendezvousEnvelopeError('BAD_ENVELOPE', `a padded rendezvous message has ${padded.length} bytes, not one of ${PADDED_SIZES.join(', ')}`);
  const length = new DataView(padded.buffer, padded.byteOffset, padded.byteLength).getUint32(0);
  if (length > padded.length - LENGTH_PREFIX_BYTES) throw new RendezvousEnvelopeError('BAD_ENVELOPE', 'a rendezvous message claims more bytes than it holds');
  return padded.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + length);
}

/** The Noise message inside an envelope's text, checked for version and size only. */
function decodeEnvelope(text: string, maxPadded: number): Uint8Array {
  if (text.length > MAX_ENVELOPE_CHARS)
    throw new RendezvousEnvelopeError('ENVELOPE_TOO_LARGE', `a rendezvous envelope has at most ${MAX_ENVELOPE_CHARS} characters, not ${text.length}`);
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new RendezvousEnvelopeError('BAD_ENVELOPE', 'a rendezvous envelope is base64url text (letters, digits, - and _)');
  const bytes = fromBase64Url(text);
  if (bytes.length < 1 + DH_PUBLIC_KEY_BYTES + AEAD_TAG_BYTES + (PADDED_SIZES[0] ?? 0))
    throw new RendezvousEnvelopeError('BAD_ENVELOPE', 'the rendezvous envelope is truncated');
  if (bytes[0] !== RENDEZVOUS_ENVELOPE_VERSION)
    throw new RendezvousEnvelopeError(
      'BAD_ENVELOPE',
      `rendezvous envelope version ${bytes[0]} is not known here (this code reads ${RENDEZVOUS_ENVELOPE_VERSION})`,
    );
  if (bytes.length > 1 + DH_PUBLIC_KEY_BYTES + maxPadded + AEAD_TAG_BYTES)
    throw new RendezvousEnvelopeError('ENVELOPE_TOO_LARGE', 'the rendezvous envelope is larger than any request may be');
  return bytes.subarray(1);
}

function encodeEnvelope(message: Uint8Array): string {
  return toBase64Url(concatBytes(Uint8Array.of(RENDEZVOUS_ENVELOPE_VERSION), message));
}

function notAuthentic(what: string): RendezvousEnvelopeError {
  return new RendezvousEnvelopeError('ENVELOPE_NOT_AUTHENTIC', what);
}

/** A sealed request, and the one way to read its reply. */
export interface SealedRendezvousRequest {
  /** base64url text to carry to the broker. */
  readonly envelope: string;
  /** Opens the broker's reply envelope; throws RendezvousEnvelopeError when it is not the reply to this request. */
  openReply(replyEnvelope: string): Uint8Array;
}

/** Seals `request` (a client offer request, JSON bytes) to the broker's static X25519 key. */
export function sealRendezvousRequest(brokerPublicKey: Uint8Array, request: Uint8Array, aead: AeadFactory = nobleChaCha20Poly1305): SealedRendezvousRequest {
  const initiator = new NkInitiator(NOISE_PROTOCOL_NAME, brokerPublicKey, { prologue: utf8(RENDEZVOUS_PROLOGUE), aead });
  const envelope = encodeEnvelope(initiator.writeMessage1(pad(request, MAX_PADDED_REQUEST_BYTES)));
  let opened = false;
  return {
    envelope,
    openReply: (replyEnvelope) => {
      if (opened) throw new RendezvousEnvelopeError('BAD_ENVELOPE', 'this request has already read its reply');
      const message = decodeEnvelope(replyEnvelope, MAX_PADDED_REPLY_BYTES);
      opened = true;
      try {
        return unpad(initiator.readMessage2(message).payload);
      } catch (error) {
        if (error instanceof AuthenticationError)
          throw notAuthentic('the reply was not sealed by the broker for this request (altered on the way, or from someone else)');
        if (error instanceof MalformedInputError) throw new RendezvousEnvelopeError('BAD_ENVELOPE', error.message);
        throw error;
      }
    },
  };
}

/** An opened request, and the one way to answer it. */
export interface OpenedRendezvousRequest {
  readonly request: Uint8Array;
  /** Seals `reply` so that only the client that sent the request can read it; base64url text. */
  sealReply(reply: Uint8Array): string;
}

/** The broker's side: opens a request sealed to `brokerKeyPair`'s public key. */
export function openRendezvousRequest(brokerKeyPair: KeyPair, envelope: string, aead: AeadFactory = nobleChaCha20Poly1305): OpenedRendezvousRequest {
  const message = decodeEnvelope(envelope, MAX_PADDED_REQUEST_BYTES);
  const responder = new NkResponder(NOISE_PROTOCOL_NAME, brokerKeyPair, { prologue: utf8(RENDEZVOUS_PROLOGUE), aead });
  let padded: Uint8Array;
  try {
    padded = responder.readMessage1(message);
  } catch (error) {
    if (error instanceof AuthenticationError)
      throw notAuthentic("the request was not sealed to this broker's key (an old key, another network's, or altered on the way)");
    if (error instanceof MalformedInputError) throw new RendezvousEnvelopeError('BAD_ENVELOPE', error.message);
    throw error;
  }
  const request = unpad(padded);
  let sealed = false;
  return {
    request,
    sealReply: (reply) => {
      if (sealed) throw new RendezvousEnvelopeError('BAD_ENVELOPE', 'this request has already been answered');
      sealed = true;
      return encodeEnvelope(responder.writeMessage2(pad(reply, MAX_PADDED_REPLY_BYTES)).message);
    },
  };
}

/** Characters per line of an armoured page: short lines survive re-wrapping, and whitespace is ignored on reading. */
const ARMOR_LINE_CHARS = 76;

/**
 * A reply envelope as a small, cacheable HTML page (the cache channel): the base64url text in one <pre> element,
 * broken into lines. A cache may re-chunk, re-indent or re-wrap the page; unarmorReplyPage reads it back regardless.
 */
export function armorReplyPage(envelope: string): string {
  const lines: string[] = [];
  for (let at = 0; at < envelope.length; at += ARMOR_LINE_CHARS) lines.push(envelope.slice(at, at + ARMOR_LINE_CHARS));
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>ferry</title></head><body>\n<pre>\n${lines.join('\n')}\n</pre>\n</body></html>\n`;
}

/** The envelope text inside an armoured page; throws BAD_ENVELOPE when the page holds none. */
export function unarmorReplyPage(html: string): string {
  const open = /<pre(?:\s[^>]*)?>/i.exec(html);
  const close = open === null ? -1 : html.toLowerCase().indexOf('</pre>', open.index + open[0].length);
  if (open === null || close < 0) throw new RendezvousEnvelopeError('BAD_ENVELOPE', 'the page holds no <pre> element with a rendezvous reply');
  const text = html.slice(open.index + open[0].length, close).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new RendezvousEnvelopeError('BAD_ENVELOPE', "the page's <pre> element is not a base64url envelope");
  return text;
}
