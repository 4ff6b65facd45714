/**
 * @module dns-message
 * DNS through the tunnel, for whole-device mode: the helper catches a device's DNS queries and the exit answers them
 * from its own resolver, so a name the user looks up is never seen by the user's network. The query travels on an
 * ordinary tunnel stream opened to EXIT_RESOLVER_HOST:53 (a reserved .invalid name, so an exit that does not know it
 * simply fails to open it), in DNS-over-TCP framing (RFC 7766: a 2-byte length before each message).
 *
 * Only what that needs is read and written here: the header and the one question of a query, and an answer with
 * A or AAAA records (or none, with a response code). Runtime-neutral.
 */
import { MalformedInputError } from './errors.ts';

/** The stream target that means "the exit's resolver": .invalid is reserved (RFC 2606) and never resolves. */
export const EXIT_RESOLVER_HOST = 'resolver.ferry.invalid';
export const EXIT_RESOLVER_PORT = 53;
/** Largest DNS message either side accepts (the TCP framing's own limit). */
export const MAX_DNS_MESSAGE_BYTES = 65_535;
/** Most address records one answer carries. */
export const MAX_DNS_ANSWERS = 16;
/** How long a client may keep an answer (s): short, as the exit's resolver may be answering for many networks. */
export const DNS_ANSWER_TTL_SECONDS = 60;

export const DNS_TYPE_A = 1;
export const DNS_TYPE_AAAA = 28;
export const DNS_CLASS_IN = 1;

export const DnsResponseCode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type DnsResponseCode = (typeof DnsResponseCode)[keyof typeof DnsResponseCode];

export interface DnsQuestion {
  /** Lower-case, without the trailing dot. */
  name: string;
  type: number;
  class: number;
}

export interface DnsQuery {
  id: number;
  question: DnsQuestion;
  /** Where the question section ends: an answer copies the query up to here. */
  questionEnd: number;
}

/** Reads a standard query with exactly one question. Throws MalformedInputError for anything else. */
export function parseDnsQuery(message: Uint8Array): DnsQuery {
  if (message.length < 12 || message.length > MAX_DNS_MESSAGE_BYTES) throw new MalformedInputError(`a DNS message of ${message.length} bytes`);
  const flags = u16(message, 2);
  if ((flags & 0x8000) !== 0) throw new MalformedInputError('a DNS response where a query was expected');
  if (((flags >> 11) & 0x0f) !== 0) throw new MalformedInputError('a DNS query with an opcode other than QUERY');
  if (u16(message, 4) !== 1) throw new MalformedInputError(`a DNS query with ${u16(message, 4)} questions (one is supported)`);
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const length = message[at];
    if (length === undefined) throw new MalformedInputError('a DNS name runs past the message');
    at += 1;
    if (length === 0) break;
    if (length > 63) throw new MalformedInputError('a compressed or oversized label in a DNS question');
    if (at + length > message.length) throw new MalformedInputError('a DNS label runs past the message');
    labels.push(String.fromCharCode(...message.subarray(at, at + length)).toLowerCase());
    at += length;
  }
  if (at + 4 > message.length) throw new MalformedInputError('a DNS question without its type and class');
  const name = labels.join('.');
  if (name.length > 253) throw new MalformedInputError('a DNS name longer than 253 characters');
  return { id: u16(message, 0), question: { name, type: u16(message, at), class: u16(message, at + 2) }, questionEnd: at + 4 };
}

/**
 * The answer to `query` (its bytes, as parsed by parseDnsQuery): its header and question, then one record per
 * address (4 bytes for A, 16 for AAAA), each naming the question by a pointer, with DNS_ANSWER_TTL_SECONDS.
 */
export function buildDnsAnswer(queryBytes: Uint8Array, query: DnsQuery, code: DnsResponseCode, addresses: readonly Uint8Array[] = []): Uint8Array {
  const kept = addresses.slice(0, MAX_DNS_ANSWERS);
  const answerBytes = kept.reduce((sum, address) => sum + 12 + address.length, 0);
  const message = new Uint8Array(query.questionEnd + answerBytes);
  message.set(queryBytes.subarray(0, query.questionEnd));
  const recursionDesired = u16(queryBytes, 2) & 0x0100;
  // QR (a response), RD copied, RA (recursion is available: the exit's resolver recurses), the code.
  setU16(message, 2, 0x8000 | recursionDesired | 0x0080 | code);
  setU16(message, 6, kept.length);
  setU16(message, 8, 0);
  setU16(message, 10, 0);
  let at = query.questionEnd;
  for (const address of kept) {
    setU16(message, at, 0xc00c); // the name: a pointer to the question's
    setU16(message, at + 2, address.length === 4 ? DNS_TYPE_A : DNS_TYPE_AAAA);
    setU16(message, at + 4, DNS_CLASS_IN);
    setU16(message, at + 6, DNS_ANSWER_TTL_SECONDS >>> 16);
    setU16(message, at + 8, DNS_ANSWER_TTL_SECONDS & 0xffff);
    setU16(message, at + 10, address.length);
    message.set(address, at + 12);
    at += 12 + address.length;
  }
  return message;
}

/** Prefixes a message with its 2-byte length (RFC 7766). */
export function frameDnsMessage(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(2 + message.length);
  setU16(framed, 0, message.length);
  framed.set(message, 2);
  return framed;
}

/** Reads length-prefixed DNS messages from a byte stream, chunk by chunk, each message at most MAX_DNS_MESSAGE_BYTES. */
export class DnsMessageReader {
  #pending = new Uint8Array(0);

  /** The whole messages completed by `chunk` (possibly none). */
  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.#pending.length + chunk.length);
    joined.set(this.#pending);
    joined.set(chunk, this.#pending.length);
    const messages: Uint8Array[] = [];
    let at = 0;
    while (at + 2 <= joined.length) {
      const length = u16(joined, at);
      if (at + 2 + length > joined.length) break;
      messages.push(joined.slice(at + 2, at + 2 + length));
      at += 2 + length;
    }
    this.#pending = joined.slice(at);
    return messages;
  }
}

/** "a.b.c.d" as 4 bytes, or an IPv6 literal as 16; undefined for anything else. */
export function addressBytes(address: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    return parts.every((part) => part <= 255) ? Uint8Array.from(parts) : undefined;
  }
  if (!address.includes(':')) return undefined;
  const [head = '', tail = ''] = address.split('::');
  const groups = (text: string): number[] => (text === '' ? [] : text.split(':').map((group) => Number.parseInt(group, 16)));
  const front = groups(head);
  const back = address.includes('::') ? groups(tail) : [];
  const missing = 8 - front.length - back.length;
  if (missing < 0 || (!address.includes('::') && missing !== 0)) return undefined;
  const all = [...front, ...Array.from({ length: missing }, () => 0), ...back];
  if (all.some((group) => !Number.isInteger(group) || group < 0 || group > 0xffff)) return undefined;
  const bytes = new Uint8Array(16);
  for (const [index, group] of all.entries()) setU16(bytes, index * 2, group);
  return bytes;
}

function u16(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
}

function setU16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = (value >>> 8) & 0xff;
  bytes[at + 1] = value & 0xff;
}
