import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { nodeChaCha20Poly1305 } from '../../../protocol/adapters/node-aead.ts';
import type { ClientSession } from '../../../protocol/client-session.ts';
import { RecordPool, RecordPoolConfigError } from '../../../protocol/record-pool.ts';
import type { MuxStream } from '../../../protocol/stream.ts';
import { closeAllSessions, connectPair, readAll, writeAll } from './session-harness.ts';

afterEach(closeAllSessions);

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A pool that remembers every record given back to it. */
class WatchedPool extends RecordPool {
  readonly given: Uint8Array[] = [];
  override give(record: Uint8Array): void {
    this.given.push(record);
    super.give(record);
  }
}

test('a pool hands out views of its blocks and reuses a block once it is given back', () => {
  const pool = new RecordPool({ blockBytes: 1024, maxIdleBlocks: 4 });
  const first = pool.take(100);
  assert.equal(first.length, 100);
  assert.equal(first.buffer.byteLength, 1024);
  const second = pool.take(1024);
  assert.notEqual(second.buffer, first.buffer);
  pool.give(first);
  const third = pool.take(500);
  assert.equal(third.buffer, first.buffer, 'the block given back is handed out again');
  assert.deepEqual(pool.stats, { idleBlocks: 0, blocksMade: 2, blocksReused: 1 });
});

test('a pool keeps at most maxIdleBlocks, ignores memory it did not make, and never hands a block out twice', () => {
  const pool = new RecordPool({ blockBytes: 64, maxIdleBlocks: 2 });
  const taken = [pool.take(10), pool.take(10), pool.take(10)];
  for (const record of taken) pool.give(record);
  assert.equal(pool.stats.idleBlocks, 2, 'the third block is left to the garbage collector');
  pool.give(new Uint8Array(64)); // not the pool's
  pool.give(new Uint8Array(new ArrayBuffer(64), 0, 10));
  assert.equal(pool.stats.idleBlocks, 2);

  const bigger = pool.take(65);
  assert.equal(bigger.length, 65, 'a record larger than a block gets memory of its own');
  pool.give(bigger);
  assert.equal(pool.stats.idleBlocks, 2);

  // Given back twice (a bug elsewhere): still handed out once.
  const again = new RecordPool({ blockBytes: 64, maxIdleBlocks: 8 });
  const record = again.take(8);
  again.give(record);
  again.give(record);
  assert.notEqual(again.take(8).buffer, again.take(8).buffer);
  // A block let go of because the pool was full is not taken back later either.
  const full = new RecordPool({ blockBytes: 64, maxIdleBlocks: 0 });
  const dropped = full.take(8);
  full.give(dropped);
  full.give(dropped);
  assert.equal(full.stats.idleBlocks, 0);
});

test('a pool refuses a configuration it cannot honour, saying which value', () => {
  assert.throws(
    () => new RecordPool({ blockBytes: 0, maxIdleBlocks: 1 }),
    (error: Error) => error instanceof RecordPoolConfigError && /blockBytes/.test(error.message),
  );
  assert.throws(
    () => new RecordPool({ blockBytes: 64, maxIdleBlocks: -1 }),
    (error: Error) => error instanceof RecordPoolConfigError && /maxIdleBlocks/.test(error.message),
  );
  assert.throws(() => new RecordPool({ blockBytes: 1.5, maxIdleBlocks: 1 }), RecordPoolConfigError);
});

/** An exit-side handler that sends `payload` down every stream the client opens. */
const serve =
  (payload: Uint8Array) =>
  (stream: MuxStream): void => {
    stream.accept();
    void writeAll(stream, payload);
  };

test('an exit record goes back to the pool only after the client acknowledged it and the path reported it written', async () => {
  const pool = new WatchedPool({ blockBytes: 70_000, maxIdleBlocks: 1024 });
  const unreported: Array<() => void> = [];
  let client: ClientSession | undefined;
  const payload = randomBytes(1024 * 1024);
  const pair = connectPair(serve(payload), {
    exit: {
      recordPool: pool,
      aead: nodeChaCha20Poly1305, // seals into the pool's memory (noble, the default, allocates its own)
      // A path that delivers at once but reports its writes only when the test says so.
      sendRecord: (record, onWritten) => {
        const copy = record.slice();
        if (onWritten) unreported.push(onWritten);
        queueMicrotask(() => client?.receiveRecord(copy));
      },
    },
  });
  client = pair.client;
  pair.client.start();
  await pair.client.whenOpen();
  const received = await withTimeout(readAll(pair.client.openStream({ host: 'example.com', port: 80 })), 'the download', 10_000);
  assert.equal(sha(received), sha(payload));
  await waitFor(() => pair.exit.stats.replayBufferBytes === 0, 'the client to acknowledge every record', { timeoutMs: 5_000 });
  assert.equal(pool.given.length, 0, 'acknowledged, but still being written: not one record may be reused');

  const reports = unreported.splice(0);
  for (const report of reports) report();
  for (const report of reports) report(); // a sink that reports twice changes nothing
  assert.ok(pool.given.length >= 16, `every data record came back (${pool.given.length})`);
  assert.equal(new Set(pool.given).size, pool.given.length, 'each record was given back once');
  assert.ok(pool.stats.idleBlocks >= 16);
});

test('an exit record written but not yet acknowledged stays out of the pool until the acknowledgement comes', async () => {
  const pool = new WatchedPool({ blockBytes: 70_000, maxIdleBlocks: 1024 });
  let client: ClientSession | undefined;
  let delivering = true;
  const held: Uint8Array[] = [];
  const payload = randomBytes(512 * 1024);
  const pair = connectPair(
    (stream) => {
      delivering = false; // from the first stream on, the path holds what it carries (a stalled volunteer)
      serve(payload)(stream);
    },
    {
      exit: {
        recordPool: pool,
        aead: nodeChaCha20Poly1305, // seals into the pool's memory (noble, the default, allocates its own)
        // A path that reports every write at once.
        sendRecord: (record, onWritten) => {
          const copy = record.slice();
          onWritten?.();
          if (delivering) queueMicrotask(() => client?.receiveRecord(copy));
          else held.push(copy);
        },
      },
    },
  );
  client = pair.client;
  pair.client.start();
  await pair.client.whenOpen();
  const received = readAll(pair.client.openStream({ host: 'example.com', port: 80 }));
  await waitFor(() => held.length >= 8, 'the exit to send records the client has not received', { timeoutMs: 5_000 });
  assert.equal(pool.given.length, 0, 'written, but the client has not acknowledged them: none may be reused');

  delivering = true;
  for (const record of held.splice(0)) pair.client.receiveRecord(record);
  assert.equal(sha(await withTimeout(received, 'the download', 10_000)), sha(payload));
  await waitFor(() => pair.exit.stats.replayBufferBytes === 0, 'the client to acknowledge every record', { timeoutMs: 5_000 });
  assert.ok(pool.given.length >= 8, `acknowledged and written: back in the pool (${pool.given.length})`);
  assert.ok(pool.stats.idleBlocks >= 8);
});
