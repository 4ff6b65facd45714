/**
 * @module http-handler
 * The broker's HTTP routes:
 *   POST /v1/client   ClientOfferRequest -> ClientOfferResponse, or BrokerErrorBody
 *   POST /v1/rendezvous            the same, sealed to the broker's rendezvous key (offer-transport.ts)
 *   GET  /v1/rendezvous/ENVELOPE   the same, for the cache channel: the reply in an HTML page
 *   GET  /v1/exits    the operator-signed exit list {payload, signature} (protocol/exit-list.ts)
 *   GET  /metrics     Prometheus text (prometheus.ts)
 * /v1/client, /v1/rendezvous and /v1/exits allow any origin (extensions, tabs and widgets call them) and answer CORS preflights.
 * Nothing here logs per request, and no address is ever logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AddressHoldings, AddressRateLimit } from '../protocol/address-budget.ts';
import type { KeyPair } from '../protocol/crypto.ts';
import type { ExitInfo, SignedExitList } from '../protocol/exit-list.ts';
import type { ClientOfferRequest, ClientOfferResponse } from '../protocol/signaling.ts';
import { BrokerRoute, parseClientOfferRequest, SignalingFormatError } from '../protocol/signaling.ts';
import type { BrokerLogEvent } from './config.ts';
import type { BrokerHttpErrorCode } from './errors.ts';
import {
  AnswerTimedOutError,
  BadRequestError,
  BodyTooLargeError,
  BrokerHttpError,
  ClientGoneError,
  NoVolunteersError,
  TooManyRequestsError,
  UnknownExitError,
} from './errors.ts';
import { readBodyText } from './http-body.ts';
import type { ClientFacts, Matchmaker } from './matchmaker.ts';
import type { BrokerCounters, BrokerMetricsSnapshot, ClientWaitOutcome } from './metrics.ts';
import { type OfferTransport, plainOfferTransport, sealedOfferTransport, sendJson } from './offer-transport.ts';
import type { VolunteerPoolCount } from './prometheus.ts';
import { BrokerPrometheus } from './prometheus.ts';

export interface HttpHandlerOptions {
  /** Served at GET /v1/exits as it is; undefined when the broker has none. */
  exitList: SignedExitList | undefined;
  /** The exits of exitList: the ones a client may name. */
  exits: readonly ExitInfo[];
  maxBodyBytes: number;
  bodyReadTimeoutMs: number;
  rejectedBodyDrainMs: number;
  maxPendingClients: number;
  maxBodiesReading: number;
  maxBodiesReadingPerAddress: number;
  maxOffersPerAddressPerMinute: number;
  matchmaker: Pick<Matchmaker, 'findAnswer'>;
  /** The network key (network-key.ts) of a client's address, or undefined when the same-network rule does not apply. */
  clientNetworkOf: (address: string) => string | undefined;
  counters: BrokerCounters;
  metrics: () => Promise<BrokerMetricsSnapshot>;
  /** Volunteers per kind and NAT class, for the per-pool metrics; without it /metrics leaves them out. */
  volunteerPools?: (() => Promise<readonly VolunteerPoolCount[]>) | undefined;
  log: (event: BrokerLogEvent) => void;
  /** The broker's static X25519 key pair for sealed offers (/v1/rendezvous); without it those routes answer 404. */
  rendezvousKeyPair?: KeyPair | undefined;
}

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  'Access-Control-Allow-Headers': 'Content-Type',
  'Access-Control-Max-Age': '86400',
} as const;

/** The route key of GET /v1/rendezvous/ENVELOPE (any path under it). */
const SEALED_GET_ROUTE = `${BrokerRoute.RENDEZVOUS}/*`;

/** Methods each route takes, for 405 and its Allow header. OPTIONS is the CORS preflight. */
const ROUTE_METHODS: Readonly<Record<string, readonly string[]>> = {
  [BrokerRoute.CLIENT]: ['POST', 'OPTIONS'],
  [BrokerRoute.RENDEZVOUS]: ['POST', 'OPTIONS'],
  [SEALED_GET_ROUTE]: ['GET'],
  [BrokerRoute.EXITS]: ['GET', 'OPTIONS'],
  [BrokerRoute.METRICS]: ['GET'],
  [BrokerRoute.PAIR]: ['GET'],
};

/**
 * What a pairing link shows in a browser. The extension reads the token from the address bar itself; this page only
 * tells a person what the link is and what to do. No script, nothing loaded: the fragment never leaves the browser.
 */
const PAIR_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry pairing link</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5">
<h1>A Ferry pairing link</h1>
<p>Someone who runs a Ferry volunteer made this link so that you can connect through them.</p>
<p><strong>With the Ferry extension installed</strong>, opening this page is enough: Ferry keeps the pairing and
uses that volunteer when you turn on <em>Proxy me</em>. Its popup shows the pairing and lets you remove it.</p>
<p><strong>Without it</strong>, install Ferry first, then open this link again. Keep the link private: anyone who has
it can use the volunteer's personal slots.</p>
</body></html>
`;

/** Most addresses whose offer rate the broker remembers at once. */
const MAX_TRACKED_ADDRESSES = 100_000;

/** Seconds a client told NO_VOLUNTEERS should wait before asking again (Retry-After). */
const NO_VOLUNTEERS_RETRY_AFTER_S = 2;

export class BrokerHttpHandler {
  readonly #options: HttpHandlerOptions;
  readonly #exitsById: ReadonlyMap<string, ExitInfo>;
  #clientsPending = 0;
  #bodiesReading = 0;
  /** Requests still sending their body, per address. */
  readonly #bodiesPerAddress: AddressHoldings;
  /** Offers per address per minute. */
  readonly #offersPerAddress: AddressRateLimit;
  /** This broker's own registry: /metrics. */
  readonly #prometheus: BrokerPrometheus;

  constructor(options: HttpHandlerOptions) {
    this.#options = options;
    this.#prometheus = new BrokerPrometheus({
      snapshot: options.metrics,
      volunteerPools: options.volunteerPools,
      histograms: [options.counters.clientWaitSeconds],
    });
    this.#exitsById = new Map(options.exits.map((exit) => [exit.id, exit]));
    this.#bodiesPerAddress = new AddressHoldings(options.maxBodiesReadingPerAddress);
    this.#offersPerAddress = new AddressRateLimit({ maxPerMinute: options.maxOffersPerAddressPerMinute, maxTrackedAddresses: MAX_TRACKED_ADDRESSES });
  }

  /** Clients waiting for an answer (their body complete). */
  get clientsPending(): number {
    return this.#clientsPending;
  }

  readonly handle = (request: IncomingMessage, response: ServerResponse): void => {
    this.#route(request, response).catch((error: unknown) => {
      this.#options.log({ level: 'error', message: `broker request failed: ${error instanceof Error ? error.message : String(error)}` });
      if (!response.headersSent) sendError(response, 500, 'INTERNAL_ERROR', 'the broker failed; try again', {});
      else response.destroy();
    });
  };

  async #route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = pathOf(request.url);
    const route = path.startsWith(`${BrokerRoute.RENDEZVOUS}/`) ? SEALED_GET_ROUTE : path;
    const methods = ROUTE_METHODS[route];
    const cors = path === BrokerRoute.METRICS ? {} : CORS_HEADERS;
    if (methods === undefined) {
      sendError(
        response,
        404,
        'NOT_FOUND',
        `no route ${path.slice(0, 200)}; the broker serves POST /v1/client, POST and GET /v1/rendezvous, GET /v1/exits, GET /metrics, GET /pair`,
        {},
      );
      return;
    }
    const method = request.method ?? '';
    if (!methods.includes(method)) {
      sendError(response, 405, 'METHOD_NOT_ALLOWED', `${route} takes ${methods.join(', ')}`, { ...cors, Allow: methods.join(', ') });
      return;
    }
    if (method === 'OPTIONS') {
      response.writeHead(204, { ...CORS_HEADERS, 'Content-Length': '0' }).end();
      return;
    }
    if (path === BrokerRoute.EXITS) {
      if (this.#options.exitList === undefined) {
        sendError(response, 503, 'NO_EXIT_LIST', 'this broker has no exit list yet; its operator must start it with a signed one (--exit-list FILE)', {
          ...cors,
          'Retry-After': '60',
        });
      } else sendJson(response, 200, this.#options.exitList, cors);
      return;
    }
    if (path === BrokerRoute.PAIR) {
      response
        .writeHead(200, {
          'Content-Type': 'text/html; charset=utf-8',
          'Cache-Control': 'no-store',
          'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
          'Referrer-Policy': 'no-referrer',
        })
        .end(PAIR_PAGE);
      return;
    }
    if (path === BrokerRoute.METRICS) {
      const text = await this.#prometheus.render();
      response.writeHead(200, { 'Content-Type': this.#prometheus.contentType, 'Cache-Control': 'no-store' }).end(text);
      return;
    }
    if (route === BrokerRoute.CLIENT) {
      await this.#handleClientOffer(request, response, plainOfferTransport(request, response, this.#options));
      return;
    }
    const keyPair = this.#options.rendezvousKeyPair;
    if (keyPair === undefined) {
      sendError(response, 404, 'NOT_FOUND', 'this broker takes no sealed offers (its operator gave it no rendezvous key); POST /v1/client', cors);
      return;
    }
    const sealedGet = route === SEALED_GET_ROUTE;
    const transport = sealedOfferTransport({
      keyPair,
      response,
      readEnvelope: sealedGet ? async () => path.slice(BrokerRoute.RENDEZVOUS.length + 1) : () => readBodyText(request, this.#options),
      replyAs: sealedGet ? 'page' : 'text',
      headers: CORS_HEADERS,
    });
    await this.#handleClientOffer(request, response, transport);
  }

  async #handleClientOffer(request: IncomingMessage, response: ServerResponse, transport: OfferTransport): Promise<void> {
    const { counters } = this.#options;
    counters.clientRequests += 1;
    // Counted for limits only, never logged. Behind a CDN this is the CDN's address: raise the limits there.
    const address = request.socket.remoteAddress ?? 'unknown';
    if (!this.#offersPerAddress.take(address)) {
      counters.rateLimited += 1;
      const wait = this.#offersPerAddress.secondsUntilNext(address);
      this.#refuseUnreadBody(
        request,
        response,
        new TooManyRequestsError(`this address sent more than ${this.#options.maxOffersPerAddressPerMinute} offers in a minute; try again in ${wait} s`, wait),
      );
      return;
    }
    // A request counts against the pending clients only once its body is in: slow bodies hold only a reading slot,
    // and one address holds at most maxBodiesReadingPerAddress of those.
    if (this.#bodiesReading >= this.#options.maxBodiesReading) {
      counters.noVolunteers += 1;
      this.#refuseUnreadBody(request, response, new NoVolunteersError('the broker is busy; try again in a few seconds'));
      return;
    }
    if (!this.#bodiesPerAddress.enter(address)) {
      counters.rateLimited += 1;
      this.#refuseUnreadBody(
        request,
        response,
        new TooManyRequestsError(`this address has ${this.#options.maxBodiesReadingPerAddress} requests still sending their body; finish those first`, 1),
      );
      return;
    }
    this.#bodiesReading += 1;
    let text: string;
    try {
      text = await transport.readRequest();
    } catch (error) {
      this.#refuseBody(request, response, error);
      return;
    } finally {
      this.#bodiesReading -= 1;
      this.#bodiesPerAddress.leave(address);
    }
    if (this.#clientsPending >= this.#options.maxPendingClients) {
      counters.noVolunteers += 1;
      replyBrokerError(transport, new NoVolunteersError('the broker is busy; try again in a few seconds'));
      return;
    }
    this.#clientsPending += 1;
    const clientGone = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) clientGone.abort();
    });
    const waitStarted = performance.now();
    let outcome: ClientWaitOutcome | undefined;
    try {
      const answer = await this.#answerOffer(text, { network: this.#options.clientNetworkOf(address) }, clientGone.signal);
      outcome = 'answered';
      transport.reply(200, answer, CORS_HEADERS);
    } catch (error) {
      if (error instanceof ClientGoneError) {
        outcome = 'gone';
        response.destroy();
      } else if (error instanceof BrokerHttpError) {
        if (error.status === 400) counters.badRequests += 1;
        if (error instanceof NoVolunteersError) outcome = 'no_volunteers';
        else if (error instanceof AnswerTimedOutError) outcome = 'timed_out';
        replyBrokerError(transport, error);
      } else {
        throw error;
      }
    } finally {
      this.#clientsPending -= 1;
      // Malformed requests are not waits; every client that was looked after is.
      if (outcome !== undefined) counters.clientWaitSeconds.observe({ outcome }, (performance.now() - waitStarted) / 1000);
    }
  }

  /** The body could not be read: too large (the rest is drained), too slow, not UTF-8, or the client left. */
  #refuseBody(request: IncomingMessage, response: ServerResponse, error: unknown): void {
    const { counters } = this.#options;
    if (error instanceof ClientGoneError) {
      response.destroy();
    } else if (error instanceof BodyTooLargeError) {
      counters.badRequests += 1;
      this.#refuseUnreadBody(request, response, error);
    } else if (error instanceof BrokerHttpError) {
      counters.badRequests += 1;
      sendBrokerError(response, error);
    } else {
      throw error;
    }
  }

  async #answerOffer(text: string, client: ClientFacts, clientGone: AbortSignal): Promise<ClientOfferResponse> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new BadRequestError('the body is not valid JSON; send {"offer": {"type": "offer", "sdp": "v=0..."}, "exitId": "...", "nat": "unknown"}');
    }
    let offerRequest: ClientOfferRequest;
    try {
      offerRequest = parseClientOfferRequest(json);
    } catch (error) {
      if (error instanceof SignalingFormatError) throw new BadRequestError(error.message);
      throw error;
    }
    const exit = this.#exitsById.get(offerRequest.exitId);
    if (exit === undefined) throw new UnknownExitError(offerRequest.exitId);
    return await this.#options.matchmaker.findAnswer(offerRequest, exit, client, clientGone);
  }

  /**
   * Answers while part of the body is still unread. The rest is read and thrown away (never kept) for up to
   * rejectedBodyDrainMs, so the client finishes sending and can read the answer instead of meeting a reset
   * connection; a client still sending after that is cut off.
   */
  #refuseUnreadBody(request: IncomingMessage, response: ServerResponse, error: BrokerHttpError): void {
    const socket = request.socket;
    const cutOff = setTimeout(() => socket.destroy(), this.#options.rejectedBodyDrainMs);
    socket.once('close', () => clearTimeout(cutOff));
    request.once('end', () => clearTimeout(cutOff));
    request.resume();
    sendBrokerError(response, error);
  }
}

/** The path of a request target, ignoring the query; '/' for a target that does not parse. */
export function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://broker.invalid').pathname;
  } catch {
    return '/';
  }
}

function sendError(response: ServerResponse, status: number, code: BrokerHttpErrorCode, message: string, headers: Readonly<Record<string, string>>): void {
  sendJson(response, status, { error: { code, message } }, headers);
}

function brokerErrorHeaders(error: BrokerHttpError): Record<string, string> {
  const headers: Record<string, string> = { ...CORS_HEADERS };
  if (error.code === 'NO_VOLUNTEERS') headers['Retry-After'] = String(NO_VOLUNTEERS_RETRY_AFTER_S);
  if (error instanceof TooManyRequestsError) headers['Retry-After'] = String(Math.max(1, error.retryAfterSeconds));
  // A body that stopped arriving may never finish; the connection cannot carry another request.
  if (error.status === 408) headers.Connection = 'close';
  return headers;
}

function sendBrokerError(response: ServerResponse, error: BrokerHttpError): void {
  sendError(response, error.status, error.code, error.message, brokerErrorHeaders(error));
}

/** The broker's refusal of a request it has read: plain, or sealed like an answer would be. */
function replyBrokerError(transport: OfferTransport, error: BrokerHttpError): void {
  transport.reply(error.status, { error: { code: error.code, message: error.message } }, brokerErrorHeaders(error));
}
