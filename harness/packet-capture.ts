/**
 * @module harness/packet-capture
 * Reading what a capture holds (a classic pcap file, Ethernet link type, as `dumpcap -P` writes it) so a test can say
 * what crossed a wire: each IPv4 packet's addresses, ports and payload, the server names (SNI) of TLS ClientHellos, and
 * the fields of DTLS hellos. Only what the tests check is parsed; anything else (IPv6, ARP, other link types) is
 * skipped, never guessed at. tsharkFields gives Wireshark's own reading of the same file, so a test can hold our
 * parser against a dissector that is not ours.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface CapturedPacket {
  source: string;
  destination: string;
  protocol: 'tcp' | 'udp' | 'other';
  sourcePort: number;
  destinationPort: number;
  payload: Buffer;
}

const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
const LINKTYPE_ETHERNET = 1;
const ETHERTYPE_IPV4 = 0x0800;

/** The IPv4 packets of a pcap file captured on an Ethernet (or veth) interface. */
export function readPcap(path: string): CapturedPacket[] {
  const file = readFileSync(path);
  if (file.length < 24) return [];
  const magic = file.readUInt32LE(0);
  const little = magic === PCAP_MAGIC_MICROSECONDS || magic === PCAP_MAGIC_NANOSECONDS;
  const u32 = (at: number): number => (little ? file.readUInt32LE(at) : file.readUInt32BE(at));
  if (!little && file.readUInt32BE(0) !== PCAP_MAGIC_MICROSECONDS && file.readUInt32BE(0) !== PCAP_MAGIC_NANOSECONDS) {
    throw new Error(`${path} is not a pcap file`);
  }
  const linkType = u32(20);
  if (linkType !== LINKTYPE_ETHERNET) throw new Error(`${path}: link type ${linkType}, only Ethernet (1) is read here; capture on an interface, not "any"`);
  const packets: CapturedPacket[] = [];
  let at = 24;
  while (at + 16 <= file.length) {
    const capturedLength = u32(at + 8);
    const frame = file.subarray(at + 16, at + 16 + capturedLength);
    at += 16 + capturedLength;
    const packet = parseEthernet(frame);
    if (packet !== undefined) packets.push(packet);
  }
  return packets;
}

function parseEthernet(frame: Buffer): CapturedPacket | undefined {
  if (frame.length < 14 + 20 || frame.readUInt16BE(12) !== ETHERTYPE_IPV4) return undefined;
  const ip = frame.subarray(14);
  const ihl = ((ip[0] ?? 0) & 0x0f) * 4;
  if (ihl < 20) return undefined;
  const totalLength = ip.readUInt16BE(2);
  const protocolNumber = ip[9];
  const address = (offset: number): string => [...ip.subarray(offset, offset + 4)].join('.');
  const body = ip.subarray(ihl, Math.min(totalLength, ip.length));
  const base = { source: address(12), destination: address(16) };
  if (protocolNumber === 6 && body.length >= 20) {
    const dataOffset = ((body[12] ?? 0) >> 4) * 4;
    return { ...base, protocol: 'tcp', sourcePort: body.readUInt16BE(0), destinationPort: body.readUInt16BE(2), payload: body.subarray(dataOffset) };
  }
  if (protocolNumber === 17 && body.length >= 8) {
    return { ...base, protocol: 'udp', sourcePort: body.readUInt16BE(0), destinationPort: body.readUInt16BE(2), payload: body.subarray(8) };
  }
  return { ...base, protocol: 'other', sourcePort: 0, destinationPort: 0, payload: body };
}

/**
 * The server name of a TLS ClientHello that starts `payload` (one TCP segment: a ClientHello fits one here), '' for a
 * ClientHello without one, undefined when the payload is not a ClientHello.
 */
export function clientHelloServerName(payload: Buffer): string | undefined {
  // record: type 22 (handshake), version, length; handshake: type 1 (ClientHello), length (3 bytes)
  if (payload.length < 9 || payload[0] !== 22 || payload[5] !== 1) return undefined;
  let at = 9 + 2 + 32; // client_version, random
  const skip = (lengthBytes: 1 | 2): boolean => {
    if (at + lengthBytes > payload.length) return false;
    at += lengthBytes + (lengthBytes === 1 ? (payload[at] ?? 0) : payload.readUInt16BE(at));
    return at <= payload.length;
  };
  if (!skip(1) || !skip(2) || !skip(1)) return undefined; // session id, cipher suites, compression methods
  if (at + 2 > payload.length) return '';
  const end = Math.min(payload.length, at + 2 + payload.readUInt16BE(at));
  at += 2;
  while (at + 4 <= end) {
    const type = payload.readUInt16BE(at);
    const length = payload.readUInt16BE(at + 2);
    if (type === 0 && at + 9 <= end) {
      // server_name: list length (2), name type (1, 0 = host name), name length (2), name
      const nameLength = payload.readUInt16BE(at + 7);
      return payload.subarray(at + 9, at + 9 + nameLength).toString('ascii');
    }
    at += 4 + length;
  }
  return '';
}

/** The fields of a DTLS ClientHello that fingerprint its implementation (what a censor's classifier compares). */
export interface DtlsClientHelloFields {
  /** The record's and the hello's versions, e.g. "fefd/fefd" (DTLS 1.2). */
  version: string;
  cipherSuites: number[];
  /** Extension types in the order sent. */
  extensions: number[];
  supportedGroups: number[];
  signatureAlgorithms: number[];
  srtpProfiles: number[];
  /** Whether the hello echoed a cookie (a second hello, after HelloVerifyRequest). */
  hasCookie: boolean;
}

/** GREASE values (RFC 8701: 0x0a0a, 0x1a1a, ...) vary per connection by design; they are shown as 0x0a0a. */
export function normaliseGrease(value: number): number {
  return (value & 0x0f0f) === 0x0a0a && value >> 8 === (value & 0xff) ? 0x0a0a : value;
}

/**
 * The first DTLS ClientHello in `datagrams` (UDP payloads, in the order sent), reassembled from its handshake
 * fragments: a DTLS 1.3 hello with post-quantum key shares does not fit one datagram. Undefined when none is complete.
 */
export function dtlsClientHello(datagrams: readonly Buffer[]): DtlsClientHelloFields | undefined {
  const hello = reassembleHandshake(datagrams, HANDSHAKE_CLIENT_HELLO);
  return hello === undefined ? undefined : parseClientHelloBody(hello.body, hello.recordVersion);
}

/** The fields of a DTLS ServerHello that fingerprint its implementation: what it chose from the client's offer, and how it says so. */
export interface DtlsServerHelloFields {
  /** The record's and the hello's versions, e.g. "fefd/fefd". */
  version: string;
  /** The version chosen in supported_versions (DTLS 1.3: "fefc"); "" when the extension is absent (DTLS 1.2). */
  selectedVersion: string;
  cipherSuite: number;
  /** Extension types in the order sent. */
  extensions: number[];
  /** The key-share group chosen (DTLS 1.3), else undefined. */
  keyShareGroup: number | undefined;
  /** The SRTP profiles the server echoed in use_srtp. */
  srtpProfiles: number[];
}

/** The first DTLS ServerHello in `datagrams`, reassembled like the ClientHello; undefined when none is complete. */
export function dtlsServerHello(datagrams: readonly Buffer[]): DtlsServerHelloFields | undefined {
  const hello = reassembleHandshake(datagrams, HANDSHAKE_SERVER_HELLO);
  if (hello === undefined) return undefined;
  const { body } = hello;
  let at = 2 + 32;
  if (at >= body.length) return undefined;
  at += 1 + (body[at] ?? 0); // session id
  if (at + 3 > body.length) return undefined;
  const fields: DtlsServerHelloFields = {
    version: `${hello.recordVersion.toString(16)}/${body.readUInt16BE(0).toString(16)}`,
    selectedVersion: '',
    cipherSuite: body.readUInt16BE(at),
    extensions: [],
    keyShareGroup: undefined,
    srtpProfiles: [],
  };
  at += 3; // cipher suite, compression method
  if (at + 2 > body.length) return fields;
  const extensions = body.subarray(at + 2, at + 2 + body.readUInt16BE(at));
  for (let offset = 0; offset + 4 <= extensions.length; ) {
    const type = extensions.readUInt16BE(offset);
    const data = extensions.subarray(offset + 4, offset + 4 + extensions.readUInt16BE(offset + 2));
    offset += 4 + data.length;
    fields.extensions.push(normaliseGrease(type));
    // supported_versions (43) and key_share (51): the chosen value first; use_srtp (14): a 2-byte length, then the profiles.
    if (type === 43 && data.length >= 2) fields.selectedVersion = data.readUInt16BE(0).toString(16);
    if (type === 51 && data.length >= 2) fields.keyShareGroup = data.readUInt16BE(0);
    if (type === 14 && data.length >= 2) {
      const profiles = data.subarray(2, 2 + data.readUInt16BE(0));
      for (let index = 0; index + 2 <= profiles.length; index += 2) fields.srtpProfiles.push(profiles.readUInt16BE(index));
    }
  }
  return fields;
}

const HANDSHAKE_CLIENT_HELLO = 1;
const HANDSHAKE_SERVER_HELLO = 2;

/** The body of the first handshake message of `handshakeType` in `datagrams`, from all its fragments, with its record's version. */
function reassembleHandshake(datagrams: readonly Buffer[], handshakeType: number): { body: Buffer; recordVersion: number } | undefined {
  let recordVersion: number | undefined;
  let body: Buffer | undefined;
  const filled = new Set<number>();
  for (const datagram of datagrams) {
    // Several records may share a datagram: type (1), version (2), epoch (2), sequence (6), length (2), fragment.
    for (let at = 0; at + 13 <= datagram.length; ) {
      const type = datagram[at];
      const length = datagram.readUInt16BE(at + 11);
      const fragment = datagram.subarray(at + 13, at + 13 + length);
      const version = datagram.readUInt16BE(at + 1);
      at += 13 + length;
      // handshake header: type (1), length (3), message sequence (2), fragment offset (3), fragment length (3)
      if (type !== 22 || fragment.length < 12 || fragment[0] !== handshakeType) continue;
      const total = fragment.readUIntBE(1, 3);
      const offset = fragment.readUIntBE(6, 3);
      const piece = fragment.subarray(12, 12 + fragment.readUIntBE(9, 3));
      if (body === undefined) {
        body = Buffer.alloc(total);
        recordVersion = version;
      }
      if (body.length !== total) continue; // another message of this type (a retry after HelloVerifyRequest): the first one counts
      piece.copy(body, offset);
      for (let index = offset; index < offset + piece.length; index++) filled.add(index);
      if (filled.size === total) return { body, recordVersion: recordVersion ?? 0 };
    }
  }
  return undefined;
}

function parseClientHelloBody(payload: Buffer, recordVersion: number): DtlsClientHelloFields | undefined {
  let at = 0;
  const helloVersion = payload.readUInt16BE(at);
  at += 2 + 32;
  const vector = (lengthBytes: 1 | 2): Buffer | undefined => {
    if (at + lengthBytes > payload.length) return undefined;
    const length = lengthBytes === 1 ? (payload[at] ?? 0) : payload.readUInt16BE(at);
    const value = payload.subarray(at + lengthBytes, at + lengthBytes + length);
    at += lengthBytes + length;
    return at <= payload.length ? value : undefined;
  };
  const u16s = (bytes: Buffer | undefined): number[] => {
    const values: number[] = [];
    for (let offset = 0; bytes !== undefined && offset + 2 <= bytes.length; offset += 2) values.push(normaliseGrease(bytes.readUInt16BE(offset)));
    return values;
  };
  if (vector(1) === undefined) return undefined; // session id
  const cookie = vector(1);
  const suites = vector(2);
  if (cookie === undefined || suites === undefined || vector(1) === undefined) return undefined;
  const fields: DtlsClientHelloFields = {
    version: `${recordVersion.toString(16)}/${helloVersion.toString(16)}`,
    cipherSuites: u16s(suites),
    extensions: [],
    supportedGroups: [],
    signatureAlgorithms: [],
    srtpProfiles: [],
    hasCookie: cookie.length > 0,
  };
  const extensions = vector(2);
  for (let offset = 0; extensions !== undefined && offset + 4 <= extensions.length; ) {
    const type = extensions.readUInt16BE(offset);
    const data = extensions.subarray(offset + 4, offset + 4 + extensions.readUInt16BE(offset + 2));
    offset += 4 + data.length;
    fields.extensions.push(normaliseGrease(type));
    // supported_groups (10) and signature_algorithms (13): a 2-byte length, then 2-byte values; use_srtp (14): the same, then an MKI.
    if (type === 10) fields.supportedGroups = u16s(data.subarray(2, 2 + data.readUInt16BE(0)));
    if (type === 13) fields.signatureAlgorithms = u16s(data.subarray(2, 2 + data.readUInt16BE(0)));
    if (type === 14) fields.srtpProfiles = u16s(data.subarray(2, 2 + data.readUInt16BE(0)));
  }
  return fields;
}

/**
 * Wireshark's reading of a capture (tshark, Debian's): for each packet `displayFilter` selects, the values of
 * `fields`, each field's occurrences joined by commas (e.g. every cipher suite of a hello). DTLS on WebRTC's random
 * UDP ports is found by tshark's own heuristic (on by default).
 */
export function tsharkFields(path: string, displayFilter: string, fields: readonly string[]): string[][] {
  const output = execFileSync(
    'tshark',
    [
      '-r',
      path,
      '-n',
      '-Y',
      displayFilter,
      '-T',
      'fields',
      '-E',
      'separator=/t',
      '-E',
      'occurrence=a',
      '-E',
      'aggregator=,',
      ...fields.flatMap((field) => ['-e', field]),
    ],
    { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return output
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}
