import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, afterEach, describe, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { freeLoopbackPort as freePort } from '../../../harness/free-port.ts';
import { LocalOperator } from '../../../harness/operator.ts';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { createPairingToken, pairingIdOf } from '../../../protocol/pairing.ts';
import type { ExitInfo } from '../../../protocol/signaling.ts';
import { createRelayWorkerConfig, type RelayWorkerOptions } from '../../../relay-worker/config.ts';
import { nodeRelayEnvironment } from '../../../relay-worker/node.ts';
import { RelayWorker } from '../../../relay-worker/relay-worker.ts';
import { closeAllClientPeers, connectTestClient, STEP_TIMEOUT_MS, StatusLog, TestBroker, TestClient, TestExit } from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
after(() => {
  closeAllClientPeers();
  nodeDataChannel.cleanup();
});

interface Network {
  broker: TestBroker;
  exit: TestExit;
  worker: RelayWorker;
  statuses: StatusLog;
}

/** A broker listing `exit`, and a started worker connected to it ('waiting'). */
async function startNetwork(exit: TestExit, options: Partial<RelayWorkerOptions> = {}, listed: ExitInfo[] = [exit.info()]): Promise<Network> {
  cleanups.push(() => exit.close());
  const broker = await TestBroker.start(listed);
  cleanups.push(() => broker.close());
  const statuses = new StatusLog();
  const config = createRelayWorkerConfig({ brokerUrl: broker.url, kind: 'headless', exitListKeys: [broker.exitListKey], ...options });
  const worker = new RelayWorker({ config, environment: nodeRelayEnvironment(), onStatus: statuses.onStatus });
  cleanups.push(() => worker.stop());
  worker.start();
  await statuses.waitFor((s) => s.state === 'waiting', 'the worker to wait for clients');
  return { broker, exit, worker, statuses };
}

/** A client connected through the worker to `exitInfo`, closed after the test. */
async function connectClient(broker: TestBroker, exitInfo: ExitInfo): Promise<TestClient> {
  const client = await connectTestClient(broker, exitInfo);
  cleanups.push(() => client.close());
  return client;
}

function sha256(chunks: ArrayBuffer[] | Buffer[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(Buffer.isBuffer(chunk) ? chunk : new Uint8Array(chunk));
  return hash.digest('hex');
}

describe('RelayWorker with real WebRTC peers and WebSocket exits', () => {
  test('says hello with its free slots, leaves a taken slot to the broker, and announces it free again', async () => {
    const { broker } = await startNetwork(await TestExit.echo(), { maxClients: 3 });
    const hello = await broker.next((m) => m.type === 'hello', 'hello');
    assert.deepEqual(hello, { type: 'hello', version: 1, kind: 'headless', slots: 3, nat: 'unknown' });
    const client = await connectClient(broker, broker.exits[0] as ExitInfo);
    // The broker counts the client it matched itself; a `slots` that counts it too would make it count the client
    // twice. (A first attempt that failed under load, and was retried, frees its slot: that `slots` says all 3.)
    const announced = broker.messages.filter((message) => message.type === 'slots');
    assert.deepEqual(
      announced.filter((message) => message.slots !== 3),
      [],
      'no slots announcement counts a client taken',
    );
    client.close();
    await broker.nextSlots(3);
  });

  test('relays 4 MiB each way byte-identical, one message for one message, and counts the bytes', async () => {
    const exitReceived: Buffer[] = [];
    const exit = await TestExit.start((socket, self) =>
      socket.on('message', (data: Buffer, isBinary) => {
        assert.ok(isBinary);
        exitReceived.push(data);
        socket.send(data);
        self.notify();
      }),
    );
    const { broker, worker, statuses } = await startNetwork(exit);
    const client = await connectClient(broker, exit.info());
    await statuses.waitFor((s) => s.state === 'relaying' && s.clientsNow === 1, 'relaying');

    const chunkBytes = 64 * 1024;
    const chunks = Array.from({ length: 64 }, () => randomBytes(chunkBytes));
    for (const chunk of chunks) client.channel.send(new Uint8Array(chunk).buffer);
    const totalBytes = chunkBytes * chunks.length;
    await client.until(() => client.receivedBytes >= totalBytes, 'the 4 MiB echo');

    const sent = sha256(chunks);
    assert.equal(sha256(exitReceived), sent, 'the exit received what the client sent');
    assert.equal(sha256(client.received), sent, 'the client received what the exit sent');
    assert.deepEqual(
      exitReceived.map((m) => m.length),
      chunks.map(() => chunkBytes),
      'message boundaries kept c2e',
    );
    assert.deepEqual(
      client.received.map((m) => m.byteLength),
      chunks.map(() => chunkBytes),
      'message boundaries kept e2c',
    );
    assert.equal(worker.status.bytesClientToExit, totalBytes);
    assert.equal(worker.status.bytesExitToClient, totalBytes);
    assert.equal(worker.status.clientsTotal, 1);
  });

  test('holds client messages until the exit socket opens, then delivers them in order', async () => {
    const exit = await TestExit.echo({ holdUpgrades: true });
    const { broker, worker } = await startNetwork(exit);
    const client = await connectClient(broker, exit.info());
    await exit.until(() => exit.heldUpgrades.length === 1, 'the volunteer to dial the exit');
    client.channel.send(new Uint8Array([1, 2, 3]).buffer);
    client.channel.send(new Uint8Array([4, 5]).buffer);
    // Nothing can reach the exit before its socket opens.
    assert.equal(exit.sockets.length, 0);
    assert.equal(worker.status.bytesClientToExit, 0);
    exit.releaseUpgrades();
    await client.until(() => client.received.length >= 2, 'both echoes');
    assert.deepEqual(
      client.received.map((m) => [...new Uint8Array(m)]),
      [
        [1, 2, 3],
        [4, 5],
      ],
    );
    assert.equal(worker.status.bytesClientToExit, 5);
  });

  test('closes the pair when the client sends more than maxBufferedBytes before the exit opens', async () => {
    const exit = await TestExit.echo({ holdUpgrades: true });
    const { broker, statuses } = await startNetwork(exit, { maxBufferedBytes: 256 * 1024 });
    const client = await connectClient(broker, exit.info());
    await exit.until(() => exit.heldUpgrades.length === 1, 'the volunteer to dial the exit');
    for (let i = 0; i < 5; i += 1) client.channel.send(new Uint8Array(64 * 1024).buffer);
    await client.until(() => client.channelClosed, 'the pair to close');
    await statuses.waitFor((s) => s.lastError?.includes('before the exit answered') === true, 'the queue limit in the status');
    exit.releaseUpgrades();
    assert.equal(exit.sockets.length, 0, 'the exit socket was abandoned before it opened');
  });

  test('declines an exit that is not on the broker list and never connects to it', async () => {
    const listedExit = await TestExit.echo();
    const unlisted = await TestExit.echo();
    cleanups.push(() => unlisted.close());
    const { broker, statuses } = await startNetwork(listedExit);
    const client = await TestClient.create();
    cleanups.push(() => client.close());

    const notListed = await broker.offer(client.offer, unlisted.info('exit-1'));
    assert.equal(notListed.type, 'decline');
    assert.match(notListed.type === 'decline' ? notListed.reason : '', /EXIT_NOT_LISTED/);
    const wrongKey = await broker.offer(client.offer, { ...listedExit.info(), publicKey: 'another-key' });
    assert.equal(wrongKey.type, 'decline', 'a listed URL with another public key is refused too');
    assert.equal(unlisted.sockets.length + listedExit.sockets.length, 0, 'no exit was dialled');
    await statuses.waitFor((s) => s.lastError?.includes('EXIT_NOT_LISTED') === true, 'the refusal in the status');
  });

  test('refuses a welcome whose exit list is not signed by its pinned key, and dials nothing', async () => {
    const exit = await TestExit.echo();
    cleanups.push(() => exit.close());
    const hostile = new LocalOperator();
    const broker = await TestBroker.start([exit.info()], { exitList: hostile.signExitList([exit.info()]) });
    cleanups.push(() => broker.close());
    const statuses = new StatusLog();
    const config = createRelayWorkerConfig({
      brokerUrl: broker.url,
      kind: 'headless',
      exitListKeys: [broker.exitListKey],
      brokerReconnectDelayMs: 50,
      brokerReconnectMaxDelayMs: 200,
    });
    const worker = new RelayWorker({ config, environment: nodeRelayEnvironment(), onStatus: statuses.onStatus });
    cleanups.push(() => worker.stop());
    worker.start();
    await statuses.waitFor(
      (s) => s.state === 'broker-unreachable' && s.lastError?.includes('EXIT_LIST_NOT_SIGNED') === true,
      'broker-unreachable, with the refusal as the reason',
    );
    await waitFor(() => broker.connections >= 2, 'a retry after the refusal', { timeoutMs: STEP_TIMEOUT_MS });
    assert.ok(
      statuses.all.every((s) => s.state !== 'waiting'),
      'never waits for clients on an unsigned list',
    );
    assert.equal(exit.sockets.length, 0);
  });

  test('when the exit closes, the data channel closes and the slot is announced free again', async () => {
    const exit = await TestExit.start((socket) => socket.on('message', () => socket.close(1000)));
    const { broker, statuses } = await startNetwork(exit, { maxClients: 1 });
    const client = await connectClient(broker, exit.info());
    client.channel.send(new Uint8Array([1]).buffer);
    await client.until(() => client.channelClosed, 'the data channel to close');
    await broker.nextSlots(1);
    await statuses.waitFor((s) => s.state === 'waiting' && s.clientsNow === 0 && s.clientsTotal === 1, 'waiting again');
  });

  test('when the client goes away, the exit socket is closed', async () => {
    const exit = await TestExit.echo();
    const { broker } = await startNetwork(exit, { maxClients: 1 });
    const client = await connectClient(broker, exit.info());
    await exit.until(() => exit.sockets.length === 1, 'the exit connection');
    client.close();
    await exit.until(() => exit.closed === 1, 'the exit socket to close');
    await broker.nextSlots(1);
  });

  test('a text message from the client closes the pair', async () => {
    const exit = await TestExit.echo();
    const { broker, statuses } = await startNetwork(exit);
    const client = await connectClient(broker, exit.info());
    await exit.until(() => exit.sockets.length === 1, 'the exit connection');
    client.channel.send('not a tunnel record');
    await exit.until(() => exit.closed === 1, 'the exit socket to close');
    await client.until(() => client.channelClosed, 'the data channel to close');
    await statuses.waitFor((s) => s.lastError === 'the client sent a text message', 'the violation in the status');
  });

  test('a text message from the exit closes the pair', async () => {
    const exit = await TestExit.start((socket) => socket.send('text, not a record'));
    const { broker } = await startNetwork(exit);
    const client = await connectClient(broker, exit.info());
    await client.until(() => client.channelClosed, 'the data channel to close');
    await exit.until(() => exit.closed === 1, 'the exit socket to close');
    assert.equal(client.received.length, 0, 'the text never reached the client');
  });

  test('with maxClients=1 a second offer is declined while the first client is relayed', async () => {
    const exit = await TestExit.echo();
    const { broker } = await startNetwork(exit, { maxClients: 1 });
    await connectClient(broker, exit.info());
    const second = await TestClient.create();
    cleanups.push(() => second.close());
    const reply = await broker.offer(second.offer, exit.info());
    assert.deepEqual(reply.type === 'decline' ? reply.reason : reply, 'no free slot');
  });

  test('pairing links: hello carries personal slots and link ids (never tokens); personal offers use personal slots only', async () => {
    const exit = await TestExit.echo();
    const [token, laterToken] = [createPairingToken(), createPairingToken()];
    const { broker, worker } = await startNetwork(exit, { maxClients: 1, maxPersonalClients: 1, pairingTokens: [token] });
    const hello = await broker.next((m) => m.type === 'hello', 'hello');
    assert.deepEqual(hello, { type: 'hello', version: 1, kind: 'headless', slots: 1, nat: 'unknown', personalSlots: 1, pairings: [pairingIdOf(token)] });
    assert.ok(!JSON.stringify(broker.messages).includes(token), 'the token itself never goes to the broker');

    const friend = await TestClient.create();
    cleanups.push(() => friend.close());
    const answered = await broker.offer(friend.offer, exit.info(), 'personal');
    assert.equal(answered.type, 'answer');
    assert.equal(worker.freePersonalSlots, 0);
    assert.equal(worker.freeSlots, 1, 'a personal client leaves the common slot free');
    const second = await TestClient.create();
    cleanups.push(() => second.close());
    const declined = await broker.offer(second.offer, exit.info(), 'personal');
    assert.deepEqual(declined.type === 'decline' ? declined.reason : declined, 'no free personal slot');

    worker.setPairingTokens([laterToken]);
    await broker.next((m) => m.type === 'pairings' && m.pairings.length === 1 && m.pairings[0] === pairingIdOf(laterToken), 'the new link ids');
    worker.setPairingTokens([]);
    await broker.next((m) => m.type === 'pairings' && m.pairings.length === 0, 'every link revoked');
    assert.equal(worker.freePersonalSlots, 0, 'no personal slots without a link');
  });

  test('frees the slot of a client that never connects', async () => {
    const exit = await TestExit.echo();
    const { broker } = await startNetwork(exit, { maxClients: 1, answerTimeoutMs: 200, dataChannelOpenTimeoutMs: 500 });
    const client = await TestClient.create();
    cleanups.push(() => client.close());
    const reply = await broker.offer(client.offer, exit.info());
    assert.equal(reply.type, 'answer');
    // The client never applies the answer: the slot comes back.
    await broker.nextSlots(1);
    assert.equal(exit.sockets.length, 0);
  });

  test('closes a pair whose exit stops reading once maxBufferedBytes wait in the send buffer', async () => {
    const exit = await TestExit.start(() => undefined);
    const { broker, statuses } = await startNetwork(exit, { maxBufferedBytes: 256 * 1024 });
    const client = await connectClient(broker, exit.info());
    await exit.until(() => exit.sockets.length === 1, 'the exit connection');
    const rawSocket = (exit.sockets[0] as unknown as { _socket: { pause(): void } })._socket;
    // Stop reading on the exit's TCP socket: the volunteer's WebSocket send buffer then grows.
    rawSocket.pause();
    const chunk = new Uint8Array(64 * 1024);
    // Bounded: at most 64 MiB, sent while the channel is open and its own buffer is small.
    for (let sent = 0; sent < 1024 && !client.channelClosed; sent += 1) {
      await waitFor(() => client.channel.bufferedAmount <= 1024 * 1024 || client.channelClosed, 'the client send buffer to fall to 1 MiB', {
        timeoutMs: STEP_TIMEOUT_MS,
        intervalMs: 5,
      });
      try {
        client.channel.send(chunk.buffer);
      } catch {
        break; // The volunteer closed the pair while this loop was sending: what the test waits for.
      }
    }
    await client.until(() => client.channelClosed, 'the pair to close');
    await statuses.waitFor((s) => s.lastError?.includes('wait for the exit to read them') === true, 'the buffer limit in the status');
  });

  test('stop() closes the exit socket, the data channel and the broker connection', async () => {
    const exit = await TestExit.echo();
    const { broker, worker, statuses } = await startNetwork(exit);
    const client = await connectClient(broker, exit.info());
    await exit.until(() => exit.sockets.length === 1, 'the exit connection');
    worker.stop();
    assert.equal(worker.status.state, 'stopped');
    assert.equal(worker.status.clientsNow, 0);
    await exit.until(() => exit.closed === 1, 'the exit socket to close');
    await client.until(() => client.channelClosed, 'the data channel to close');
    await broker.waitForClosedConnections(1);
    assert.equal(statuses.latest?.state, 'stopped');
  });
});

describe('RelayWorker and the broker connection', () => {
  test('reports broker-unreachable, then connects when the broker appears', async () => {
    const port = await freePort();
    const operator = new LocalOperator();
    const statuses = new StatusLog();
    const config = createRelayWorkerConfig({
      brokerUrl: `http://127.0.0.1:${port}`,
      kind: 'tab',
      exitListKeys: [operator.exitListKey],
      brokerReconnectDelayMs: 50,
      brokerReconnectMaxDelayMs: 200,
    });
    const worker = new RelayWorker({ config, environment: nodeRelayEnvironment(), onStatus: statuses.onStatus });
    cleanups.push(() => worker.stop());
    worker.start();
    assert.equal(statuses.all[0]?.state, 'connecting');
    const unreachableAt = Date.now();
    await statuses.waitFor((s) => s.state === 'broker-unreachable', 'broker-unreachable');
    assert.match(statuses.latest?.lastError ?? '', /broker/);
    // It says when it tries again (the popup counts down), and each failed attempt moves that time on.
    const firstRetry = statuses.latest?.retryAt ?? 0;
    assert.ok(firstRetry >= unreachableAt && firstRetry <= Date.now() + 200, `retryAt ${firstRetry}`);
    await statuses.waitFor((s) => s.state === 'broker-unreachable' && (s.retryAt ?? 0) > firstRetry, 'the next retry time');

    const broker = await TestBroker.start([], { port, operator });
    cleanups.push(() => broker.close());
    await statuses.waitFor((s) => s.state === 'waiting', 'waiting after the broker appeared');
    assert.equal(statuses.latest?.lastError, undefined, 'the broker problem is cleared once connected');
    assert.equal(statuses.latest?.retryAt, undefined);
    const hello = await broker.next((m) => m.type === 'hello', 'hello');
    assert.equal(hello.type === 'hello' ? hello.kind : '', 'tab');

    // A broker restart: the volunteer reconnects by itself.
    const beforeDrop = statuses.all.length;
    await broker.close();
    await statuses.waitFor((s) => s.state !== 'waiting', 'the drop to be noticed', beforeDrop);
    const again = await TestBroker.start([], { port, operator });
    cleanups.push(() => again.close());
    await withTimeout(
      again.next((m) => m.type === 'hello', 'hello'),
      'a hello to the restarted broker',
      STEP_TIMEOUT_MS,
    );
  });

  test('benched by the broker (1008 BENCHED): backs off instead of coming straight back, and says why', async () => {
    const exit = await TestExit.echo();
    const { broker, statuses } = await startNetwork(exit, { brokerReconnectDelayMs: 1_000, brokerReconnectMaxDelayMs: 2_000 });
    const before = statuses.all.length;
    broker.closeVolunteer(1008, 'BENCHED');
    await statuses.waitFor((s) => s.state === 'broker-unreachable' && /benched/.test(s.lastError ?? ''), 'broker-unreachable, benched', before);
    const closedAt = Date.now();
    await withTimeout(
      broker.next((m) => m.type === 'hello' && broker.connections >= 2, 'a hello after the back-off'),
      'the volunteer to come back',
      STEP_TIMEOUT_MS,
    );
    // A plain drop reconnects at once (see above); a bench waits at least the first delay, less its 20% jitter.
    assert.ok(Date.now() - closedAt >= 700, `came back after ${Date.now() - closedAt} ms`);
  });

  test('ignores malformed broker messages and keeps working', async () => {
    const exit = await TestExit.echo();
    const { broker, statuses } = await startNetwork(exit);
    broker.sendRaw('{not json');
    await statuses.waitFor((s) => s.lastError?.includes('malformed') === true, 'the malformed message in the status');
    broker.sendRaw(JSON.stringify({ type: 'offer', matchId: 'x' }));
    await connectClient(broker, exit.info());
  });
});
