/**
 * @module socks5-handshake
 * An incremental parser for the client side of a SOCKS5 handshake (RFC 1928): greeting, then request. Bytes may
 * arrive split anywhere; the parser is an explicit state machine that asks for exactly the bytes each field needs and
 * never buffers more than one handshake message. It knows nothing of sockets: the server feeds it and acts on events.
 */

import type { DialTarget } from './tunnel-dialer.ts';
import { SOCKS_REPLY } from './tunnel-dialer.ts';

export const SOCKS_VERSION = 0x05;
export const SOCKS_METHOD_NO_AUTH = 0x00;
export const SOCKS_METHOD_NONE_ACCEPTABLE = 0xff;
export const SOCKS_COMMAND = { connect: 0x01, bind: 0x02, udpAssociate: 0x03 } as const;
export const SOCKS_ADDRESS_TYPE = { ipv4: 0x01, domainName: 0x03, ipv6: 0x04 } as const;

/** A handshake the server must refuse. `reply` is what to send before closing (null: the protocol allows none). */
export class Socks5HandshakeError extends Error {
  override readonly name = 'Socks5HandshakeError';
  /**
   * Events completed by the same push() before this failure (a greeting that arrived in one read with a bad
   * request). The server still answers them first, in RFC 1928 order: a client that sends its request without
   * waiting reads the method selection, then the refusal, each where it expects it.
   */
  completedBefore: Socks5HandshakeEvent[] = [];
  constructor(
    message: string,
    readonly code: string,
    readonly reply: Uint8Array | null,
  ) {
    super(message);
  }
}

export type Socks5HandshakeEvent =
  | { kind: 'greeting'; methods: Uint8Array }
  /** `earlyData`: bytes the client sent after the request without waiting for our reply (optimistic clients). */
  | { kind: 'connect'; target: DialTarget; earlyData: Uint8Array };

enum State {
  GreetingHeader,
  GreetingMethods,
  RequestHeader,
  RequestDomainLength,
  RequestAddress,
  Done,
  Failed,
}

/** The 10-byte reply RFC 1928 §6 prescribes; the bound address is always 0.0.0.0:0 (we do not expose it). */
export function socks5Reply(replyCode: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, replyCode, 0x00, SOCKS_ADDRESS_TYPE.ipv4, 0, 0, 0, 0, 0, 0);
}

export function socks5MethodSelection(method: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, method);
}

export class Socks5HandshakeParser {
  private state = State.GreetingHeader;
  private buffered: Buffer = Buffer.alloc(0);
  /** Bytes the current state waits for. */
  private need = 2;
  private addressType = 0;

  constructor(private readonly maxGreetingBytes: number) {}

  /** True once the request was parsed (or the handshake failed); later bytes belong to the stream, not the parser. */
  get finished(): boolean {
    return this.state === State.Done || this.state === State.Failed;
  }

  /** Feeds bytes; returns the events they complete. Throws Socks5HandshakeError on a malformed handshake. */
  push(chunk: Uint8Array): Socks5HandshakeEvent[] {
    if (this.finished) throw new Error('Socks5HandshakeParser: push after the handshake finished');
    this.buffered = this.buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffered, chunk]);
    const events: Socks5HandshakeEvent[] = [];
    try {
      while (!this.finished && this.buffered.length >= this.need) {
        const field = this.buffered.subarray(0, this.need);
        this.buffered = this.buffered.subarray(this.need);
        const event = this.step(field);
        if (event) events.push(event);
      }
    } catch (error) {
      this.state = State.Failed;
      if (error instanceof Socks5HandshakeError) error.completedBefore = events;
      throw error;
    }
    return events;
  }

  private step(field: Buffer): Socks5HandshakeEvent | null {
    switch (this.state) {
      case State.GreetingHeader: {
        const version = field[0]!;
        const methodCount = field[1]!;
        if (version !== SOCKS_VERSION) {
          throw new Socks5HandshakeError(
            `not a SOCKS5 greeting (version byte ${version})`,
            'SOCKS_BAD_VERSION',
            socks5MethodSelection(SOCKS_METHOD_NONE_ACCEPTABLE),
          );
        }
        if (methodCount === 0 || 2 + methodCount > this.maxGreetingBytes) {
          throw new Socks5HandshakeError(
            `greeting lists ${methodCount} methods (allowed 1..${this.maxGreetingBytes - 2})`,
            'SOCKS_BAD_GREETING',
            socks5MethodSelection(SOCKS_METHOD_NONE_ACCEPTABLE),
          );
        }
        this.state = State.GreetingMethods;
        this.need = methodCount;
        return null;
      }
      case State.GreetingMethods: {
        const methods = Uint8Array.from(field);
        if (!methods.includes(SOCKS_METHOD_NO_AUTH)) {
          throw new Socks5HandshakeError(
            'the client offers no method we support (only NO AUTH)',
            'SOCKS_NO_METHOD',
            socks5MethodSelection(SOCKS_METHOD_NONE_ACCEPTABLE),
          );
        }
        this.state = State.RequestHeader;
        this.need = 4;
        return { kind: 'greeting', methods };
      }
      case State.RequestHeader:
        return this.onRequestHeader(field);
      case State.RequestDomainLength: {
        const length = field[0]!;
        if (length === 0) {
          throw new Socks5HandshakeError('empty domain name', 'SOCKS_BAD_ADDRESS', socks5Reply(SOCKS_REPLY.generalFailure));
        }
        this.state = State.RequestAddress;
        this.need = length + 2;
        return null;
      }
      case State.RequestAddress:
        return this.onRequestAddress(field);
      default:
        throw new Error(`Socks5HandshakeParser: no step in state ${this.state}`);
    }
  }

  private onRequestHeader(field: Buffer): null {
    const [version, command, , addressType] = field;
    if (version !== SOCKS_VERSION) {
      throw new Socks5HandshakeError(`request version byte is ${version}, not 5`, 'SOCKS_BAD_VERSION', socks5Reply(SOCKS_REPLY.generalFailure));
    }
    if (command !== SOCKS_COMMAND.connect) {
      throw new Socks5HandshakeError(
        `command ${command} is not supported (only CONNECT)`,
        'SOCKS_COMMAND_NOT_SUPPORTED',
        socks5Reply(SOCKS_REPLY.commandNotSupported),
      );
    }
    this.addressType = addressType!;
    if (addressType === SOCKS_ADDRESS_TYPE.ipv4) {
      this.state = State.RequestAddress;
      this.need = 4 + 2;
    } else if (addressType === SOCKS_ADDRESS_TYPE.ipv6) {
      this.state = State.RequestAddress;
      this.need = 16 + 2;
    } else if (addressType === SOCKS_ADDRESS_TYPE.domainName) {
      this.state = State.RequestDomainLength;
      this.need = 1;
    } else {
      throw new Socks5HandshakeError(
        `address type ${addressType} is not supported`,
        'SOCKS_ADDRESS_TYPE_NOT_SUPPORTED',
        socks5Reply(SOCKS_REPLY.addressTypeNotSupported),
      );
    }
    return null;
  }

  private onRequestAddress(field: Buffer): Socks5HandshakeEvent {
    const address = field.subarray(0, field.length - 2);
    const port = field.readUInt16BE(field.length - 2);
    let host: string;
    if (this.addressType === SOCKS_ADDRESS_TYPE.ipv4) host = Array.from(address).join('.');
    else if (this.addressType === SOCKS_ADDRESS_TYPE.ipv6) host = formatIpv6(address);
    else host = parseDomainName(address);
    if (port === 0) {
      throw new Socks5HandshakeError('port 0 cannot be connected to', 'SOCKS_BAD_PORT', socks5Reply(SOCKS_REPLY.generalFailure));
    }
    this.state = State.Done;
    const earlyData = Uint8Array.from(this.buffered);
    this.buffered = Buffer.alloc(0);
    return { kind: 'connect', target: { host, port }, earlyData };
  }
}

/** Domain names travel on as given (remote DNS); only printable ASCII without spaces is accepted. */
function parseDomainName(bytes: Buffer): string {
  for (const byte of bytes) {
    if (byte < 0x21 || byte > 0x7e) {
      throw new Socks5HandshakeError(
        'the domain name has a non-printable or non-ASCII byte (use IDNA/punycode)',
        'SOCKS_BAD_ADDRESS',
        socks5Reply(SOCKS_REPLY.generalFailure),
      );
    }
  }
  return bytes.toString('latin1');
}

/** RFC 5952 text form of a 16-byte IPv6 address: lower-case hex, longest run (>= 2) of zero groups as `::`. */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end += 1;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestLength < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
