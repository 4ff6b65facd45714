/**
 * @module offer-transport
 * How one client offer arrives and how its reply goes back, apart from what the broker does with it:
 *   plain         POST /v1/client: the JSON request as body; the reply as JSON, with its HTTP status.
 *   sealed POST   POST /v1/rendezvous: a sealed envelope as body (direct and fronted channels).
 *   sealed GET    GET /v1/rendezvous/ENVELOPE: the envelope in the path (the cache channel).
 * A sealed request is opened with the broker's rendezvous key; its reply, the status and body the plain route would
 * have sent, goes back sealed with HTTP 200 (as text, or as an HTML page for the cache, which turns server errors
 * into 404 and must not see the broker's refusals), so nothing on the way reads the SDP or learns the outcome.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nodeChaCha20Poly1305 } from '../protocol/adapters/node-aead.ts';
import { fromUtf8, utf8 } from '../protocol/bytes.ts';
import type { KeyPair } from '../protocol/crypto.ts';
import { armorReplyPage, openRendezvousRequest, RendezvousEnvelopeError } from '../protocol/rendezvous-envelope.ts';
import { BadRequestError } from './errors.ts';
import { readBodyText } from './http-body.ts';

export interface OfferTransport {
  /** The offer request's JSON text; throws a BrokerHttpError when it cannot be read or opened. */
  readRequest(): Promise<string>;
  /** Sends the broker's reply to this request. */
  reply(status: number, body: unknown, headers: Readonly<Record<string, string>>): void;
}

export interface BodyLimits {
  maxBodyBytes: number;
  bodyReadTimeoutMs: number;
}

export function plainOfferTransport(request: IncomingMessage, response: ServerResponse, limits: BodyLimits): OfferTransport {
  return {
    readRequest: () => readBodyText(request, limits),
    reply: (status, body, headers) => sendJson(response, status, body, headers),
  };
}

/** A sealed request whose envelope is the body (POST) or is given (GET, from the path). */
export function sealedOfferTransport(options: {
  keyPair: KeyPair;
  response: ServerResponse;
  /** The envelope: read from the body, or taken from the path. */
  readEnvelope: () => Promise<string>;
  /** 'text' for POST (direct, fronted), 'page' for GET (the cache channel). */
  replyAs: 'text' | 'page';
  /** Headers every reply carries (CORS). */
  headers: Readonly<Record<string, string>>;
}): OfferTransport {
  let sealReply: ((reply: Uint8Array) => string) | undefined;
  return {
    readRequest: async () => {
      const envelope = (await options.readEnvelope()).trim();
      try {
        const opened = openRendezvousRequest(options.keyPair, envelope, nodeChaCha20Poly1305);
        sealReply = opened.sealReply;
        return fromUtf8(opened.request);
      } catch (error) {
        if (error instanceof RendezvousEnvelopeError) throw new BadRequestError(`the rendezvous envelope cannot be opened: ${error.message}`);
        throw error;
      }
    },
    reply: (status, body, replyHeaders) => {
      if (sealReply === undefined) {
        // Refused before it was opened (rate limit, busy, unreadable): nothing to seal to, and nothing secret in it.
        sendJson(options.response, status, body, replyHeaders);
        return;
      }
      const sealed = sealReply(utf8(JSON.stringify({ status, body })));
      const page = options.replyAs === 'page';
      const text = page ? armorReplyPage(sealed) : sealed;
      options.response
        .writeHead(200, {
          ...options.headers,
          'Content-Type': page ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
          'Content-Length': String(Buffer.byteLength(text)),
          // Every URL is unique (a fresh envelope each time): caching it harms no one, and a cache must be allowed
          // to, or it may not pass the page on at all.
          'Cache-Control': page ? 'public, max-age=60' : 'no-store',
        })
        .end(text);
    },
  };
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>>): void {
  const text = JSON.stringify(body);
  response
    .writeHead(status, {
      ...headers,
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(text)),
      'Cache-Control': 'no-store',
    })
    .end(text);
}
