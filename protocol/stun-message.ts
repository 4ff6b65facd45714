/**
 * @module stun-message
 * STUN messages (RFC 5389) as far as NAT behaviour discovery (RFC 5780) needs them: Binding requests, with or without
 * CHANGE-REQUEST, and Binding responses with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, OTHER-ADDRESS, RESPONSE-ORIGIN and
 * ERROR-CODE. Pure bytes in, bytes out; the sockets live in protocol/adapters/nat-discovery.ts.
 *
 * Every datagram is parsed whole after its size is checked; anything that is not a well-formed STUN message fails
 * with StunFormatError (code STUN_MALFORMED), never with a RangeError from a DataView.
 */
import { fromUtf8, viewOf } from './bytes.ts';

/** Fixed by RFC 5389 §6: the second word of every STUN message. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** RFC 5389 §6. */
export const STUN_HEADER_BYTES = 20;
export const STUN_TRANSACTION_ID_BYTES = 12;
/**
 * Largest datagram parsed (bytes). RFC 5389 §7.1 keeps messages under the path MTU (576 bytes is safe for IPv4);
 * a Binding response with every attribute above is under 200 bytes, so anything larger is not for us.
 */
export const MAX_STUN_MESSAGE_BYTES = 1_500;
/** Longest ERROR-CODE reason phrase kept, in characters (RFC 5389 §15.6 allows 127). */
export const MAX_STUN_REASON_CHARS = 127;

/** Message types (method and class together, RFC 5389 §6): only the Binding method is used. */
export const StunMessageType = {
  BINDING_REQUEST: 0x0001,
  BINDING_SUCCESS: 0x0101,
  BINDING_ERROR: 0x0111,
} as const;
export type StunMessageType = (typeof StunMessageType)[keyof typeof StunMessageType];

/** Attribute types read or written here (RFC 5389 §18.2, RFC 5780 §7, RFC 3489 §11.2 for CHANGED-ADDRESS). */
export const StunAttribute = {
  MAPPED_ADDRESS: 0x0001,
  CHANGE_REQUEST: 0x0003,
  /** RFC 3489's name for what RFC 5780 calls OTHER-ADDRESS; older servers send only this. */
  CHANGED_ADDRESS: 0x0005,
  ERROR_CODE: 0x0009,
  XOR_MAPPED_ADDRESS: 0x0020,
  RESPONSE_ORIGIN: 0x802b,
  OTHER_ADDRESS: 0x802c,
} as const;

/** CHANGE-REQUEST flags (RFC 5780 §7.2). */
const CHANGE_IP_FLAG = 0x04;
const CHANGE_PORT_FLAG = 0x02;
const ADDRESS_FAMILY_IPV4 = 0x01;
const ADDRESS_FAMILY_IPV6 = 0x02;

/** A transport address as STUN carries it; `address` is a dotted IPv4 or an RFC 5952 IPv6 text. */
export interface StunAddress {
  family: 'IPv4' | 'IPv6';
  address: string;
  port: number;
}

export interface BindingRequest {
  /** 12 random bytes; the response must carry the same. */
  transactionId: Uint8Array;
  /** CHANGE-REQUEST: answer from the server's other IP address (RFC 5780 §7.2). */
  changeIp?: boolean;
  /** CHANGE-REQUEST: answer from the server's other port. */
  changePort?: boolean;
}

/** A decoded Binding response (success or error). Absent attributes are undefined. */
export interface BindingResponse {
  type: typeof StunMessageType.BINDING_SUCCESS | typeof StunMessageType.BINDING_ERROR;
  transactionId: Uint8Array;
  xorMappedAddress?: StunAddress;
  mappedAddress?: StunAddress;
  /** OTHER-ADDRESS, or RFC 3489's CHANGED-ADDRESS when only that came. */
  otherAddress?: StunAddress;
  responseOrigin?: StunAddress;
  error?: { code: number; reason: string };
}

/** A datagram that is not a well-formed STUN message; the message says which check failed. */
export class StunFormatError extends Error {
  override readonly name = 'StunFormatError';
  readonly code = 'STUN_MALFORMED';
}

/** A Binding request: the header, then CHANGE-REQUEST when either flag is set. */
export function encodeBindingRequest(request: BindingRequest): Uint8Array {
  if (request.transactionId.length !== STUN_TRANSACTION_ID_BYTES) {
    throw new RangeError(`a STUN transaction id has ${STUN_TRANSACTION_ID_BYTES} bytes, got ${request.transactionId.length}`);
  }
  const withChange = request.changeIp === true || request.changePort === true;
  const bodyBytes = withChange ? 8 : 0;
  const bytes = new Uint8Array(STUN_HEADER_BYTES + bodyBytes);
  const view = viewOf(bytes);
  view.setUint16(0, StunMessageType.BINDING_REQUEST);
  view.setUint16(2, bodyBytes);
  view.setUint32(4, STUN_MAGIC_COOKIE);
  bytes.set(request.transactionId, 8);
  if (withChange) {
    view.setUint16(20, StunAttribute.CHANGE_REQUEST);
    view.setUint16(22, 4);
    view.setUint32(24, (request.changeIp ? CHANGE_IP_FLAG : 0) | (request.changePort ? CHANGE_PORT_FLAG : 0));
  }
  return bytes;
}

/** The transaction id of a datagram that has a STUN header, or undefined: for matching before a full parse. */
export function peekTransactionId(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length < STUN_HEADER_BYTES || viewOf(bytes).getUint32(4) !== STUN_MAGIC_COOKIE) return undefined;
  return bytes.slice(8, STUN_HEADER_BYTES);
}

/** Decodes a Binding success or error response; throws StunFormatError for anything else. */
export function decodeBindingResponse(bytes: Uint8Array): BindingResponse {
  if (bytes.length > MAX_STUN_MESSAGE_BYTES) throw new StunFormatError(`a STUN message of ${bytes.length} bytes is over ${MAX_STUN_MESSAGE_BYTES}`);
  if (bytes.length < STUN_HEADER_BYTES) throw new StunFormatError(`${bytes.length} bytes are too few for a STUN header (${STUN_HEADER_BYTES})`);
  const view = viewOf(bytes);
  const type = view.getUint16(0);
  const length = view.getUint16(2);
  if ((type & 0xc000) !== 0) throw new StunFormatError('the first two bits of a STUN message must be zero');
  if (view.getUint32(4) !== STUN_MAGIC_COOKIE) throw new StunFormatError('the magic cookie is missing: not an RFC 5389 STUN message');
  if (length % 4 !== 0) throw new StunFormatError(`the message length ${length} is not a multiple of 4`);
  if (STUN_HEADER_BYTES + length !== bytes.length) {
    throw new StunFormatError(`the header announces ${length} bytes of attributes but ${bytes.length - STUN_HEADER_BYTES} came`);
  }
  if (type !== StunMessageType.BINDING_SUCCESS && type !== StunMessageType.BINDING_ERROR) {
    throw new StunFormatError(`message type 0x${type.toString(16).padStart(4, '0')} is not a Binding response`);
  }
  const transactionId = bytes.slice(8, STUN_HEADER_BYTES);
  const response: BindingResponse = { type, transactionId };
  let offset = STUN_HEADER_BYTES;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) throw new StunFormatError(`an attribute header at byte ${offset} is cut off`);
    const attributeType = view.getUint16(offset);
    const valueLength = view.getUint16(offset + 2);
    const valueStart = offset + 4;
    if (valueStart + valueLength > bytes.length) {
      throw new StunFormatError(`attribute 0x${attributeType.toString(16)} announces ${valueLength} bytes, past the end of the message`);
    }
    const value = bytes.subarray(valueStart, valueStart + valueLength);
    // RFC 5389 §15: the first of several instances counts; later ones are ignored.
    switch (attributeType) {
      case StunAttribute.XOR_MAPPED_ADDRESS:
        response.xorMappedAddress ??= decodeAddress(value, 'XOR-MAPPED-ADDRESS', transactionId);
        break;
      case StunAttribute.MAPPED_ADDRESS:
        response.mappedAddress ??= decodeAddress(value, 'MAPPED-ADDRESS');
        break;
      case StunAttribute.OTHER_ADDRESS:
        response.otherAddress = decodeAddress(value, 'OTHER-ADDRESS');
        break;
      case StunAttribute.CHANGED_ADDRESS:
        response.otherAddress ??= decodeAddress(value, 'CHANGED-ADDRESS');
        break;
      case StunAttribute.RESPONSE_ORIGIN:
        response.responseOrigin ??= decodeAddress(value, 'RESPONSE-ORIGIN');
        break;
      case StunAttribute.ERROR_CODE:
        response.error ??= decodeErrorCode(value);
        break;
      default:
      // Unknown attributes in a response are ignored (RFC 5389 §7.3.3).
    }
    // Values are padded to a multiple of 4 bytes.
    offset = valueStart + valueLength + ((4 - (valueLength % 4)) % 4);
  }
  if (offset !== bytes.length) throw new StunFormatError('the last attribute is not padded to a multiple of 4 bytes');
  return response;
}

/** A (XOR-)MAPPED-ADDRESS-shaped value (RFC 5389 §15.1, §15.2). `xorWith` is the transaction id for XOR-MAPPED-ADDRESS. */
function decodeAddress(value: Uint8Array, name: string, xorWith?: Uint8Array): StunAddress {
  if (value.length < 4) throw new StunFormatError(`${name} has ${value.length} bytes, fewer than its 4-byte head`);
  const view = viewOf(value);
  const family = value[1];
  const expected = family === ADDRESS_FAMILY_IPV4 ? 8 : family === ADDRESS_FAMILY_IPV6 ? 20 : undefined;
  if (expected === undefined) throw new StunFormatError(`${name} has address family ${family}, neither IPv4 (1) nor IPv6 (2)`);
  if (value.length !== expected) throw new StunFormatError(`${name} for ${family === 1 ? 'IPv4' : 'IPv6'} must have ${expected} bytes, got ${value.length}`);
  const raw = value.slice(4);
  let port = view.getUint16(2);
  if (xorWith !== undefined) {
    port ^= STUN_MAGIC_COOKIE >>> 16;
    const mask = new Uint8Array(16);
    viewOf(mask).setUint32(0, STUN_MAGIC_COOKIE);
    mask.set(xorWith, 4);
    for (let i = 0; i < raw.length; i++) raw[i] = raw[i]! ^ mask[i]!;
  }
  return family === ADDRESS_FAMILY_IPV4 ? { family: 'IPv4', address: raw.join('.'), port } : { family: 'IPv6', address: formatIpv6(raw), port };
}

function decodeErrorCode(value: Uint8Array): { code: number; reason: string } {
  if (value.length < 4) throw new StunFormatError(`ERROR-CODE has ${value.length} bytes, fewer than 4`);
  const errorClass = value[2]! & 0x07;
  const number = value[3]!;
  if (errorClass < 3 || errorClass > 6 || number > 99) throw new StunFormatError(`ERROR-CODE ${errorClass}/${number} is outside 300..699`);
  let reason: string;
  try {
    reason = fromUtf8(value.subarray(4));
  } catch {
    throw new StunFormatError('the ERROR-CODE reason phrase is not UTF-8');
  }
  return { code: errorClass * 100 + number, reason: reason.slice(0, MAX_STUN_REASON_CHARS) };
}

/** RFC 5952 text of 16 address bytes: lower case, the longest run of two or more zero groups as "::". */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** `address:port`, with IPv6 in brackets: how addresses are shown and compared. */
export function formatStunAddress(address: Pick<StunAddress, 'address' | 'port'>): string {
  return address.address.includes(':') ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}
