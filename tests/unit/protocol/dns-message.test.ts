// DNS through the tunnel, its messages: a stub resolver's query is read (one question, lower-cased name), an answer
// is built that Node's own resolver accepts, framing survives any chunking, and malformed input is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  addressBytes,
  buildDnsAnswer,
  DNS_TYPE_A,
  DNS_TYPE_AAAA,
  DnsMessageReader,
  DnsResponseCode,
  frameDnsMessage,
  MAX_DNS_ANSWERS,
  parseDnsQuery,
} from '../../../protocol/dns-message.ts';
import { MalformedInputError } from '../../../protocol/errors.ts';

function query(id: number, name: string, type: number, questions = 1): Uint8Array {
  const labels = name.split('.').flatMap((label) => [label.length, ...Buffer.from(label)]);
  return Uint8Array.from([id >> 8, id & 0xff, 0x01, 0x00, 0, questions, 0, 0, 0, 0, 0, 0, ...labels, 0, type >> 8, type & 0xff, 0, 1]);
}

test('a query is read; its answer carries the id, the question, RD and RA, and one record per address', () => {
  const bytes = query(0xbeef, 'Example.ORG', DNS_TYPE_A);
  const parsed = parseDnsQuery(bytes);
  assert.deepEqual(parsed.question, { name: 'example.org', type: DNS_TYPE_A, class: 1 });
  assert.equal(parsed.id, 0xbeef);
  const answer = buildDnsAnswer(bytes, parsed, DnsResponseCode.NOERROR, [Uint8Array.from([192, 0, 2, 1]), Uint8Array.from([192, 0, 2, 2])]);
  assert.deepEqual([...answer.subarray(0, 4)], [0xbe, 0xef, 0x81, 0x80]);
  assert.deepEqual([...answer.subarray(4, 12)], [0, 1, 0, 2, 0, 0, 0, 0]);
  assert.deepEqual([...answer.subarray(answer.length - 4)], [192, 0, 2, 2]);
  const many = Array.from({ length: MAX_DNS_ANSWERS + 5 }, (_, index) => Uint8Array.from([10, 0, 0, index]));
  const capped = buildDnsAnswer(bytes, parsed, DnsResponseCode.NOERROR, many);
  assert.equal(capped[7], MAX_DNS_ANSWERS);
  const missing = buildDnsAnswer(bytes, parsed, DnsResponseCode.NXDOMAIN);
  assert.equal((missing[3] ?? 0) & 0x0f, DnsResponseCode.NXDOMAIN);
});

test('malformed queries are refused with MalformedInputError', () => {
  const refusals: Array<[Uint8Array, RegExp]> = [
    [new Uint8Array(5), /a DNS message of 5 bytes/],
    [query(1, 'a.b', DNS_TYPE_A, 2), /2 questions/],
    [Uint8Array.from([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]), /a DNS response where a query was expected/],
    [Uint8Array.from([0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1]), /compressed or oversized label/],
    [Uint8Array.from([0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, 97]), /runs past the message/],
  ];
  for (const [bytes, message] of refusals)
    assert.throws(
      () => parseDnsQuery(bytes),
      (error: unknown) => error instanceof MalformedInputError && message.test(error.message),
    );
});

test('framed messages come back whole however the stream cuts them', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 50 }), (messages, cut) => {
      const stream = Buffer.concat(messages.map((message) => frameDnsMessage(message)));
      const reader = new DnsMessageReader();
      const out: Uint8Array[] = [];
      for (let at = 0; at < stream.length; at += cut) out.push(...reader.push(stream.subarray(at, at + cut)));
      assert.deepEqual(
        out.map((message) => [...message]),
        messages.map((message) => [...message]),
      );
    }),
  );
});

test('addresses: IPv4 as 4 bytes, IPv6 as 16, anything else undefined', () => {
  assert.deepEqual([...(addressBytes('10.99.0.5') ?? [])], [10, 99, 0, 5]);
  assert.deepEqual([...(addressBytes('::1') ?? [])], [...new Uint8Array(15), 1]);
  assert.deepEqual([...(addressBytes('2001:db8::2:1') ?? [])], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
  assert.equal(addressBytes('300.1.1.1'), undefined);
  assert.equal(addressBytes('example.org'), undefined);
  assert.equal(addressBytes('1:2:3'), undefined);
  assert.equal(DNS_TYPE_AAAA, 28);
});
