import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Socks5HandshakeEvent } from '../../../native-helper/socks5-handshake.ts';
import { formatIpv6, Socks5HandshakeError, Socks5HandshakeParser } from '../../../native-helper/socks5-handshake.ts';

function feedByteByByte(parser: Socks5HandshakeParser, bytes: Uint8Array): Socks5HandshakeEvent[] {
  const events: Socks5HandshakeEvent[] = [];
  for (const byte of bytes) {
    if (parser.finished) break;
    events.push(...parser.push(Uint8Array.of(byte)));
  }
  return events;
}

describe('Socks5HandshakeParser', () => {
  test('a greeting and a domain request fed one byte at a time give one greeting and one connect', () => {
    const parser = new Socks5HandshakeParser(257);
    const name = [...Buffer.from('example.org')];
    const events = feedByteByByte(parser, Uint8Array.of(5, 2, 2, 0, 5, 1, 0, 3, name.length, ...name, 0x01, 0xbb));
    assert.deepEqual(
      events.map((event) => event.kind),
      ['greeting', 'connect'],
    );
    assert.deepEqual(events[1], { kind: 'connect', target: { host: 'example.org', port: 443 }, earlyData: new Uint8Array(0) });
    assert.ok(parser.finished);
  });

  test('everything in one chunk, with trailing data, gives the data as earlyData', () => {
    const parser = new Socks5HandshakeParser(257);
    const events = parser.push(Uint8Array.of(5, 1, 0, 5, 1, 0, 1, 10, 0, 0, 1, 0, 80, 0xaa, 0xbb));
    assert.deepEqual(events[1], { kind: 'connect', target: { host: '10.0.0.1', port: 80 }, earlyData: Uint8Array.of(0xaa, 0xbb) });
  });

  test('IPv6 addresses are formatted per RFC 5952', () => {
    assert.equal(formatIpv6(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)), '::1');
    assert.equal(formatIpv6(Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1)), '2001:db8::1:0:0:1');
    assert.equal(formatIpv6(Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1)), '2001:db8:0:1:1:1:1:1');
    assert.equal(formatIpv6(new Uint8Array(16)), '::');
  });

  const refusals: Array<[string, number[], string, number[] | null]> = [
    ['wrong greeting version', [4, 1, 0], 'SOCKS_BAD_VERSION', [5, 0xff]],
    ['zero methods', [5, 0], 'SOCKS_BAD_GREETING', [5, 0xff]],
    ['no NO-AUTH method', [5, 1, 2], 'SOCKS_NO_METHOD', [5, 0xff]],
    ['BIND', [5, 1, 0, 5, 2, 0, 1], 'SOCKS_COMMAND_NOT_SUPPORTED', [5, 7, 0, 1, 0, 0, 0, 0, 0, 0]],
    ['unknown address type', [5, 1, 0, 5, 1, 0, 9], 'SOCKS_ADDRESS_TYPE_NOT_SUPPORTED', [5, 8, 0, 1, 0, 0, 0, 0, 0, 0]],
    ['empty domain', [5, 1, 0, 5, 1, 0, 3, 0], 'SOCKS_BAD_ADDRESS', [5, 1, 0, 1, 0, 0, 0, 0, 0, 0]],
    ['domain with a space', [5, 1, 0, 5, 1, 0, 3, 3, 0x61, 0x20, 0x62, 0, 80], 'SOCKS_BAD_ADDRESS', [5, 1, 0, 1, 0, 0, 0, 0, 0, 0]],
    ['port 0', [5, 1, 0, 5, 1, 0, 1, 1, 2, 3, 4, 0, 0], 'SOCKS_BAD_PORT', [5, 1, 0, 1, 0, 0, 0, 0, 0, 0]],
  ];
  for (const [what, bytes, code, reply] of refusals) {
    test(`refuses ${what} with ${code}`, () => {
      const parser = new Socks5HandshakeParser(257);
      assert.throws(
        () => parser.push(Uint8Array.from(bytes)),
        (error: unknown) => {
          assert.ok(error instanceof Socks5HandshakeError);
          assert.equal(error.code, code);
          assert.deepEqual(error.reply ? [...error.reply] : null, reply);
          return true;
        },
      );
      assert.ok(parser.finished);
    });
  }

  test('maxGreetingBytes bounds the methods list', () => {
    assert.throws(() => new Socks5HandshakeParser(4).push(Uint8Array.of(5, 3)), { code: 'SOCKS_BAD_GREETING' });
    assert.equal(new Socks5HandshakeParser(4).push(Uint8Array.of(5, 2, 1, 0)).length, 1);
  });
});
