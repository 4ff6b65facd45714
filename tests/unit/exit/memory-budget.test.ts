// Outbound memory budgets at the exit (issue 10, item 4). A real ExitServer and real TCP origins on loopback; clients
// are real ClientSessions over WebSockets. Clients that never return credit and never acknowledge cannot make the exit
// hold more than its per-session and exit-wide budgets: it stops reading their destinations instead, and the origins'
// writes back up. An honest session on the same exit still gets its download through, and a stalled session that
// starts draining receives every byte, in order: pausing loses nothing.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { type ExitConfig, verifyExitConfig } from '../../../exit-server/config.ts';
import { type ExitMetrics, ExitServer } from '../../../exit-server/exit-server.ts';
import { type BudgetedDestination, OutboundBudget, READ_COST_BYTES } from '../../../exit-server/outbound-budget.ts';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { nodeChaCha20Poly1305 } from '../../../protocol/adapters/node-aead.ts';
import { MuxStreamDuplex } from '../../../protocol/adapters/node-stream.ts';
import { ClientSession, fromBase64Url, generateKeyPair, InvalidConfigError, type MuxStream, RecordType } from '../../../protocol/index.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Small budgets, so the tests are quick: 8 reserves of 192 KiB (1.5 MiB) and a 2 MiB shared pool. */
const BUDGET = {
  maxSessions: 8,
  maxDetachedSessions: 8,
  maxQueuedBytesPerSession: 1 * MiB,
  reservedQueuedBytesPerSession: 192 * KiB,
  maxQueuedBytesTotal: 3.5 * MiB,
} satisfies Partial<ExitConfig>;

async function startExit(): Promise<{ exit: ExitServer; url: string }> {
  const exit = new ExitServer({
    keyPair: generateKeyPair(),
    config: { port: 0, allowLoopback: true, sessionSilenceTimeoutMs: 120_000, ...BUDGET },
  });
  const { url } = await exit.listen();
  return { exit, url };
}

/** An origin connection, as the origin sees it. */
interface OriginConnection {
  /** Bytes handed to the socket. */
  written: number;
  /** The last write was refused (the kernel buffers are full) and no 'drain' came since. */
  blocked: boolean;
}

interface Origin {
  port: number;
  connections: OriginConnection[];
  close(): Promise<void>;
}

/** A TCP origin that serves each connection with `serve`; close() cuts whatever is still open. */
async function startOrigin(serve: (socket: Socket, connection: OriginConnection) => void): Promise<Origin> {
  const connections: OriginConnection[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // the exit resets its side when a session closes
    const connection: OriginConnection = { written: 0, blocked: false };
    connections.push(connection);
    serve(socket, connection);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Sends without end, as fast as the connection takes it. */
function startEndlessOrigin(): Promise<Origin> {
  const chunk = randomBytes(64 * KiB);
  return startOrigin((socket, connection) => {
    const pump = (): void => {
      connection.blocked = false;
      while (!socket.destroyed) {
        connection.written += chunk.length;
        if (!socket.write(chunk)) {
          connection.blocked = true;
          return;
        }
      }
    };
    socket.on('drain', pump);
    pump();
  });
}

/** Sends `body`, then closes. */
function startFiniteOrigin(body: Uint8Array): Promise<Origin> {
  return startOrigin((socket, connection) => {
    connection.written = body.length;
    socket.end(body);
  });
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * A client that neither returns credit nor acknowledges: its streams keep what arrives without consuming it, its
 * ACK records are held back, not sent, and it answers no PATH_PING. drain() turns it honest: it consumes everything received (and all that
 * follows) and sends its latest ACK (ACKs are cumulative), and every later one.
 */
interface StalledClient {
  session: ClientSession;
  socket: WebSocket;
  streams: Array<{ stream: MuxStream; received: Uint8Array[]; receivedBytes: number; ended: boolean }>;
  openStreams(port: number, count: number): void;
  drain(): void;
  receivedBytes(): number;
}

async function stalledClient(url: string, exitPublicKey: string): Promise<StalledClient> {
  const socket = new WebSocket(url);
  await withTimeout(once(socket, 'open'), 'a stalled client to connect');
  let draining = false;
  let heldAck: Uint8Array | undefined;
  const session = new ClientSession({
    exitPublicKey: fromBase64Url(exitPublicKey),
    aead: nodeChaCha20Poly1305,
    // No heartbeat within the test: the client sends nothing after its OPENs until it drains.
    config: { heartbeatIntervalMs: 60_000, pathSilenceTimeoutMs: 120_000, detachedTimeoutMs: 120_000 },
    sendRecord: (record) => {
      if (record[0] === RecordType.ACK && !draining) heldAck = record;
      // A PATH_PONG acknowledges too (it says what had arrived): a stalled client sends none.
      else if (record[0] === RecordType.PATH_PONG && !draining) return;
      else socket.send(record);
    },
  });
  socket.on('message', (data: Buffer) => session.receiveRecord(new Uint8Array(data)));
  session.start();
  await withTimeout(session.whenOpen(), 'a stalled session to open');
  const streams: StalledClient['streams'] = [];
  return {
    session,
    socket,
    streams,
    openStreams: (port, count) => {
      for (let index = 0; index < count; index++) {
        const entry = { stream: session.openStream({ host: '127.0.0.1', port }), received: [] as Uint8Array[], receivedBytes: 0, ended: false };
        entry.stream.ondata = (bytes) => {
          entry.received.push(bytes.slice());
          entry.receivedBytes += bytes.length;
          if (draining) entry.stream.consumed(bytes.length);
        };
        entry.stream.onend = () => {
          entry.ended = true;
        };
        streams.push(entry);
      }
    },
    drain: () => {
      draining = true;
      for (const entry of streams) entry.stream.consumed(entry.receivedBytes);
      if (heldAck) socket.send(heldAck);
    },
    receivedBytes: () => streams.reduce((total, entry) => total + entry.receivedBytes, 0),
  };
}

/** An honest client: downloads what the origin at `port` sends, with ordinary credit and ACKs; resolves with its hash. */
async function honestDownload(url: string, exitPublicKey: string, port: number): Promise<{ sha: string; bytes: number }> {
  const socket = new WebSocket(url);
  await withTimeout(once(socket, 'open'), 'the honest client to connect');
  const session = new ClientSession({ exitPublicKey: fromBase64Url(exitPublicKey), aead: nodeChaCha20Poly1305, sendRecord: (record) => socket.send(record) });
  socket.on('message', (data: Buffer) => session.receiveRecord(new Uint8Array(data)));
  try {
    session.start();
    await withTimeout(session.whenOpen(), 'the honest session to open');
    const duplex = new MuxStreamDuplex(session.openStream({ host: '127.0.0.1', port }));
    duplex.end(); // the client sends nothing: its half-close lets the stream finish cleanly once the origin's ends
    const chunks: Buffer[] = [];
    duplex.on('data', (chunk: Buffer) => chunks.push(chunk));
    await withTimeout(once(duplex, 'end'), 'the honest download to complete');
    const body = Buffer.concat(chunks);
    return { sha: sha256(body), bytes: body.length };
  } finally {
    session.close();
    socket.close();
  }
}

/** The budget's bounds, checked on one snapshot. */
function assertWithinBudget(metrics: ExitMetrics, when: string): void {
  assert.ok(
    metrics.largestSessionQueuedBytes <= BUDGET.maxQueuedBytesPerSession,
    `${when}: a session holds ${metrics.largestSessionQueuedBytes} bytes, over its budget of ${BUDGET.maxQueuedBytesPerSession}`,
  );
  assert.ok(
    metrics.outboundQueuedBytes <= BUDGET.maxQueuedBytesTotal,
    `${when}: the exit holds ${metrics.outboundQueuedBytes} bytes, over its budget of ${BUDGET.maxQueuedBytesTotal}`,
  );
}

test('sessions that never return credit nor acknowledge are held at their own and the exit-wide budget, and an honest session still gets through', async () => {
  const { exit, url } = await startExit();
  const endless = await startEndlessOrigin();
  const body = randomBytes(2 * MiB);
  const finite = await startFiniteOrigin(body);
  const stalled: StalledClient[] = [];
  try {
    // 4 sessions x 16 streams: each would fill 16 x 256 KiB of stream queues alone, far over its 1 MiB budget, and
    // together they want more than the 2 MiB shared pool.
    for (let index = 0; index < 4; index++) {
      const client = await stalledClient(url, exit.publicKey);
      client.openStreams(endless.port, 16);
      stalled.push(client);
    }
    await waitFor(() => exit.snapshot().streamsOpen === 64, 'the exit to connect all 64 streams');
    await waitFor(() => {
      const metrics = exit.snapshot();
      return metrics.sessionsPausedByBudget === 4 && metrics.destinationsPausedByBudget === 64;
    }, 'the exit to stop reading every destination of the four stalled sessions');
    // The exit reads nothing more, so the origins' kernel buffers fill and their writes are refused.
    await waitFor(
      () => endless.connections.length === 64 && endless.connections.every((connection) => connection.blocked),
      'every origin connection to be blocked',
    );

    const held = exit.snapshot();
    assert.equal(held.outboundSharedPoolFull, true, 'the stalled sessions filled the shared pool');
    // Nothing was acknowledged, so everything the exit read is still held (in stream queues or the replay buffer,
    // which adds record framing): it was neither dropped nor let past the budget.
    assert.ok(held.bytesReadFromDestinations <= held.outboundQueuedBytes, JSON.stringify(held));
    for (let sample = 0; sample < 10; sample++) {
      const metrics = exit.snapshot();
      assertWithinBudget(metrics, `sample ${sample}`);
      assert.equal(metrics.bytesReadFromDestinations, held.bytesReadFromDestinations, 'a held destination is not read');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    for (const client of stalled) assert.ok(client.receivedBytes() <= BUDGET.maxQueuedBytesPerSession, `a stalled client got ${client.receivedBytes()} bytes`);

    // While the stalled sessions hold the shared pool, an honest session moves on its reserve.
    const download = await honestDownload(url, exit.publicKey, finite.port);
    assert.equal(download.bytes, body.length);
    assert.equal(download.sha, sha256(body));

    const after = exit.snapshot();
    assertWithinBudget(after, 'after the honest download');
    assert.equal(after.outboundSharedPoolFull, true, 'the stalled sessions still hold the shared pool');
    assert.equal(after.sessionsPausedByBudget, 4);
  } finally {
    for (const client of stalled) {
      client.session.close();
      client.socket.terminate();
    }
    await exit.close();
    await endless.close();
    await finite.close();
  }
});

test('a stalled session that starts returning credit and acknowledging receives every byte, in order, and never holds more than its budget', async () => {
  const { exit, url } = await startExit();
  const body = randomBytes(2 * MiB);
  const finite = await startFiniteOrigin(body);
  let client: StalledClient | undefined;
  let largestSeen = 0;
  const watch = setInterval(() => {
    largestSeen = Math.max(largestSeen, exit.snapshot().largestSessionQueuedBytes);
  }, 5);
  try {
    client = await stalledClient(url, exit.publicKey);
    // 8 streams x 2 MiB = 16 MiB through a 1 MiB budget: many pauses and resumes on every stream.
    client.openStreams(finite.port, 8);
    await waitFor(() => {
      const metrics = exit.snapshot();
      return metrics.sessionsPausedByBudget === 1 && metrics.destinationsPausedByBudget === 8;
    }, 'the exit to stop reading the stalled session’s destinations');
    const stalledAt = exit.snapshot();
    assertWithinBudget(stalledAt, 'stalled');

    const drained = client;
    drained.drain();
    await waitFor(() => drained.streams.every((entry) => entry.ended), 'every stream to end', { timeoutMs: 60_000 });
    for (const [index, entry] of drained.streams.entries()) {
      const received = Buffer.concat(entry.received);
      assert.equal(received.length, body.length, `stream ${index} got every byte`);
      assert.equal(sha256(received), sha256(body), `stream ${index} got the bytes intact and in order`);
    }
    assert.equal(exit.snapshot().bytesReadFromDestinations, 8 * body.length);
    assert.ok(largestSeen <= BUDGET.maxQueuedBytesPerSession, `the session held ${largestSeen} bytes at most, within its budget`);
    assert.ok(largestSeen > BUDGET.maxQueuedBytesPerSession / 2, `the budget was used (${largestSeen} bytes)`);
  } finally {
    clearInterval(watch);
    client?.session.close();
    client?.socket.terminate();
    await exit.close();
    await finite.close();
  }
});

test('OutboundBudget: a session pauses at its budget and resumes at three quarters; a full shared pool pauses sessions above their reserve only', () => {
  const limits = { maxSessions: 4, maxQueuedBytesPerSession: 1 * MiB, reservedQueuedBytesPerSession: 192 * KiB, maxQueuedBytesTotal: 2 * MiB };
  const budget = new OutboundBudget(limits);
  const held = (destination: { held: boolean }): boolean => destination.held;
  const destination = (): BudgetedDestination & { held: boolean } => {
    const entry = {
      held: false,
      setHeldByBudget: (value: boolean) => {
        entry.held = value;
      },
    };
    return entry;
  };
  const bytes = [0, 0, 0];
  const accounts = bytes.map((_, index) => budget.open(() => bytes[index] as number));
  const destinations = accounts.map((account) => {
    const entry = destination();
    account.addDestination(entry);
    return entry;
  });
  const set = (index: number, value: number): void => {
    bytes[index] = value;
    accounts[index]?.update();
  };

  // Session 0 reads while one more read fits its 1 MiB; then it pauses, and waits for three quarters to resume.
  set(0, limits.maxQueuedBytesPerSession - READ_COST_BYTES);
  assert.equal(held(destinations[0]!), false);
  set(0, limits.maxQueuedBytesPerSession - READ_COST_BYTES + 1);
  assert.equal(held(destinations[0]!), true);
  set(0, (limits.maxQueuedBytesPerSession * 3) / 4 - READ_COST_BYTES + 1);
  assert.equal(held(destinations[0]!), true, 'not yet at the low-water mark');
  set(0, (limits.maxQueuedBytesPerSession * 3) / 4 - READ_COST_BYTES);
  assert.equal(held(destinations[0]!), false);

  // The shared pool is 2 MiB - 4 x 192 KiB = 1.25 MiB. Sessions 0 and 1 fill it, each within its own budget: every
  // session above its reserve pauses, and session 2, below its reserve, still reads.
  set(1, 192 * KiB + 600 * KiB);
  assert.equal(budget.stats.sharedPoolFull, false);
  set(0, 192 * KiB + 650 * KiB);
  assert.equal(budget.stats.sharedPoolFull, true);
  assert.deepEqual(destinations.map(held), [true, true, false]);
  set(2, 192 * KiB - READ_COST_BYTES);
  assert.equal(held(destinations[2]!), false, 'within its reserve a session reads whatever the pool holds');
  set(2, 192 * KiB - READ_COST_BYTES + 1);
  assert.equal(held(destinations[2]!), true);
  assert.ok(budget.stats.queuedBytes <= limits.maxQueuedBytesTotal);

  // Session 1 goes: the pool drains below its low-water mark and the others read again.
  budget.close(accounts[1]!);
  assert.equal(budget.stats.sharedPoolFull, false);
  assert.deepEqual([held(destinations[0]!), held(destinations[2]!)], [false, false]);
});

test('the outbound budgets are validated up front, with messages that say what to change', () => {
  const defaults = verifyExitConfig();
  assert.equal(defaults.maxQueuedBytesPerSession, 16 * MiB);
  assert.equal(defaults.maxQueuedBytesTotal, 256 * MiB);
  assert.equal(defaults.reservedQueuedBytesPerSession, 192 * KiB);
  assert.throws(
    () => verifyExitConfig({ maxSessions: 2_000 }),
    (error: unknown) => {
      assert.ok(error instanceof InvalidConfigError);
      assert.match(error.message, /maxQueuedBytesTotal \(268435456\) must hold every session's reserve .* Raise it, or lower maxSessions/);
      return true;
    },
  );
  assert.throws(
    () => verifyExitConfig({ maxQueuedBytesPerSession: 24 * MiB }),
    /must be at most session.maxReplayBufferBytes - 262144 .*raise session.maxReplayBufferBytes/,
  );
  assert.doesNotThrow(() => verifyExitConfig({ maxQueuedBytesPerSession: 24 * MiB, session: { maxReplayBufferBytes: 32 * MiB } }));
  assert.throws(
    () => verifyExitConfig({ reservedQueuedBytesPerSession: 1_000 }),
    new RegExp(`reservedQueuedBytesPerSession must be an integer from ${READ_COST_BYTES} `),
  );
  assert.throws(() => verifyExitConfig({ maxQueuedBytesPerSession: 1.5 }), InvalidConfigError);
});
