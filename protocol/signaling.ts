/**
 * @module signaling
 * Messages between the broker, volunteers and clients, with validators that turn untrusted JSON into typed values.
 * Runtime-neutral: no Node or DOM imports. The broker and the relay worker both use these, so the wire format has
 * one definition.
 */

/** Largest JSON message a volunteer may send the broker, and largest client request body (bytes). */
export const MAX_SIGNALING_MESSAGE_BYTES = 64 * 1024;
/** Largest SDP accepted in an offer or answer (characters). Real data-channel SDPs are 500–3,000. */
export const MAX_SDP_CHARS = 32 * 1024;
/** Most slots a single volunteer may announce (Conduit allows up to 25 clients per proxy). */
export const MAX_VOLUNTEER_SLOTS = 32;

export const VOLUNTEER_KINDS = ['extension', 'tab', 'widget', 'headless'] as const;
export type VolunteerKind = (typeof VOLUNTEER_KINDS)[number];

/** NAT class, as Snowflake uses it for matching. */
export const NAT_CLASSES = ['unknown', 'restricted', 'unrestricted'] as const;
export type NatClass = (typeof NAT_CLASSES)[number];

export interface SessionDescription {
  type: 'offer' | 'answer';
  sdp: string;
}

/** One exit as the broker lists it. `publicKey` is the exit's static X25519 key, base64url, 32 bytes. */
export interface ExitInfo {
  id: string;
  url: string;
  publicKey: string;
}

// ---- volunteer -> broker ----
export interface VolunteerHello {
  type: 'hello';
  version: 1;
  kind: VolunteerKind;
  slots: number;
  nat: NatClass;
}
export interface VolunteerSlots {
  type: 'slots';
  slots: number;
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
export type VolunteerToBroker = VolunteerHello | VolunteerSlots | VolunteerAnswer | VolunteerDecline;

// ---- broker -> volunteer ----
export interface BrokerWelcome {
  type: 'welcome';
  volunteerId: string;
  exits: ExitInfo[];
}
export interface BrokerOffer {
  type: 'offer';
  matchId: string;
  offer: SessionDescription;
  exit: ExitInfo;
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
}
export interface ClientOfferResponse {
  matchId: string;
  answer: SessionDescription;
}
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
  | 'METHOD_NOT_ALLOWED';

/** Thrown by the validators below; `message` names the offending field. */
export class SignalingFormatError extends Error {
  override readonly name = 'SignalingFormatError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireString(obj: Record<string, unknown>, field: string, maxChars: number): string {
  const value = obj[field];
  if (typeof value !== 'string' || value.length === 0) throw new SignalingFormatError(`"${field}" must be a non-empty string`);
  if (value.length > maxChars) throw new SignalingFormatError(`"${field}" is longer than ${maxChars} characters`);
  return value;
}

function requireSlots(obj: Record<string, unknown>): number {
  const slots = obj.slots;
  if (typeof slots !== 'number' || !Number.isInteger(slots) || slots < 0 || slots > MAX_VOLUNTEER_SLOTS) {
    throw new SignalingFormatError(`"slots" must be an integer from 0 to ${MAX_VOLUNTEER_SLOTS}`);
  }
  return slots;
}

function requireOneOf<T extends string>(obj: Record<string, unknown>, field: string, allowed: readonly T[]): T {
  const value = obj[field];
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new SignalingFormatError(`"${field}" must be one of ${allowed.join(', ')}`);
  }
  return value as T;
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
  const nat = value.nat === undefined ? 'unknown' : requireOneOf(value, 'nat', NAT_CLASSES);
  return { offer, exitId, nat };
}

export function parseVolunteerMessage(value: unknown): VolunteerToBroker {
  if (!isRecord(value)) throw new SignalingFormatError('a volunteer message must be a JSON object with "type"');
  switch (value.type) {
    case 'hello':
      if (value.version !== 1) throw new SignalingFormatError('"version" must be 1');
      return {
        type: 'hello',
        version: 1,
        kind: requireOneOf(value, 'kind', VOLUNTEER_KINDS),
        slots: requireSlots(value),
        nat: value.nat === undefined ? 'unknown' : requireOneOf(value, 'nat', NAT_CLASSES),
      };
    case 'slots':
      return { type: 'slots', slots: requireSlots(value) };
    case 'answer':
      return { type: 'answer', matchId: requireString(value, 'matchId', 128), answer: parseSessionDescription(value.answer, 'answer', 'answer') };
    case 'decline':
      return { type: 'decline', matchId: requireString(value, 'matchId', 128), reason: typeof value.reason === 'string' ? value.reason.slice(0, 200) : 'declined' };
    default:
      throw new SignalingFormatError('"type" must be one of hello, slots, answer, decline');
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
      if (!Array.isArray(value.exits)) throw new SignalingFormatError('"exits" must be an array');
      return { type: 'welcome', volunteerId: requireString(value, 'volunteerId', 128), exits: value.exits.map(parseExitInfo) };
    }
    case 'offer':
      return {
        type: 'offer',
        matchId: requireString(value, 'matchId', 128),
        offer: parseSessionDescription(value.offer, 'offer', 'offer'),
        exit: parseExitInfo(value.exit),
      };
    case 'error':
      return { type: 'error', code: requireString(value, 'code', 64), message: requireString(value, 'message', 1000) };
    default:
      throw new SignalingFormatError('"type" must be one of welcome, offer, error');
  }
}
