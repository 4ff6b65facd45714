// Direct tests of protocol/stun-message.ts: Binding requests are encoded as RFC 5389/5780 lay them out, responses
// (as coturn sends them) decode, and every malformed datagram fails with StunFormatError, never anything else.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { concatBytes, viewOf } from '../../../protocol/bytes.ts';
import {
  decodeBindingResponse,
  encodeBindingRequest,
  formatIpv6,
  formatStunAddress,
  MAX_STUN_MESSAGE_BYTES,
  peekTransactionId,
  STUN_MAGIC_COOKIE,
  StunAttribute,
  StunFormatError,
  StunMessageType,
} from '../../../protocol/stun-message.ts';

const TRANSACTION_ID = Uint8Array.from({ length: 12 }, (_, i) => i + 1);

function attribute(type: number, value: Uint8Array): Uint8Array {
  const padded = new Uint8Array(4 + value.length + ((4 - (value.length % 4)) % 4));
  viewOf(padded).setUint16(0, type);
  viewOf(padded).setUint16(2, value.length);
  padded.set(value, 4);
  return padded;
}

function message(type: number, attributes: Uint8Array[], transactionId = TRANSACTION_ID): Uint8Array {
  const body = concatBytes(...attributes);
  const header = new Uint8Array(20);
  viewOf(header).setUint16(0, type);
  viewOf(header).setUint16(2, body.length);
  viewOf(header).setUint32(4, STUN_MAGIC_COOKIE);
  header.set(transactionId, 8);
  return concatBytes(header, body);
}

function ipv4Address(address: string, port: number, xor = false): Uint8Array {
  const value = new Uint8Array(8);
  value[1] = 0x01;
  viewOf(value).setUint16(2, xor ? port ^ (STUN_MAGIC_COOKIE >>> 16) : port);
  const octets = address.split('.').map(Number);
  const cookie = [0x21, 0x12, 0xa4, 0x42];
  octets.forEach((octet, i) => {
    value[4 + i] = xor ? octet ^ cookie[i]! : octet;
  });
  return value;
}

test('a Binding request is a bare 20-byte header, with CHANGE-REQUEST only when a flag is set', () => {
  const plain = encodeBindingRequest({ transactionId: TRANSACTION_ID });
  assert.equal(plain.length, 20);
  assert.equal(viewOf(plain).getUint16(0), StunMessageType.BINDING_REQUEST);
  assert.equal(viewOf(plain).getUint16(2), 0);
  assert.equal(viewOf(plain).getUint32(4), STUN_MAGIC_COOKIE);
  assert.deepEqual(plain.slice(8), TRANSACTION_ID);

  for (const [change, flags] of [
    [{ changeIp: true, changePort: true }, 0x06],
    [{ changePort: true }, 0x02],
    [{ changeIp: true }, 0x04],
  ] as const) {
    const bytes = encodeBindingRequest({ transactionId: TRANSACTION_ID, ...change });
    assert.equal(bytes.length, 28);
    assert.equal(viewOf(bytes).getUint16(2), 8, 'length counts the attribute');
    assert.equal(viewOf(bytes).getUint16(20), StunAttribute.CHANGE_REQUEST);
    assert.equal(viewOf(bytes).getUint16(22), 4);
    assert.equal(viewOf(bytes).getUint32(24), flags);
  }
  assert.throws(() => encodeBindingRequest({ transactionId: new Uint8Array(11) }), RangeError);
});

test('a success response as coturn sends it decodes: XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, OTHER-ADDRESS, RESPONSE-ORIGIN; unknown attributes are skipped', () => {
  const bytes = message(StunMessageType.BINDING_SUCCESS, [
    attribute(StunAttribute.XOR_MAPPED_ADDRESS, ipv4Address('198.51.100.7', 40_000, true)),
    attribute(StunAttribute.MAPPED_ADDRESS, ipv4Address('198.51.100.7', 40_000)),
    attribute(StunAttribute.RESPONSE_ORIGIN, ipv4Address('203.0.113.1', 3478)),
    attribute(StunAttribute.OTHER_ADDRESS, ipv4Address('203.0.113.2', 3479)),
    attribute(0x8022, new TextEncoder().encode('Coturn-4.6.1')), // SOFTWARE, 12 bytes
    attribute(0x8023, Uint8Array.of(1, 2, 3)), // unknown, padded to 4
  ]);
  const response = decodeBindingResponse(bytes);
  assert.equal(response.type, StunMessageType.BINDING_SUCCESS);
  assert.deepEqual(response.transactionId, TRANSACTION_ID);
  assert.deepEqual(response.xorMappedAddress, { family: 'IPv4', address: '198.51.100.7', port: 40_000 });
  assert.deepEqual(response.mappedAddress, { family: 'IPv4', address: '198.51.100.7', port: 40_000 });
  assert.deepEqual(response.responseOrigin, { family: 'IPv4', address: '203.0.113.1', port: 3478 });
  assert.deepEqual(response.otherAddress, { family: 'IPv4', address: '203.0.113.2', port: 3479 });
  assert.deepEqual(peekTransactionId(bytes), TRANSACTION_ID);
});

test('an IPv6 XOR-MAPPED-ADDRESS is unmasked with the cookie and the transaction id, and printed as RFC 5952 text', () => {
  const address = Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01);
  const mask = concatBytes(Uint8Array.of(0x21, 0x12, 0xa4, 0x42), TRANSACTION_ID);
  const value = new Uint8Array(20);
  value[1] = 0x02;
  viewOf(value).setUint16(2, 3478 ^ 0x2112);
  for (let i = 0; i < 16; i++) value[4 + i] = address[i]! ^ mask[i]!;
  const response = decodeBindingResponse(message(StunMessageType.BINDING_SUCCESS, [attribute(StunAttribute.XOR_MAPPED_ADDRESS, value)]));
  assert.deepEqual(response.xorMappedAddress, { family: 'IPv6', address: '2001:db8::1', port: 3478 });
  assert.equal(formatStunAddress({ address: '2001:db8::1', port: 3478 }), '[2001:db8::1]:3478');
  assert.equal(formatIpv6(new Uint8Array(16)), '::');
  assert.equal(formatIpv6(Uint8Array.of(0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0)), '1:0:2::3:0', 'the longest zero run is compressed');
});

test('RFC 3489 CHANGED-ADDRESS stands in for OTHER-ADDRESS, which wins when both come; an error response carries its code', () => {
  const changedOnly = decodeBindingResponse(
    message(StunMessageType.BINDING_SUCCESS, [attribute(StunAttribute.CHANGED_ADDRESS, ipv4Address('203.0.113.9', 3479))]),
  );
  assert.equal(changedOnly.otherAddress?.address, '203.0.113.9');
  const both = decodeBindingResponse(
    message(StunMessageType.BINDING_SUCCESS, [
      attribute(StunAttribute.CHANGED_ADDRESS, ipv4Address('203.0.113.9', 3479)),
      attribute(StunAttribute.OTHER_ADDRESS, ipv4Address('203.0.113.2', 3479)),
    ]),
  );
  assert.equal(both.otherAddress?.address, '203.0.113.2');
  const error = decodeBindingResponse(
    message(StunMessageType.BINDING_ERROR, [
      attribute(StunAttribute.ERROR_CODE, concatBytes(Uint8Array.of(0, 0, 4, 20), new TextEncoder().encode('Unknown Attribute'))),
    ]),
  );
  assert.equal(error.type, StunMessageType.BINDING_ERROR);
  assert.deepEqual(error.error, { code: 420, reason: 'Unknown Attribute' });
});

test('malformed datagrams fail with StunFormatError saying which check failed', () => {
  const good = message(StunMessageType.BINDING_SUCCESS, [attribute(StunAttribute.XOR_MAPPED_ADDRESS, ipv4Address('198.51.100.7', 1, true))]);
  const withLength = (bytes: Uint8Array, length: number): Uint8Array => {
    const copy = bytes.slice();
    viewOf(copy).setUint16(2, length);
    return copy;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /too few/],
    ['short header', good.subarray(0, 19), /too few/],
    ['oversize', new Uint8Array(MAX_STUN_MESSAGE_BYTES + 1), /over/],
    [
      'top bits set',
      (() => {
        const copy = good.slice();
        copy[0] = 0x81;
        return copy;
      })(),
      /first two bits/,
    ],
    [
      'no magic cookie',
      (() => {
        const copy = good.slice();
        viewOf(copy).setUint32(4, 0);
        return copy;
      })(),
      /magic cookie/,
    ],
    ['length not a multiple of 4', withLength(good, 10), /multiple of 4/],
    ['length beyond the datagram', withLength(good, 16), /announces/],
    ['a request, not a response', message(StunMessageType.BINDING_REQUEST, []), /not a Binding response/],
    ['attribute past the end', message(StunMessageType.BINDING_SUCCESS, [Uint8Array.of(0x00, 0x20, 0x00, 0x40)]), /past the end/],
    [
      'unknown address family',
      message(StunMessageType.BINDING_SUCCESS, [attribute(StunAttribute.MAPPED_ADDRESS, Uint8Array.of(0, 3, 0, 1, 1, 2, 3, 4))]),
      /family 3/,
    ],
    [
      'IPv4 address of the wrong length',
      message(StunMessageType.BINDING_SUCCESS, [attribute(StunAttribute.OTHER_ADDRESS, Uint8Array.of(0, 1, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8))]),
      /8 bytes/,
    ],
    ['address shorter than its head', message(StunMessageType.BINDING_SUCCESS, [attribute(StunAttribute.RESPONSE_ORIGIN, Uint8Array.of(0, 1))]), /head/],
    ['error code out of range', message(StunMessageType.BINDING_ERROR, [attribute(StunAttribute.ERROR_CODE, Uint8Array.of(0, 0, 7, 0))]), /outside/],
    [
      'reason not UTF-8',
      message(StunMessageType.BINDING_ERROR, [attribute(StunAttribute.ERROR_CODE, Uint8Array.of(0, 0, 4, 0, 0xff, 0xfe, 0xfd, 0xfc))]),
      /UTF-8/,
    ],
  ];
  for (const [name, bytes, why] of cases) {
    assert.throws(
      () => decodeBindingResponse(bytes),
      (error: unknown) => error instanceof StunFormatError && error.code === 'STUN_MALFORMED' && why.test(error.message),
      name,
    );
  }
  assert.equal(peekTransactionId(new Uint8Array(10)), undefined, 'no transaction id in a datagram too short for a header');
});

test('any bytes at all decode or fail with StunFormatError: never another error', () => {
  const header = fc.record({
    type: fc.oneof(fc.constantFrom(0x0101, 0x0111, 0x0001), fc.integer({ min: 0, max: 0xffff })),
    body: fc.uint8Array({ maxLength: 120 }),
  });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        header.map(({ type, body }) => message(type, [body])),
      ),
      (bytes) => {
        try {
          decodeBindingResponse(bytes);
        } catch (error) {
          assert.ok(error instanceof StunFormatError, `unexpected ${String(error)}`);
        }
      },
    ),
    { numRuns: 2_000 },
  );
  // Well-formed attribute lists of random types and values never throw anything but StunFormatError either.
  fc.assert(
    fc.property(fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 24 }) }), { maxLength: 6 }), (attributes) => {
      try {
        decodeBindingResponse(
          message(
            StunMessageType.BINDING_SUCCESS,
            attributes.map(({ type, value }) => attribute(type, value)),
          ),
        );
      } catch (error) {
        assert.ok(error instanceof StunFormatError, `unexpected ${String(error)}`);
      }
    }),
    { numRuns: 2_000 },
  );
});
