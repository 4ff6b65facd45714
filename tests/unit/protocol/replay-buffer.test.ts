// Direct tests of protocol/replay-buffer.ts: push / acknowledge / from / clear against a plain model, the byte bound, and compaction.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SessionCloseCode } from '../../../protocol/constants.ts';
import { ProtocolError } from '../../../protocol/errors.ts';
import { ReplayBuffer, ReplayBufferFullError } from '../../../protocol/replay-buffer.ts';

interface Entry {
  seq: number;
  record: Uint8Array;
}

/** The obvious implementation: an array of what has been sent and not acknowledged. */
class Model {
  entries: Entry[] = [];
  bytes = 0;
  push(entry: Entry): void {
    this.entries.push(entry);
    this.bytes += entry.record.length;
  }
  acknowledge(nextExpectedSeq: number): void {
    this.entries = this.entries.filter((entry) => entry.seq >= nextExpectedSeq);
    this.bytes = this.entries.reduce((sum, entry) => sum + entry.record.length, 0);
  }
  clear(): void {
    this.entries = [];
    this.bytes = 0;
  }
}

function assertSameAs(buffer: ReplayBuffer, model: Model, fromSeq = 0): void {
  assert.equal(buffer.count, model.entries.length);
  assert.equal(buffer.bytes, model.bytes);
  assert.equal(buffer.oldestSeq, model.entries[0]?.seq);
  const replayed = [...buffer.from(fromSeq)].map((entry) => entry.record);
  const expected = model.entries.filter((entry) => entry.seq >= fromSeq).map((entry) => entry.record);
  assert.equal(replayed.length, expected.length);
  // The very records pushed, in push order (identity, not just equal bytes).
  replayed.forEach((record, index) => {
    assert.equal(record, expected[index]);
  });
}

type Op =
  | { kind: 'push'; sizes: number[] }
  | { kind: 'burst'; count: number; size: number }
  | { kind: 'ack'; step: number }
  | { kind: 'staleAck'; back: number }
  | { kind: 'from'; offset: number }
  | { kind: 'clear' };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.array(fc.integer({ min: 0, max: 64 }), { minLength: 1, maxLength: 100, size: 'medium' }).map((sizes): Op => ({ kind: 'push', sizes })),
  },
  // Many tiny records at once, so that runs get past the 1,024 acknowledged records after which the buffer compacts.
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.noBias(fc.integer({ min: 300, max: 1500 })), fc.integer({ min: 0, max: 3 }))
      .map(([count, size]): Op => ({ kind: 'burst', count, size })),
  },
  { weight: 12, arbitrary: fc.noBias(fc.integer({ min: 0, max: 1500 })).map((step): Op => ({ kind: 'ack', step })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 50 }).map((back): Op => ({ kind: 'staleAck', back })) },
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 500 }).map((offset): Op => ({ kind: 'from', offset })) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'clear' }) },
);

test('any sequence of push, acknowledge, from and clear behaves like a plain array of unacknowledged records', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.noBias(fc.integer({ min: 0, max: 1 << 20 }))),
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.array(op, { maxLength: 30, size: 'medium' }),
      (maxBytes, firstSeq, ops) => {
        const buffer = new ReplayBuffer(maxBytes);
        const model = new Model();
        let nextSeq = firstSeq;
        let acknowledged = firstSeq; // the highest "next expected" the peer has sent so far
        for (const step of ops) {
          switch (step.kind) {
            case 'push':
            case 'burst':
              for (const size of step.kind === 'push' ? step.sizes : new Array<number>(step.count).fill(step.size)) {
                const record = new Uint8Array(size).fill(nextSeq & 0xff);
                if (model.bytes + size > maxBytes) {
                  assert.throws(() => buffer.push(nextSeq, record), ReplayBufferFullError);
                } else {
                  buffer.push(nextSeq, record);
                  model.push({ seq: nextSeq, record });
                  nextSeq++;
                }
              }
              break;
            case 'ack':
              acknowledged = Math.min(nextSeq, acknowledged + step.step);
              buffer.acknowledge(acknowledged);
              model.acknowledge(acknowledged);
              break;
            case 'staleAck':
              buffer.acknowledge(acknowledged - step.back); // a late, older ACK changes nothing
              break;
            case 'from':
              assertSameAs(buffer, model, (model.entries[0]?.seq ?? nextSeq) + step.offset);
              break;
            case 'clear':
              buffer.clear();
              model.clear();
              break;
          }
          assertSameAs(buffer, model);
        }
      },
    ),
    { numRuns: 100 },
  );
});

test('the byte bound is never exceeded, and a refused push leaves the buffer as it was', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4096 }), fc.array(fc.integer({ min: 0, max: 1024 }), { maxLength: 64, size: 'medium' }), (maxBytes, sizes) => {
      const buffer = new ReplayBuffer(maxBytes);
      const model = new Model();
      sizes.forEach((size, seq) => {
        const record = new Uint8Array(size);
        if (model.bytes + size <= maxBytes) {
          buffer.push(seq, record);
          model.push({ seq, record });
        } else {
          assert.throws(() => buffer.push(seq, record), ReplayBufferFullError);
        }
        assert.ok(buffer.bytes <= maxBytes);
        assertSameAs(buffer, model);
      });
    }),
    { numRuns: 300 },
  );
});

test('a record that exactly fills the buffer is accepted, and one byte more is refused', () => {
  const buffer = new ReplayBuffer(100);
  buffer.push(0, new Uint8Array(60));
  buffer.push(1, new Uint8Array(40));
  assert.equal(buffer.bytes, 100);
  assert.throws(() => buffer.push(2, new Uint8Array(1)), ReplayBufferFullError);
  buffer.push(2, new Uint8Array(0)); // an empty record costs nothing
  assert.equal(buffer.count, 3);
  assert.throws(() => new ReplayBuffer(10).push(0, new Uint8Array(11)), ReplayBufferFullError);
});

test('acknowledging frees the bytes of the acknowledged records, so the buffer accepts more again', () => {
  const buffer = new ReplayBuffer(100);
  for (let seq = 0; seq < 10; seq++) buffer.push(seq, new Uint8Array(10));
  assert.throws(() => buffer.push(10, new Uint8Array(10)), ReplayBufferFullError);
  buffer.acknowledge(3);
  assert.equal(buffer.bytes, 70);
  assert.equal(buffer.oldestSeq, 3);
  buffer.push(10, new Uint8Array(30));
  assert.equal(buffer.bytes, 100);
});

test('ReplayBufferFullError is a ProtocolError with its own code that closes the session as a flow-control error', () => {
  const buffer = new ReplayBuffer(8);
  let caught: unknown;
  try {
    buffer.push(0, new Uint8Array(9));
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ReplayBufferFullError);
  assert.ok(caught instanceof ProtocolError);
  assert.equal(caught.code, 'FERRY_ERR_REPLAY_BUFFER_FULL');
  assert.equal(caught.closeCode, SessionCloseCode.FLOW_CONTROL_ERROR);
  assert.equal(caught.name, 'ReplayBufferFullError');
  assert.match(caught.message, /8 bytes/);
});

test('oldestSeq is undefined when empty and follows acknowledgements; from() starts at the requested number', () => {
  const buffer = new ReplayBuffer(1 << 20);
  assert.equal(buffer.oldestSeq, undefined);
  assert.deepStrictEqual(
    [...buffer.from(0)].map((entry) => entry.record),
    [],
  );
  const records = [5, 6, 7, 8].map((seq) => Uint8Array.of(seq));
  records.forEach((record, index) => {
    buffer.push(5 + index, record);
  });
  assert.equal(buffer.oldestSeq, 5);
  buffer.acknowledge(4); // nothing below 5 to drop
  assert.equal(buffer.oldestSeq, 5);
  buffer.acknowledge(7);
  assert.equal(buffer.oldestSeq, 7);
  assert.deepStrictEqual(
    [...buffer.from(0)].map((entry) => entry.record),
    [Uint8Array.of(7), Uint8Array.of(8)],
  );
  assert.deepStrictEqual(
    [...buffer.from(8)].map((entry) => entry.record),
    [Uint8Array.of(8)],
  );
  assert.deepStrictEqual(
    [...buffer.from(9)].map((entry) => entry.record),
    [],
  );
  buffer.acknowledge(100);
  assert.equal(buffer.oldestSeq, undefined);
  assert.equal(buffer.bytes, 0);
  buffer.clear();
  assert.equal(buffer.count, 0);
  buffer.push(101, Uint8Array.of(1));
  assert.equal(buffer.oldestSeq, 101);
});

test('clear() empties the buffer and frees every byte', () => {
  const buffer = new ReplayBuffer(64);
  for (let seq = 0; seq < 8; seq++) buffer.push(seq, new Uint8Array(8));
  buffer.acknowledge(2);
  buffer.clear();
  assert.equal(buffer.count, 0);
  assert.equal(buffer.bytes, 0);
  assert.equal(buffer.oldestSeq, undefined);
  assert.deepStrictEqual(
    [...buffer.from(0)].map((entry) => entry.record),
    [],
  );
  for (let seq = 8; seq < 16; seq++) buffer.push(seq, new Uint8Array(8));
  assert.equal(buffer.bytes, 64);
});

test('after thousands of acknowledgements (compaction) the records left replay in order and nothing is lost', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 200, maxLength: 400 }), (steps) => {
      const buffer = new ReplayBuffer(1 << 20);
      let nextSeq = 0;
      let acknowledged = 0;
      for (const step of steps) {
        // Send a few, acknowledge a few: a steady stream, as a live session does.
        for (let i = 0; i < step; i++, nextSeq++) buffer.push(nextSeq, Uint8Array.of(nextSeq & 0xff, (nextSeq >> 8) & 0xff));
        acknowledged = Math.min(nextSeq, acknowledged + step - (step % 3));
        buffer.acknowledge(acknowledged);
        assert.equal(buffer.oldestSeq, acknowledged < nextSeq ? acknowledged : undefined);
        assert.equal(buffer.count, nextSeq - acknowledged);
        assert.equal(buffer.bytes, 2 * (nextSeq - acknowledged));
      }
      const replayed = [...buffer.from(0)].map((entry) => entry.record);
      assert.equal(replayed.length, nextSeq - acknowledged);
      replayed.forEach((record, index) => {
        const seq = acknowledged + index;
        assert.deepStrictEqual(record, Uint8Array.of(seq & 0xff, (seq >> 8) & 0xff));
      });
    }),
    { numRuns: 50 },
  );
});

test('the buffer does not keep acknowledged records forever: compaction drops them from its storage', () => {
  const buffer = new ReplayBuffer(1 << 20);
  const storage = (): number => (buffer as unknown as { records: unknown[] }).records.length;
  for (let seq = 0; seq < 10_000; seq++) {
    buffer.push(seq, Uint8Array.of(seq & 0xff));
    if (seq >= 10) buffer.acknowledge(seq - 10); // at most 11 records in flight
  }
  assert.equal(buffer.count, 11);
  assert.equal(buffer.oldestSeq, 9_989);
  assert.ok(storage() <= 2 * 1024 + 64, `storage holds ${storage()} slots for ${buffer.count} records`);
  assert.deepStrictEqual(
    [...buffer.from(0)].map((entry) => entry.record).map((record) => record[0]),
    Array.from({ length: 11 }, (_, i) => (9_989 + i) & 0xff),
  );
});
