// Sessions over several paths at once (JOIN): striping, standby, and volunteers that delay, drop, tamper with or
// replay what they carry. Every transfer is checked byte for byte by SHA-256.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { waitFor } from '../../../harness/wait.ts';
import { RecordType } from '../../../protocol/constants.ts';
import { PathRole } from '../../../protocol/resume.ts';
import type { MuxStream } from '../../../protocol/stream.ts';
import { type Direction, isLive, Mesh, type TestPath } from './multipath-harness.ts';
import { readAll, writeAll } from './session-harness.ts';

/** A test link's bandwidth (bytes per ms): 8 MB/s, so 6 MiB takes about 0.4 s over two. */
const LINK_BYTES_PER_MS = 8_000;

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const meshes: Mesh[] = [];
afterEach(() => {
  for (const mesh of meshes.splice(0)) mesh.close();
});

async function openMesh(...args: ConstructorParameters<typeof Mesh>): Promise<Mesh> {
  const mesh = new Mesh(...args);
  meshes.push(mesh);
  await mesh.open();
  return mesh;
}

async function joined(mesh: Mesh, name: string, role: PathRole = PathRole.CARRY): Promise<TestPath> {
  const path = mesh.join(name, role);
  await waitFor(() => isLive(mesh, path), `path ${name} to be joined`);
  return path;
}

/** Sends `bytes` through the exit's echo and back; resolves with what came back. */
async function echoThrough(mesh: Mesh, bytes: Uint8Array, whileRunning?: (stream: MuxStream) => Promise<void>): Promise<Uint8Array> {
  const stream = mesh.client.openStream({ host: 'example.org', port: 80 });
  await new Promise<void>((resolve, reject) => {
    stream.onopen = resolve;
    stream.onclose = reject;
  });
  const received = readAll(stream);
  const writing = writeAll(stream, bytes, 32 * 1024);
  await whileRunning?.(stream);
  await writing;
  return received;
}

/** Resolves once `stream` has received at least `bytes`. */
async function receivedAtLeast(stream: MuxStream, bytes: number): Promise<void> {
  await waitFor(() => stream.bytesReceived >= bytes, `${bytes} bytes to come back`, { intervalMs: 1 });
}

test('two carrying paths stripe a transfer both ways: both carry a share, and every byte arrives in order', async () => {
  const mesh = await openMesh();
  const b = await joined(mesh, 'B');
  const a = mesh.paths[0] as TestPath;
  // Links of equal bandwidth: otherwise a path delivers at once, and the share follows this machine's timer noise.
  a.bytesPerMs = LINK_BYTES_PER_MS;
  b.bytesPerMs = LINK_BYTES_PER_MS;
  const payload = randomBytes(6 * 1024 * 1024);
  const echoed = await echoThrough(mesh, payload);
  assert.equal(sha(echoed), sha(payload));
  for (const direction of ['to-exit', 'to-client'] as const) {
    const total = a.sealed[direction] + b.sealed[direction];
    // Each path's rate is measured on this machine's timers, so the split follows the load: with both cores busy it
    // was seen as far apart as 41 to 180 records. An eighth each still says both carry (one path alone gives ~0);
    // how evenly they share is the bench's to show (`ferry bench --only striping`: goodput against one path).
    assert.ok(a.sealed[direction] > total / 8 && b.sealed[direction] > total / 8, `${direction}: A carried ${a.sealed[direction]}, B ${b.sealed[direction]}`);
  }
  assert.equal(mesh.client.stats.paths, 2);
  assert.equal(mesh.client.stats.resumes, 0);
  assert.deepEqual(mesh.failures, []);
});

test("two paths of unequal bandwidth: the faster carries more, though its records wait at the receiver for the slower one's", async () => {
  const mesh = await openMesh();
  const fast = await joined(mesh, 'B');
  const slow = mesh.paths[0] as TestPath;
  slow.bytesPerMs = LINK_BYTES_PER_MS / 4;
  fast.bytesPerMs = LINK_BYTES_PER_MS;
  const payload = randomBytes(6 * 1024 * 1024);
  assert.equal(sha(await echoThrough(mesh, payload)), sha(payload));
  for (const direction of ['to-exit', 'to-client'] as const) {
    // 4 to 1 by bandwidth (about 4 up and 2.4 down here, where the exit's echo is paced by what it receives, and ACKs
    // wait on the links too). Credited only once in order, the fast path looks nearly as slow as the other: 1.4 to 1.
    assert.ok(
      fast.sealed[direction] > 1.8 * slow.sealed[direction],
      `${direction}: the fast path carried ${fast.sealed[direction]}, the slow ${slow.sealed[direction]}`,
    );
  }
  assert.deepEqual(mesh.failures, []);
});

test('a path that delivers late (0 to 40 ms a record, its order kept) never corrupts a stream, and is not taken for a bad one', async () => {
  const mesh = await openMesh();
  const slow = await joined(mesh, 'B');
  slow.delayMs = { 'to-exit': () => Math.random() * 40, 'to-client': () => Math.random() * 40 };
  const payload = randomBytes(3 * 1024 * 1024);
  assert.equal(sha(await echoThrough(mesh, payload)), sha(payload));
  assert.deepEqual(mesh.failures, []);
  assert.ok(slow.sealed['to-client'] > 0 && slow.sealed['to-exit'] > 0, 'the slow path carried records too');
  // The last stream bytes can overtake a window update or an ACK still on the slow path: each end's buffer empties
  // once that arrives (within the path's 40 ms), and stays bounded meanwhile.
  await waitFor(
    () => mesh.client.stats.reorderBufferBytes === 0 && mesh.exit.stats.reorderBufferBytes === 0,
    'both reorder buffers to empty once the slow path has delivered',
    { timeoutMs: 5_000 },
  );
});

test('a path that reorders what it carries never corrupts a stream: the session drops it and finishes on the other', async () => {
  const mesh = await openMesh();
  const shuffler = await joined(mesh, 'B');
  let held: Uint8Array | undefined;
  // Swaps each pair of records going to the client: no honest data channel does that.
  shuffler.meddle = (record, direction) => {
    if (direction !== 'to-client') return [record];
    if (held === undefined) {
      held = record;
      return [];
    }
    const earlier = held;
    held = undefined;
    return [record, earlier];
  };
  const payload = randomBytes(3 * 1024 * 1024);
  assert.equal(sha(await echoThrough(mesh, payload)), sha(payload));
  assert.equal(mesh.client.state, 'open');
});

for (const direction of ['to-exit', 'to-client'] as const) {
  const receiver = direction === 'to-exit' ? 'exit' : 'client';
  const sender = direction === 'to-exit' ? 'client' : 'exit';
  // Tampering and replay show at the receiving end; a lost record at the sending end, from the receiver's ACKs.
  const meddlers: Array<[string, (record: Uint8Array, sealedIndex: number | undefined) => Uint8Array[], RegExp, 'client' | 'exit']> = [
    [
      'tampers with a record',
      (record, index) => {
        if (index !== 10) return [record];
        const changed = record.slice();
        changed[20] = (changed[20] ?? 0) ^ 0x01;
        return [changed];
      },
      /failed its checks/,
      receiver,
    ],
    ['drops a record', (record, index) => (index === 10 ? [] : [record]), /lost record/, sender],
    ['replays a record', (record, index) => (index === 10 ? [record, record] : [record]), /arrived twice on this path/, receiver],
  ];
  for (const [name, meddle, reason, detector] of meddlers) {
    test(`a volunteer that ${name} on its way ${direction === 'to-exit' ? 'to the exit' : 'to the client'} is found out; its path is dropped and the transfer completes intact on the other`, async () => {
      const mesh = await openMesh();
      const bad = await joined(mesh, 'B');
      bad.meddle = (record, way, index) => (way === direction ? meddle(record, index) : [record]);
      const payload = randomBytes(4 * 1024 * 1024);
      assert.equal(sha(await echoThrough(mesh, payload)), sha(payload));
      await waitFor(() => mesh.failures.some((each) => each.path === 'B'), 'path B to be dropped');
      const failure = mesh.failures.find((each) => each.path === 'B');
      assert.ok(failure);
      assert.equal(failure.side, detector, `the ${detector} found it`);
      assert.match(failure.reason, reason);
      assert.ok(!mesh.failures.some((each) => each.path === 'A'), 'the honest path was kept');
      assert.equal(mesh.client.state, 'open');
      assert.equal(mesh.client.stats.resumes, 0, 'no resume was needed: the other path carried on');
    });
  }
}

test('a standby path carries nothing but pings; when the carrying path dies the transfer moves to it at once, with no resume', async () => {
  const mesh = await openMesh();
  const a = mesh.paths[0] as TestPath;
  const standby = await joined(mesh, 'B', PathRole.STANDBY);
  const payload = randomBytes(4 * 1024 * 1024);
  const echoed = await echoThrough(mesh, payload, async (stream) => {
    await receivedAtLeast(stream, 1024 * 1024);
    assert.deepEqual(standby.sealed, { 'to-exit': 0, 'to-client': 0 }, 'the standby carried no records while A was there');
    a.close('volunteer A was killed');
  });
  assert.equal(sha(echoed), sha(payload));
  assert.ok(standby.sealed['to-client'] > 0, 'the standby carried the rest');
  assert.equal(mesh.client.stats.resumes, 0);
  assert.equal(mesh.client.state, 'open');
});

test('a carrying path that goes silent is dropped after standbySilenceTimeoutMs while another is live, sooner than pathSilenceTimeoutMs', async () => {
  const config = { heartbeatIntervalMs: 50, standbySilenceTimeoutMs: 200, pathSilenceTimeoutMs: 5_000 };
  const mesh = await openMesh({ client: { config } });
  const a = mesh.paths[0] as TestPath;
  await joined(mesh, 'B', PathRole.STANDBY);
  const payload = randomBytes(2 * 1024 * 1024);
  let silentAt = 0;
  const echoed = await echoThrough(mesh, payload, async (stream) => {
    await receivedAtLeast(stream, 512 * 1024);
    // The volunteer's browser is killed: its data channel looks open, but nothing comes through any more.
    a.cut = true;
    silentAt = Date.now();
  });
  assert.equal(sha(echoed), sha(payload));
  const failure = mesh.failures.find((each) => each.path === 'A');
  assert.ok(failure, 'A was dropped');
  assert.equal(failure.side, 'client');
  assert.match(failure.reason, /for 0\.2 s/);
  assert.ok(Date.now() - silentAt < 5_000);
});

test('the exit refuses a JOIN beyond maxPathsPerSession: the client drops only that path, and the session carries on', async () => {
  const mesh = await openMesh({ exit: { config: { maxPathsPerSession: 2 } } });
  await joined(mesh, 'B');
  const c = mesh.join('C');
  await waitFor(() => mesh.failures.some((each) => each.path === 'C'), 'path C to be refused');
  assert.match(mesh.failures.find((each) => each.path === 'C')?.reason ?? '', /already has 2 paths/);
  assert.equal(c.clientPath?.state, 'gone');
  assert.equal(mesh.client.stats.paths, 2);
  const payload = randomBytes(256 * 1024);
  assert.equal(sha(await echoThrough(mesh, payload)), sha(payload));
});

test('the client never holds more paths than its own maxPathsPerSession', async () => {
  const mesh = await openMesh({ client: { config: { maxPathsPerSession: 2 } } });
  await joined(mesh, 'B');
  assert.equal(mesh.client.canJoin, false);
  assert.throws(() => mesh.join('C'), /already has 2 paths/);
});

test('a JOIN replayed onto another connection is refused as stale, a forged one as forged; the session is untouched', async () => {
  const mesh = await openMesh();
  let joinRecord: Uint8Array | undefined;
  const b = mesh.join('B', PathRole.CARRY, (record) => {
    if (record[0] === RecordType.JOIN) joinRecord ??= record.slice();
    return [record];
  });
  await waitFor(() => isLive(mesh, b), 'B to join');
  assert.ok(joinRecord, 'B carried a JOIN');
  // A volunteer that kept B's JOIN plays it to the exit on a connection of its own, to get a path into the session.
  mesh.stranger('X').clientSend(joinRecord);
  const forged = joinRecord.slice();
  forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0x01;
  mesh.stranger('Y').clientSend(forged);
  await waitFor(() => mesh.decisions.filter((each) => !each.accepted).length === 2, 'both to be answered');
  assert.match(mesh.decisions.find((each) => each.path === 'X')?.reason ?? '', /stale JOIN/);
  assert.match(mesh.decisions.find((each) => each.path === 'Y')?.reason ?? '', /failed authentication/);
  assert.equal(mesh.exit.stats.paths, 2);
  const payload = randomBytes(512 * 1024);
  assert.equal(sha(await echoThrough(mesh, payload)), sha(payload));
  assert.deepEqual(mesh.failures, []);
});

test('a replayed PATH_PING fails its path at the exit; a replayed PATH_PONG fails its path at the client; the others carry on', async () => {
  const mesh = await openMesh({ client: { config: { heartbeatIntervalMs: 50, pathSilenceTimeoutMs: 5_000 } } });
  const b = await joined(mesh, 'B');
  const c = await joined(mesh, 'C');
  /** Passes records on, and once it has seen three of `type` going `way`, sends the first of them again. */
  const replayFirst = (type: number, way: Direction) => {
    const seen: Uint8Array[] = [];
    return (record: Uint8Array, direction: Direction): Uint8Array[] => {
      if (direction !== way || record[0] !== type) return [record];
      seen.push(record.slice());
      return seen.length === 3 ? [record, seen[0] as Uint8Array] : [record];
    };
  };
  b.meddle = replayFirst(RecordType.PATH_PING, 'to-exit');
  c.meddle = replayFirst(RecordType.PATH_PONG, 'to-client');
  await waitFor(() => mesh.failures.length === 2, 'both replaying paths to be dropped');
  assert.deepEqual(mesh.failures.map(({ side, path }) => `${side}:${path}`).sort(), ['client:C', 'exit:B']);
  for (const failure of mesh.failures) assert.match(failure.reason, /replayed/);
  const payload = randomBytes(512 * 1024);
  assert.equal(sha(await echoThrough(mesh, payload)), sha(payload));
  assert.equal(mesh.client.stats.paths, 1);
});

test('a lone path that loses the last record it was given is found out by the next PATH_PONG; the session resumes elsewhere, nothing lost', async () => {
  const mesh = await openMesh({ client: { config: { heartbeatIntervalMs: 50, pathSilenceTimeoutMs: 5_000 } } });
  const a = mesh.paths[0] as TestPath;
  const b = await joined(mesh, 'B');
  a.close();
  await waitFor(() => mesh.client.stats.paths === 1 && mesh.exit.stats.paths === 1, 'B to be the only path');
  let dropped = false;
  // Drops the next record to the exit (the stream's OPEN) and nothing else: no later record on B can show the gap.
  b.meddle = (record, direction, sealedIndex) => {
    if (direction !== 'to-exit' || sealedIndex === undefined || dropped) return [record];
    dropped = true;
    return [];
  };
  const payload = randomBytes(1000);
  const stream = mesh.client.openStream({ host: 'example.org', port: 80 });
  const received = readAll(stream);
  stream.write(payload);
  stream.end();
  await waitFor(() => mesh.failures.some((each) => each.path === 'B'), 'B to be found out');
  assert.deepEqual(
    mesh.failures.map(({ side, path }) => `${side}:${path}`),
    ['client:B'],
  );
  assert.match(mesh.failures[0]?.reason ?? '', /lost record \d+: its PATH_PING, sent after it, arrived first/);
  await waitFor(() => mesh.client.state === 'detached', 'the session to wait for a path');
  mesh.resume('C');
  assert.equal(sha(await received), sha(payload));
});
