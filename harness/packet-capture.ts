/**
 * @module harness/packet-capture
 * Reading what tcpdump captured (a classic pcap file, Ethernet link type) so a test can say what crossed a wire:
 * each IPv4 packet's addresses, ports and payload, and the server names (SNI) of TLS ClientHellos. Only what the
 * tests check is parsed; anything else (IPv6, ARP, other link types) is skipped, never guessed at.
 */
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

/** The IPv4 packets of a pcap file written by `tcpdump -w` on an Ethernet (or veth) interface. */
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
