/**
 * @module tun/ip-packet
 * Reading and rewriting the IP packets a TUN device carries, in place: what the system stack (system-stack.ts) needs
 * to turn a device's TCP flow into an ordinary connection to a local listener. IPv4 with TCP or UDP is understood;
 * anything else is reported as such and never guessed at. Checksums are kept valid by RFC 1624's incremental update
 * (only addresses and ports change, so the payload is never summed again). No Node API: plain Uint8Array.
 */

export const IP_PROTOCOL_ICMP = 1;
export const IP_PROTOCOL_TCP = 6;
export const IP_PROTOCOL_UDP = 17;

/** TCP flags this module reads. */
export const TCP_FLAG_FIN = 0x01;
export const TCP_FLAG_SYN = 0x02;
export const TCP_FLAG_RST = 0x04;
export const TCP_FLAG_ACK = 0x10;

/** What a packet is, as far as the system stack cares. */
export type PacketKind = 'ipv4-tcp' | 'ipv4-udp' | 'ipv4-other' | 'ipv6' | 'malformed';

/** An IPv4 TCP or UDP packet's addressing, read from its headers (addresses as 32-bit numbers). */
export interface FlowHeader {
  protocol: typeof IP_PROTOCOL_TCP | typeof IP_PROTOCOL_UDP;
  source: number;
  destination: number;
  sourcePort: number;
  destinationPort: number;
  /** Where the TCP or UDP header starts. */
  transportOffset: number;
  /** TCP flags (0 for UDP). */
  tcpFlags: number;
}

export function packetKind(packet: Uint8Array): PacketKind {
  if (packet.length < 1) return 'malformed';
  const version = (packet[0] ?? 0) >> 4;
  if (version === 6) return 'ipv6';
  if (version !== 4 || packet.length < 20) return 'malformed';
  const headerBytes = ((packet[0] ?? 0) & 0x0f) * 4;
  const totalLength = readU16(packet, 2);
  if (headerBytes < 20 || totalLength < headerBytes || totalLength > packet.length) return 'malformed';
  // A fragment other than the first has no transport header; the system stack sets DF on what it terminates, so
  // fragments are the odd case and are dropped with the other protocols.
  const fragmentOffset = readU16(packet, 6) & 0x1fff;
  const protocol = packet[9];
  if (fragmentOffset !== 0) return 'ipv4-other';
  if (protocol === IP_PROTOCOL_TCP) return totalLength >= headerBytes + 20 ? 'ipv4-tcp' : 'malformed';
  if (protocol === IP_PROTOCOL_UDP) return totalLength >= headerBytes + 8 ? 'ipv4-udp' : 'malformed';
  return 'ipv4-other';
}

/** The addressing of an IPv4 TCP or UDP packet (check packetKind first). */
export function readFlowHeader(packet: Uint8Array): FlowHeader {
  const transportOffset = ((packet[0] ?? 0) & 0x0f) * 4;
  const protocol = packet[9] === IP_PROTOCOL_TCP ? IP_PROTOCOL_TCP : IP_PROTOCOL_UDP;
  return {
    protocol,
    source: readU32(packet, 12),
    destination: readU32(packet, 16),
    sourcePort: readU16(packet, transportOffset),
    destinationPort: readU16(packet, transportOffset + 2),
    transportOffset,
    tcpFlags: protocol === IP_PROTOCOL_TCP ? (packet[transportOffset + 13] ?? 0) : 0,
  };
}

/**
 * Rewrites an IPv4 TCP or UDP packet's addresses and ports in place, keeping the IP header checksum and the transport
 * checksum valid (both cover the addresses: the transport one through its pseudo-header). A UDP checksum of 0 means
 * "none" and stays 0.
 */
export function rewriteFlow(
  packet: Uint8Array,
  header: FlowHeader,
  to: { source: number; destination: number; sourcePort: number; destinationPort: number },
): void {
  const ipChecksum = readU16(packet, 10);
  const checksumAt = header.transportOffset + (header.protocol === IP_PROTOCOL_TCP ? 16 : 6);
  const transportChecksum = readU16(packet, checksumAt);
  let ipSum = ~ipChecksum & 0xffff;
  let transportSum = ~transportChecksum & 0xffff;
  const swap32 = (offset: number, value: number): void => {
    const before = readU32(packet, offset);
    ipSum = adjust(ipSum, before >>> 16, value >>> 16);
    ipSum = adjust(ipSum, before & 0xffff, value & 0xffff);
    transportSum = adjust(transportSum, before >>> 16, value >>> 16);
    transportSum = adjust(transportSum, before & 0xffff, value & 0xffff);
    writeU32(packet, offset, value);
  };
  const swap16 = (offset: number, value: number): void => {
    transportSum = adjust(transportSum, readU16(packet, offset), value);
    writeU16(packet, offset, value);
  };
  swap32(12, to.source);
  swap32(16, to.destination);
  swap16(header.transportOffset, to.sourcePort);
  swap16(header.transportOffset + 2, to.destinationPort);
  writeU16(packet, 10, ~ipSum & 0xffff);
  if (header.protocol === IP_PROTOCOL_UDP && transportChecksum === 0) return;
  let result = ~transportSum & 0xffff;
  // In UDP a computed 0 is sent as 0xffff (0 would mean "no checksum"); TCP sends 0 as is.
  if (header.protocol === IP_PROTOCOL_UDP && result === 0) result = 0xffff;
  writeU16(packet, checksumAt, result);
  header.source = to.source;
  header.destination = to.destination;
  header.sourcePort = to.sourcePort;
  header.destinationPort = to.destinationPort;
}

/** RFC 1624 eqn. 3: a one's-complement sum with the 16-bit word `before` replaced by `after`. */
function adjust(sum: number, before: number, after: number): number {
  let next = sum + (~before & 0xffff) + after;
  next = (next & 0xffff) + (next >>> 16);
  return (next & 0xffff) + (next >>> 16);
}

/** The Internet checksum (RFC 1071) of `bytes`, as sent (the complement of the one's-complement sum). */
export function internetChecksum(bytes: Uint8Array, initialSum = 0): number {
  let sum = initialSum;
  for (let index = 0; index + 1 < bytes.length; index += 2) sum += ((bytes[index] ?? 0) << 8) | (bytes[index + 1] ?? 0);
  if (bytes.length % 2 === 1) sum += (bytes[bytes.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Whether an IPv4 TCP or UDP packet's IP and transport checksums are both valid (tests; never on the hot path). */
export function checksumsValid(packet: Uint8Array): boolean {
  const headerBytes = ((packet[0] ?? 0) & 0x0f) * 4;
  const totalLength = readU16(packet, 2);
  if (internetChecksum(packet.subarray(0, headerBytes)) !== 0) return false;
  const segment = packet.subarray(headerBytes, totalLength);
  if (packet[9] === IP_PROTOCOL_UDP && readU16(segment, 6) === 0) return true;
  const pseudo = new Uint8Array(12);
  pseudo.set(packet.subarray(12, 20), 0);
  pseudo[9] = packet[9] ?? 0;
  writeU16(pseudo, 10, segment.length);
  const pseudoSum = (~internetChecksum(pseudo) & 0xffff) >>> 0;
  return internetChecksum(segment, pseudoSum) === 0;
}

/**
 * A whole IPv4 UDP packet from `source`:`sourcePort` to `destination`:`destinationPort` carrying `payload`, with both
 * checksums computed: what the system stack writes back for a DNS answer.
 */
export function buildUdpPacket(source: number, sourcePort: number, destination: number, destinationPort: number, payload: Uint8Array): Uint8Array {
  const packet = new Uint8Array(28 + payload.length);
  packet[0] = 0x45;
  writeU16(packet, 2, packet.length);
  writeU16(packet, 6, 0x4000); // don't fragment
  packet[8] = 64; // TTL
  packet[9] = IP_PROTOCOL_UDP;
  writeU32(packet, 12, source);
  writeU32(packet, 16, destination);
  writeU16(packet, 10, internetChecksum(packet.subarray(0, 20)));
  writeU16(packet, 20, sourcePort);
  writeU16(packet, 22, destinationPort);
  writeU16(packet, 24, 8 + payload.length);
  packet.set(payload, 28);
  const pseudo = new Uint8Array(12);
  pseudo.set(packet.subarray(12, 20), 0);
  pseudo[9] = IP_PROTOCOL_UDP;
  writeU16(pseudo, 10, 8 + payload.length);
  const checksum = internetChecksum(packet.subarray(20), (~internetChecksum(pseudo) & 0xffff) >>> 0);
  writeU16(packet, 26, checksum === 0 ? 0xffff : checksum);
  return packet;
}

/** The UDP payload of an IPv4 UDP packet. */
export function udpPayload(packet: Uint8Array, header: FlowHeader): Uint8Array {
  const totalLength = readU16(packet, 2);
  return packet.subarray(header.transportOffset + 8, totalLength);
}

/** "a.b.c.d" to a 32-bit number; throws for anything else. */
export function ipv4ToNumber(address: string): number {
  const parts = address.split('.');
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) throw new TypeError(`not an IPv4 address: ${address}`);
  return parts.reduce((value, part) => value * 256 + Number(part), 0) >>> 0;
}

export function numberToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

function readU16(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (((bytes[offset] ?? 0) << 24) | ((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0)) >>> 0;
}

function writeU16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 8) & 0xff;
  bytes[offset + 1] = value & 0xff;
}

function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}
