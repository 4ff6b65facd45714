/**
 * @module tun/tun-service-protocol
 * What the helper may ask the privileged service (tun-service.ts), one JSON object per line over a Unix socket, and
 * what it answers. The set is small on purpose: the service runs as root, so anything it does not know is refused,
 * and every value is checked before a command is built from it (addresses are parsed, never passed through).
 *
 *   {"op":"up","bypass":["203.0.113.10", ...]}    create the user's TUN device, route all IPv4 into it except the
 *                                                   bypass addresses, drop everything else (IPv6 too), point DNS at it
 *   {"op":"bypass","add":[...],"remove":[...]}    change the bypass addresses (a new volunteer) while up
 *   {"op":"down"}                                  undo all of it
 *   {"op":"status"}                                what is in force
 * Answers: {"ok":true,"state":{...}} or {"ok":false,"code":"...","message":"..."}.
 */
import { isIpv4Literal, isRecord } from '../../protocol/validate.ts';

export const TUN_SERVICE_OPS = ['up', 'bypass', 'down', 'status'] as const;
export type TunServiceOp = (typeof TUN_SERVICE_OPS)[number];

/** Longest request line (bytes): a bypass list at its most is far below it. */
export const MAX_TUN_SERVICE_REQUEST_BYTES = 16 * 1024;
/** Most bypass addresses in force at once: the broker, STUN servers, fronts, and a few volunteers. */
export const MAX_BYPASS_ADDRESSES = 64;

export type TunServiceRequest = { op: 'up'; bypass: string[] } | { op: 'bypass'; add: string[]; remove: string[] } | { op: 'down' } | { op: 'status' };

/** What the service reports: the device, its addresses, and the bypasses in force (empty when down). */
export interface TunState {
  up: boolean;
  device: string;
  deviceAddress: string;
  natAddress: string;
  dnsAddress: string;
  bypass: string[];
}

export type TunServiceReply = { ok: true; state: TunState } | { ok: false; code: TunServiceErrorCode; message: string };

export type TunServiceErrorCode = 'BAD_REQUEST' | 'UNKNOWN_OP' | 'FORBIDDEN' | 'NOT_UP' | 'FAILED' | 'TOO_LARGE';

/** A request the service refuses; `code` travels in the reply. */
export class TunServiceRequestError extends Error {
  override readonly name = 'TunServiceRequestError';
  constructor(
    readonly code: TunServiceErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function parseTunServiceRequest(line: string): TunServiceRequest {
  if (line.length > MAX_TUN_SERVICE_REQUEST_BYTES) throw new TunServiceRequestError('TOO_LARGE', `a request is at most ${MAX_TUN_SERVICE_REQUEST_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TunServiceRequestError('BAD_REQUEST', 'a request is one JSON object per line');
  }
  if (!isRecord(value)) throw new TunServiceRequestError('BAD_REQUEST', 'a request is one JSON object per line');
  const op = value.op;
  switch (op) {
    case 'up':
      onlyKeys(value, ['op', 'bypass']);
      return { op, bypass: addresses(value.bypass, '"bypass"') };
    case 'bypass':
      onlyKeys(value, ['op', 'add', 'remove']);
      return { op, add: addresses(value.add ?? [], '"add"'), remove: addresses(value.remove ?? [], '"remove"') };
    case 'down':
    case 'status':
      onlyKeys(value, ['op']);
      return { op };
    default:
      throw new TunServiceRequestError('UNKNOWN_OP', `unknown op ${JSON.stringify(op)}: this service does only ${TUN_SERVICE_OPS.join(', ')}`);
  }
}

/** Extra fields are refused rather than ignored: a root service should not guess what a request meant. */
function onlyKeys(value: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(value).filter((key) => !allowed.includes(key));
  if (extra.length > 0) throw new TunServiceRequestError('BAD_REQUEST', `unexpected field ${JSON.stringify(extra[0])}`);
}

/** A list of IPv4 addresses, each in dotted form, normalised (so "010.0.0.1" cannot slip past as something else). */
function addresses(value: unknown, name: string): string[] {
  if (!Array.isArray(value)) throw new TunServiceRequestError('BAD_REQUEST', `${name} must be a list of IPv4 addresses`);
  if (value.length > MAX_BYPASS_ADDRESSES) throw new TunServiceRequestError('BAD_REQUEST', `${name} holds at most ${MAX_BYPASS_ADDRESSES} addresses`);
  return value.map((entry) => {
    if (!isIpv4Literal(entry)) throw new TunServiceRequestError('BAD_REQUEST', `${name}: ${JSON.stringify(entry)} is not an IPv4 address`);
    return entry
      .split('.')
      .map((part) => String(Number(part)))
      .join('.');
  });
}
