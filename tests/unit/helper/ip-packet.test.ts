// The system stack's packet rewriting: addresses and ports swapped in place must leave both checksums exactly as a
// full recomputation would (RFC 1624's incremental update has a well-known pitfall around 0x0000/0xffff), for TCP and
// UDP, for any addresses, ports and payload; and packets that are not IPv4 TCP or UDP are recognised, never guessed at.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  buildUdpPacket,
  checksumsValid,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  internetChecksum,
  ipv4ToNumber,
  numberToIpv4,
  packetKind,
  readFlowHeader,
  rewriteFlow,
} from '../../../native-helper/tun/ip-packet.ts';

/** A valid IPv4 packet of `protocol` with both checksums computed in full. */
function packet(
  protocol: number,
  source: number,
  destination: number,
  sourcePort: number,
  destinationPort: number,
  payload: Uint8Array,
  flags = 0x18,
): Uint8Array {
  const transportBytes = protocol === IP_PROTOCOL_TCP ? 20 : 8;
  const bytes = new Uint8Array(20 + transportBytes + payload.length);
  const view = new DataView(bytes.buffer);
  bytes[0] = 0x45;
  view.setUint16(2, bytes.length);
  view.setUint16(6, 0x4000);
  bytes[8] = 64;
  bytes[9] = protocol;
  view.setUint32(12, source);
  view.setUint32(16, destination);
  view.setUint16(10, internetChecksum(bytes.subarray(0, 20)));
  view.setUint16(20, sourcePort);
  view.setUint16(22, destinationPort);
  if (protocol === IP_PROTOCOL_TCP) {
    view.setUint32(24, 12345);
    bytes[32] = 0x50;
    bytes[33] = flags;
    view.setUint16(34, 65535);
  } else {
    view.setUint16(24, 8 + payload.length);
  }
  bytes.set(payload, 20 + transportBytes);
  const pseudo = new Uint8Array(12);
  pseudo.set(bytes.subarray(12, 20));
  pseudo[9] = protocol;
  new DataView(pseudo.buffer).setUint16(10, transportBytes + payload.length);
  const sum = internetChecksum(bytes.subarray(20), ~internetChecksum(pseudo) & 0xffff);
  view.setUint16(protocol === IP_PROTOCOL_TCP ? 36 : 26, protocol === IP_PROTOCOL_UDP && sum === 0 ? 0xffff : sum);
  return bytes;
}

const address = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 0, max: 0xffff });

test('rewriting addresses and ports keeps both checksums valid, for TCP and UDP, whatever the values', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(IP_PROTOCOL_TCP, IP_PROTOCOL_UDP),
      fc.tuple(address, address, port, port),
      fc.tuple(address, address, port, port),
      fc.uint8Array({ maxLength: 300 }),
      (protocol, [source, destination, sourcePort, destinationPort], [toSource, toDestination, toSourcePort, toDestinationPort], payload) => {
        const bytes = packet(protocol, source, destination, sourcePort, destinationPort, payload);
        assert.ok(checksumsValid(bytes), 'the packet starts valid');
        const header = readFlowHeader(bytes);
        rewriteFlow(bytes, header, { source: toSource, destination: toDestination, sourcePort: toSourcePort, destinationPort: toDestinationPort });
        assert.ok(checksumsValid(bytes), 'and stays valid');
        const again = readFlowHeader(bytes);
        assert.deepEqual(
          [again.source, again.destination, again.sourcePort, again.destinationPort],
          [toSource, toDestination, toSourcePort, toDestinationPort],
        );
        // The same bytes a full recomputation gives (not merely some valid checksum).
        const expected = packet(protocol, toSource, toDestination, toSourcePort, toDestinationPort, payload);
        assert.deepEqual(bytes, expected);
      },
    ),
    { numRuns: 2_000 },
  );
});

test('a UDP packet without a checksum (0) keeps none; a built UDP packet is valid', () => {
  const bytes = packet(IP_PROTOCOL_UDP, 1, 2, 3, 4, new Uint8Array([1, 2, 3]));
  new DataView(bytes.buffer).setUint16(26, 0);
  rewriteFlow(bytes, readFlowHeader(bytes), { source: 5, destination: 6, sourcePort: 7, destinationPort: 8 });
  assert.equal(new DataView(bytes.buffer).getUint16(26), 0);
  assert.ok(checksumsValid(bytes));
  const built = buildUdpPacket(ipv4ToNumber('10.0.0.53'), 53, ipv4ToNumber('198.18.0.1'), 40000, new Uint8Array([9, 8, 7, 6, 5]));
  assert.ok(checksumsValid(built));
  assert.equal(packetKind(built), 'ipv4-udp');
  const header = readFlowHeader(built);
  assert.deepEqual(
    [numberToIpv4(header.source), header.sourcePort, numberToIpv4(header.destination), header.destinationPort],
    ['10.0.0.53', 53, '198.18.0.1', 40000],
  );
});

test('what is not IPv4 TCP or UDP is recognised as such', () => {
  const tcp = packet(IP_PROTOCOL_TCP, 1, 2, 3, 4, new Uint8Array(0), 0x02);
  assert.equal(packetKind(tcp), 'ipv4-tcp');
  assert.equal(readFlowHeader(tcp).tcpFlags, 0x02);
  assert.equal(packetKind(new Uint8Array([0x60, 0, 0, 0])), 'ipv6');
  assert.equal(packetKind(new Uint8Array([])), 'malformed');
  assert.equal(packetKind(tcp.subarray(0, 30)), 'malformed', 'shorter than its total length');
  const icmp = Uint8Array.from(tcp);
  icmp[9] = 1;
  assert.equal(packetKind(icmp), 'ipv4-other');
  const fragment = Uint8Array.from(tcp);
  new DataView(fragment.buffer).setUint16(6, 0x0010);
  assert.equal(packetKind(fragment), 'ipv4-other', 'a later fragment has no transport header');
  assert.throws(() => ipv4ToNumber('300.1.1.1'), /not an IPv4 address/);
});
