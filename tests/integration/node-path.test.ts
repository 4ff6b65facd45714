// The whole path without browsers: SOCKS5 -> helper -> pipe -> the extension's client path (run in Node on
// node-datachannel) -> broker-matched Node volunteer (relay-worker) -> exit -> origin. Every part is the real one;
// only the two browsers' WebRTC stacks are node-datachannel here (the e2e suite runs Chromium). Fast enough to run
// on every change.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { ExitServer } from '../../exit-server/exit-server.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { socksFetch } from '../../harness/socks-fetch.ts';
import { waitFor } from '../../harness/wait.ts';
import { type HelperCore, startHelperCore } from '../../native-helper/helper-core.ts';
import { tunnelDnsAnswerer } from '../../native-helper/tun/tunnel-dns.ts';
import { DNS_TYPE_A, DnsResponseCode } from '../../protocol/dns-message.ts';
import { generateKeyPair } from '../../protocol/index.ts';
import { createRelayWorkerConfig } from '../../relay-worker/config.ts';
import { nodeRelayEnvironment } from '../../relay-worker/node.ts';
import { RelayWorker } from '../../relay-worker/relay-worker.ts';
import { createBroker } from '../../signaling-server/broker.ts';
import { EXTENSION_ORIGIN, NodeClient } from './support/node-client.ts';
import { containsAnyRunOf, containsText } from './support/wire-check.ts';

const captured: Uint8Array[] = [];
let origin: OriginServer;
let exit: ExitServer;
let broker: ReturnType<typeof createBroker>;
let brokerUrl: string;
let exitInfo: { id: string; url: string; publicKey: string };
const operator = new LocalOperator();

before(async () => {
  origin = await startOriginServer(8 * 1024 * 1024);
  exit = new ExitServer({
    keyPair: generateKeyPair(),
    config: { port: 0, allowLoopback: true },
    wireTap: (_direction, record) => captured.push(new Uint8Array(record)),
  });
  const { url } = await exit.listen();
  exitInfo = { id: 'local', url, publicKey: exit.publicKey };
  broker = createBroker({ port: 0, exitList: operator.signExitList([exitInfo]), clientAnswerTimeoutMs: 5_000 });
  const address = await broker.listen();
  brokerUrl = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await broker.close();
  await exit.close();
  await origin.close();
  // node-datachannel keeps native threads alive until told to stop.
  nodeDataChannel.cleanup();
});

/** A Node volunteer (the relay core in this process) waiting at the broker. */
async function startNodeVolunteer(): Promise<RelayWorker> {
  const volunteer = new RelayWorker({
    config: createRelayWorkerConfig({ brokerUrl, kind: 'headless', exitListKeys: [operator.exitListKey] }),
    environment: nodeRelayEnvironment(),
  });
  volunteer.start();
  try {
    await waitFor(() => volunteer.status.state === 'waiting', 'the volunteer to wait at the broker');
  } catch (error) {
    volunteer.stop();
    throw error;
  }
  return volunteer;
}

/** The helper, and the extension's client path connected to its pipe (which at once asks the broker for a path). */
async function startClient(): Promise<{ helper: HelperCore; client: NodeClient }> {
  const helper = await startHelperCore({ exit: exitInfo, allowedOrigin: EXTENSION_ORIGIN, socksPort: 0, httpPort: 0, tunnel: { sessionWaitMs: 3_000 } });
  const client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl, exit: exitInfo });
  return { helper, client };
}

test('with no volunteer anywhere, the broker says so and a SOCKS request fails with a SOCKS error within 10 s; nothing reaches the origin', async () => {
  const { helper, client } = await startClient();
  try {
    const refused = await client.waitForEvent((event) => event.kind === 'error' && event.code !== 'PATH_FAILED', 'the broker to refuse a path');
    assert.deepEqual(refused.kind === 'error' && refused.code, 'NO_VOLUNTEERS');
    await waitFor(() => helper.tunnel.status.lastPathError, 'the helper to hear why there is no path');
    const result = await socksFetch(helper.socksPort, `http://localhost:${origin.port}/file`, { timeoutSeconds: 20 });
    assert.equal(result.ok, false);
    assert.equal(result.exitCode, 97, `curl reports a SOCKS5 error reply: ${result.stderr}`);
    assert.ok(result.elapsedMs < 10_000, `failed after ${Math.round(result.elapsedMs)} ms`);
    assert.equal(origin.connections, 0, 'no direct connection was made');
    assert.match(helper.tunnel.status.lastPathError ?? '', /NO_VOLUNTEERS/);
  } finally {
    client.stop();
    await helper.close();
  }
});

test('an 8 MiB download through a Node volunteer is byte-identical, and the volunteer saw neither host nor content', async () => {
  const volunteer = await startNodeVolunteer();
  let client: NodeClient | undefined;
  let helper: HelperCore | undefined;
  try {
    ({ helper, client } = await startClient());
    await client.waitForEvent((event) => event.kind === 'up', 'a path through the volunteer');
    await waitFor(() => helper?.tunnel.status.state === 'connected', 'the session to connect');
    captured.length = 0;
    const result = await socksFetch(helper.socksPort, `http://localhost:${origin.port}/file`);
    assert.ok(result.ok, result.stderr);
    assert.equal(result.sha256, origin.sha256);
    const wire = Buffer.concat(captured);
    assert.ok(wire.length > origin.file.length, 'the tap saw the traffic');
    assert.equal(containsText(wire, 'localhost'), false, 'the destination name is not visible');
    assert.equal(containsAnyRunOf(wire, origin.file), false, 'no 16-byte run of the file is visible');
    assert.ok(volunteer.status.bytesExitToClient >= origin.file.length, 'the bytes went through the volunteer');
  } finally {
    client?.stop();
    await helper?.close();
    volunteer.stop();
  }
});

/** A standard query for `name` of `type`, as a stub resolver sends it. */
function dnsQuery(id: number, name: string, type: number): Uint8Array {
  const labels = name.split('.').flatMap((label) => [label.length, ...Buffer.from(label)]);
  return Uint8Array.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, type >> 8, type & 0xff, 0, 1]);
}

test("DNS through the tunnel: the exit's resolver answers, the name never crosses the volunteer in the clear", async () => {
  const volunteer = await startNodeVolunteer();
  let client: NodeClient | undefined;
  let helper: HelperCore | undefined;
  try {
    ({ helper, client } = await startClient());
    await waitFor(() => helper?.tunnel.status.state === 'connected', 'the session to connect');
    const ask = tunnelDnsAnswerer(helper.tunnel);
    captured.length = 0;
    const answer = await ask(dnsQuery(0x1234, 'localhost', DNS_TYPE_A));
    assert.deepEqual([answer[0], answer[1]], [0x12, 0x34], 'the answer carries the query id');
    assert.equal((answer[3] ?? 0) & 0x0f, DnsResponseCode.NOERROR);
    assert.equal((answer[6] ?? 0) * 256 + (answer[7] ?? 0), 1, 'one address');
    assert.deepEqual([...answer.subarray(answer.length - 4)], [127, 0, 0, 1]);
    assert.equal(containsText(Buffer.concat(captured), 'localhost'), false, 'the name is not visible on the wire');

    const missing = await ask(dnsQuery(7, 'nothing-here.invalid', DNS_TYPE_A));
    assert.equal((missing[3] ?? 0) & 0x0f, DnsResponseCode.NXDOMAIN);
    const other = await ask(dnsQuery(8, 'localhost', 16));
    assert.equal((other[3] ?? 0) & 0x0f, DnsResponseCode.NOERROR, 'a record type the exit does not serve: an empty answer');
    assert.equal((other[6] ?? 0) * 256 + (other[7] ?? 0), 0);
    const malformed = await ask(Uint8Array.from([0, 9, 0x01, 0x00, 0, 2, 0, 0, 0, 0, 0, 0]));
    assert.equal((malformed[3] ?? 0) & 0x0f, DnsResponseCode.FORMERR, 'two questions: FORMERR');
  } finally {
    client?.stop();
    await helper?.close();
    volunteer.stop();
  }
});
