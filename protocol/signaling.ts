/**
 * @module signaling
 * Messages between the broker, volunteers and clients, with validators that turn untrusted JSON into typed values.
 * Runtime-neutral: no Node or DOM imports. The broker and the relay worker both use these, so the wire format has
 * one definition: the routes, the data channel's label, the WebSocket close codes and every size limit live here.
 */
import { fromUtf8, utf8Prefix } from './bytes.ts';
import { type ExitInfo, ExitListError, parseSignedExitList, type SignedExitList } from './exit-list.ts';
import { isPairingText, MAX_PAIRINGS_PER_VOLUNTEER } from './pairing.ts';
import { type Fail, isRecord, requireInteger, requireOneOf, requireText } from './validate.ts';

/** The broker's HTTP and WebSocket routes. */
export const BrokerRoute = {
  /** POST: a client's offer in, a volunteer's answer out. */
  CLIENT: '/v1/client',
  /**
   * A client's offer sealed to the broker's key (protocol/rendezvous-envelope.ts): POST with the envelope as body,
   * or GET with it appended as one more path segment (the cache channel); the sealed reply comes back.
   */
  RENDEZVOUS: '/v1/rendezvous',
  /** GET: the exits clients may choose. */
  EXITS: '/v1/exits',
  /** WebSocket: where volunteers wait for offers. */
  VOLUNTEER: '/v1/volunteer',
  /** GET: Prometheus metrics. */
  METRICS: '/metrics',
  /** GET: the page a pairing link opens (protocol/pairing.ts); the token stays in the fragment, never sent here. */
  PAIR: '/pair',
} as const;
export type BrokerRoute = (typeof BrokerRoute)[keyof typeof BrokerRoute];
/** The broker's port when none is configured (`ferry broker`, and the extension's default broker URL). */
export const DEFAULT_BROKER_PORT = 8787;
/** Default path of an exit's WebSocket endpoint for volunteers (each exit lists its full URL). */
export const EXIT_RELAY_PATH = '/v1/relay';
/**
 * The `error` code, and the close reason (with 1008), of a volunteer the broker benched for offers it left unanswered
 * or declined too many times in a row; its address may not reconnect for a while (429), so it backs off.
 */
export const BENCHED = 'BENCHED';
/** Label of the one data channel a client opens to a volunteer; the volunteer accepts no other. */
export const DATA_CHANNEL_LABEL = 'ferry';

/**
 * WebSocket close codes (RFC 6455 §7.4.1) that the broker, the exit and the volunteers use. The helper's pipe adds
 * its own application codes (protocol/local-channel.ts, PipeCloseCode).
 */
export const WebSocketCloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  TRY_AGAIN_LATER: 1013,
} as const;
export type WebSocketCloseCode = (typeof WebSocketCloseCode)[keyof typeof WebSocketCloseCode];
/** Longest WebSocket close reason: a close frame's payload is at most 125 bytes, 2 of them the code (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** `reason` cut to MAX_CLOSE_REASON_BYTES of UTF-8 at a character boundary (ws throws on a longer one). */
export function closeReason(reason: string): string {
  return fromUtf8(utf8Prefix(reason, MAX_CLOSE_REASON_BYTES));
}

/** Largest JSON message a volunteer may send the broker, and largest client request body (bytes). */
export const MAX_SIGNALING_MESSAGE_BYTES = 64 * 1024;
/** Largest SDP accepted in an offer or answer (characters). Real data-channel SDPs are 500–3,000. */
export const MAX_SDP_CHARS = 32 * 1024;
/** Most slots a single volunteer may announce (Conduit allows up to 25 clients per proxy). */
export const MAX_VOLUNTEER_SLOTS = 32;
/** Longest decline reason a volunteer sends and the broker keeps (characters). */
export const MAX_DECLINE_REASON_CHARS = 200;

export const VOLUNTEER_KINDS = ['extension', 'tab', 'widget', 'headless'] as const;
export type VolunteerKind = (typeof VOLUNTEER_KINDS)[number];

/**
 * A peer's NAT class, which the broker matches on (docs/wire-protocol.md, "NAT classes").
 * - Measured by RFC 5780 tests (the helper, `ferry volunteer`): 'full-cone' (endpoint-independent mapping and
 *   filtering, or no NAT at all), 'address-restricted' (endpoint-independent mapping, address-dependent filtering),
 *   'port-restricted' (endpoint-independent mapping, address-and-port-dependent filtering), 'symmetric' (the mapping
 *   depends on the destination).
 * - Learned by a connection probe (browser volunteers): 'unrestricted' (a peer behind a symmetric NAT reached it: it
 *   is full-cone or address-restricted) or 'restricted' (it did not: port-restricted or symmetric).
 * - 'unknown': not measured.
 */
export const NAT_CLASSES = ['unknown', 'restricted', 'unrestricted', 'full-cone', 'address-restricted', 'port-restricted', 'symmetric'] as const;
export type NatClass = (typeof NAT_CLASSES)[number];

export interface SessionDescription {
  type: 'offer' | 'answer';
  sdp: string;
}

/** One exit (defined with the signed exit list that names it). */
export type { ExitInfo } from './exit-list.ts';

// ---- volunteer -> broker ----
export interface VolunteerHello {
  type: 'hello';
  version: 1;
  kind: VolunteerKind;
  /** Free slots for anyone (the common pool). */
  slots: number;
  nat: NatClass;
  /** Free slots only for holders of its pairing links (protocol/pairing.ts). Default 0. */
  personalSlots?: number;
  /** Ids (pairingIdOf) of its pairing links. Default none. */
  pairings?: string[];
}
export interface VolunteerSlots {
  type: 'slots';
  slots: number;
  /** Replaces the personal slots too when present. */
  personalSlots?: number;
}
/** The volunteer's NAT class, learned after hello (a connection probe, nat-probe.ts): replaces hello's `nat`. */
export interface VolunteerNat {
  type: 'nat';
  nat: NatClass;
}
/** Replaces the volunteer's pairing ids (a new link, or a revoked one). */
export interface VolunteerPairings {
  type: 'pairings';
  pairings: string[];
}
export interface VolunteerAnswer {
  type: 'answer';
  matchId: string;
  answer: SessionDescription;
}
export interface VolunteerDecline {
  type: 'decline';
  matchId: string;
  reason: string;
}
export type VolunteerToBroker = VolunteerHello | VolunteerSlots | VolunteerNat | VolunteerPairings | VolunteerAnswer | VolunteerDecline;

// ---- broker -> volunteer ----
export interface BrokerWelcome {
  type: 'welcome';
  volunteerId: string;
  /**
   * The operator-signed exit list (protocol/exit-list.ts), as the broker serves it; volunteers verify it. Absent
   * when the broker has none: a volunteer then takes no offers.
   */
  exitList?: SignedExitList;
  /** Where a volunteer that has not measured its NAT class probes it (protocol/nat-probe.ts). */
  natProbeUrl?: string;
  /** The network's STUN servers (stun: URLs), for server-reflexive candidates and the probe. */
  stunUrls?: string[];
}
export interface BrokerOffer {
  type: 'offer';
  matchId: string;
  offer: SessionDescription;
  exit: ExitInfo;
  /** 'personal' when the client holds one of the volunteer's pairing links and takes a personal slot. Default common. */
  pool?: 'personal';
}
export interface BrokerError {
  type: 'error';
  code: string;
  message: string;
}
export type BrokerToVolunteer = BrokerWelcome | BrokerOffer | BrokerError;

// ---- client <-> broker (HTTP) ----
export interface ClientOfferRequest {
  offer: SessionDescription;
  exitId: string;
  nat: NatClass;
  /** The token of a pairing link (protocol/pairing.ts): match only the volunteer that made it. */
  pairing?: string;
  /**
   * Volunteers not to match: the `volunteer` of earlier answers whose paths still carry this client's session, so a
   * second path goes through a second volunteer, on another network (at most MAX_AVOIDED_VOLUNTEERS).
   */
  avoid?: string[];
}
export interface ClientOfferResponse {
  matchId: string;
  answer: SessionDescription;
  /** Names the volunteer that answered, for a later request's `avoid`; says nothing else about it. */
  volunteer: string;
}

/** Most volunteers one request may avoid: a session keeps at most this many other paths. */
export const MAX_AVOIDED_VOLUNTEERS = 3;
/** Longest volunteer name accepted in `avoid` (characters; the broker's ids are UUIDs). */
export const MAX_VOLUNTEER_NAME_CHARS = 64;
/** Every broker HTTP error body has this shape. */
export interface BrokerErrorBody {
  error: { code: BrokerErrorCode; message: string };
}
export type BrokerErrorCode =
  | 'BAD_REQUEST'
  | 'BODY_TOO_LARGE'
  | 'UNKNOWN_EXIT'
  | 'NO_VOLUNTEERS'
  | 'TIMED_OUT'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'TOO_MANY_REQUESTS'
  | 'NO_EXIT_LIST';

/** Thrown by the validators below; `message` names the offending field. */
export class SignalingFormatError extends Error {
  override readonly name = 'SignalingFormatError';
  readonly code = 'SIGNALING_BAD_MESSAGE';
}

const fail: Fail = (message) => new SignalingFormatError(message);

function requireString(obj: Record<string, unknown>, field: string, maxChars: number): string {
  return requireText(obj[field], `"${field}"`, maxChars, fail);
}

function requireSlots(obj: Record<string, unknown>): number {
  return requireInteger(obj.slots, '"slots"', 0, MAX_VOLUNTEER_SLOTS, fail);
}

function optionalPersonalSlots(obj: Record<string, unknown>): number | undefined {
  return obj.personalSlots === undefined ? undefined : requireInteger(obj.personalSlots, '"personalSlots"', 0, MAX_VOLUNTEER_SLOTS, fail);
}

function requirePairingIds(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_PAIRINGS_PER_VOLUNTEER) {
    throw new SignalingFormatError(`"pairings" must be a list of at most ${MAX_PAIRINGS_PER_VOLUNTEER} pairing ids`);
  }
  for (const id of value) if (!isPairingText(id)) throw new SignalingFormatError('each of "pairings" must be a pairing id (43 base64url characters)');
  return [...new Set(value as string[])];
}

/** Most STUN servers a broker names in its welcome. */
export const MAX_WELCOME_STUN_URLS = 8;

function requireHttpUrl(value: unknown, field: string): string {
  const text = requireText(value, field, 2048, fail);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SignalingFormatError(`${field} must be an http:// or https:// URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SignalingFormatError(`${field} must be an http:// or https:// URL`);
  return text;
}

/** stun: or stuns: URLs only: a broker may not hand volunteers a TURN relay of its choosing. */
export function requireStunUrls(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_WELCOME_STUN_URLS) {
    throw new SignalingFormatError(`"stunUrls" must be a list of at most ${MAX_WELCOME_STUN_URLS} stun: URLs`);
  }
  for (const url of value) {
    if (typeof url !== 'string' || url.length > 512 || !/^stuns?:[^\s]+$/.test(url))
      throw new SignalingFormatError('each of "stunUrls" must be a stun: or stuns: URL');
  }
  return [...(value as string[])];
}

function optionalNat(obj: Record<string, unknown>): NatClass {
  return obj.nat === undefined ? 'unknown' : requireOneOf(obj.nat, '"nat"', NAT_CLASSES, fail);
}

export function parseSessionDescription(value: unknown, expected: 'offer' | 'answer', field: string): SessionDescription {
  if (!isRecord(value)) throw new SignalingFormatError(`"${field}" must be an object {type, sdp}`);
  if (value.type !== expected) throw new SignalingFormatError(`"${field}.type" must be "${expected}"`);
  const sdp = value.sdp;
  if (typeof sdp !== 'string' || !sdp.startsWith('v=0')) throw new SignalingFormatError(`"${field}.sdp" must be an SDP string starting with v=0`);
  if (sdp.length > MAX_SDP_CHARS) throw new SignalingFormatError(`"${field}.sdp" is longer than ${MAX_SDP_CHARS} characters`);
  return { type: expected, sdp };
}

/** Parses a JSON text (already size-checked by the caller) into a client request, or throws SignalingFormatError. */
export function parseClientOfferRequest(value: unknown): ClientOfferRequest {
  if (!isRecord(value)) throw new SignalingFormatError('the body must be a JSON object {offer, exitId, nat}');
  const offer = parseSessionDescription(value.offer, 'offer', 'offer');
  const exitId = requireString(value, 'exitId', 128);
  const request: ClientOfferRequest = { offer, exitId, nat: optionalNat(value) };
  if (value.pairing !== undefined) {
    if (!isPairingText(value.pairing)) throw new SignalingFormatError('"pairing" must be the token of a pairing link (43 base64url characters)');
    request.pairing = value.pairing;
  }
  if (value.avoid !== undefined) {
    const avoid = value.avoid;
    if (!Array.isArray(avoid) || avoid.length > MAX_AVOIDED_VOLUNTEERS) {
      throw new SignalingFormatError(`"avoid" must be a list of at most ${MAX_AVOIDED_VOLUNTEERS} volunteers from earlier answers`);
    }
    request.avoid = avoid.map((name, index) => {
      if (typeof name !== 'string' || name.length === 0 || name.length > MAX_VOLUNTEER_NAME_CHARS) {
        throw new SignalingFormatError(`"avoid"[${index}] must be the "volunteer" of an earlier answer`);
      }
      return name;
    });
  }
  return request;
}

export function parseVolunteerMessage(value: unknown): VolunteerToBroker {
  if (!isRecord(value)) throw new SignalingFormatError('a volunteer message must be a JSON object with "type"');
  switch (value.type) {
    case 'hello': {
      if (value.version !== 1) throw new SignalingFormatError('"version" must be 1');
      const hello: VolunteerHello = {
        type: 'hello',
        version: 1,
        kind: requireOneOf(value.kind, '"kind"', VOLUNTEER_KINDS, fail),
        slots: requireSlots(value),
        nat: optionalNat(value),
      };
      const personalSlots = optionalPersonalSlots(value);
      if (personalSlots !== undefined) hello.personalSlots = personalSlots;
      if (value.pairings !== undefined) hello.pairings = requirePairingIds(value.pairings);
      return hello;
    }
    case 'slots': {
      const personalSlots = optionalPersonalSlots(value);
      return personalSlots === undefined ? { type: 'slots', slots: requireSlots(value) } : { type: 'slots', slots: requireSlots(value), personalSlots };
    }
    case 'pairings':
      return { type: 'pairings', pairings: requirePairingIds(value.pairings) };
    case 'nat':
      return { type: 'nat', nat: requireOneOf(value.nat, '"nat"', NAT_CLASSES, fail) };
    case 'answer':
      return { type: 'answer', matchId: requireString(value, 'matchId', 128), answer: parseSessionDescription(value.answer, 'answer', 'answer') };
    case 'decline':
      return {
        type: 'decline',
        matchId: requireString(value, 'matchId', 128),
        reason: typeof value.reason === 'string' ? value.reason.slice(0, MAX_DECLINE_REASON_CHARS) : 'declined',
      };
    default:
      throw new SignalingFormatError('"type" must be one of hello, slots, nat, pairings, answer, decline');
  }
}

export function parseExitInfo(value: unknown): ExitInfo {
  if (!isRecord(value)) throw new SignalingFormatError('an exit must be an object {id, url, publicKey}');
  return { id: requireString(value, 'id', 128), url: requireString(value, 'url', 2048), publicKey: requireString(value, 'publicKey', 64) };
}

export function parseBrokerMessage(value: unknown): BrokerToVolunteer {
  if (!isRecord(value)) throw new SignalingFormatError('a broker message must be a JSON object with "type"');
  switch (value.type) {
    case 'welcome': {
      const welcome: BrokerWelcome = { type: 'welcome', volunteerId: requireString(value, 'volunteerId', 128) };
      if (value.natProbeUrl !== undefined) welcome.natProbeUrl = requireHttpUrl(value.natProbeUrl, '"natProbeUrl"');
      if (value.stunUrls !== undefined) welcome.stunUrls = requireStunUrls(value.stunUrls);
      if (value.exitList === undefined) return welcome;
      try {
        welcome.exitList = parseSignedExitList(value.exitList);
      } catch (error) {
        if (error instanceof ExitListError) throw new SignalingFormatError(`"exitList": ${error.message}`);
        throw error;
      }
      return welcome;
    }
    case 'offer': {
      const offer: BrokerOffer = {
        type: 'offer',
        matchId: requireString(value, 'matchId', 128),
        offer: parseSessionDescription(value.offer, 'offer', 'offer'),
        exit: parseExitInfo(value.exit),
      };
      if (value.pool === 'personal') offer.pool = 'personal';
      else if (value.pool !== undefined) throw new SignalingFormatError('"pool" must be "personal" or absent');
      return offer;
    }
    case 'error':
      return { type: 'error', code: requireString(value, 'code', 64), message: requireString(value, 'message', 1000) };
    default:
      throw new SignalingFormatError('"type" must be one of welcome, offer, error');
  }
}
