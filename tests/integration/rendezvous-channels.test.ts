// Proxy me's rendezvous when the broker's own address cannot be reached: the extension's client path (in Node) seals
// its offer to the broker's key and hands the channels a browser cannot carry to the real helper, which fronts
// through a TLS "CDN" stand-in that routes by Host, or goes through a cache stand-in that refuses POST, re-chunks
// pages and hides server errors. Real broker, exit, Node volunteer, helper and SOCKS download; certificates from a
// CA made for this run, trusted by the helper alone. (The same over namespaces, nginx and real Chromium is the e2e.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { ExitServer } from '../../exit-server/exit-server.ts';
import type { ClientRendezvous } from '../../extension/messages.ts';
import { SDP_MARKERS, type StandIn, startCacheStandIn, startFrontStandIn } from '../../harness/cdn-stand-ins.ts';
import { freeLoopbackPort } from '../../harness/free-port.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { socksFetch } from '../../harness/socks-fetch.ts';
import { makeTestCa, type TestCa } from '../../harness/test-ca.ts';
import { waitFor } from '../../harness/wait.ts';
import { type HelperCore, startHelperCore } from '../../native-helper/helper-core.ts';
import { generateKeyPair, type KeyPair, toBase64Url } from '../../protocol/index.ts';
import { createRelayWorkerConfig } from '../../relay-worker/config.ts';
import { nodeRelayEnvironment } from '../../relay-worker/node.ts';
import { RelayWorker } from '../../relay-worker/relay-worker.ts';
import { createBroker } from '../../signaling-server/broker.ts';
import { EXTENSION_ORIGIN, NodeClient } from './support/node-client.ts';

/** The broker's public name, which the front routes by and which no DNS here resolves. */
const BROKER_HOST = 'broker.test';
const scratch = mkdtempSync(join(tmpdir(), 'ferry-rendezvous-'));
let ca: TestCa;
let origin: OriginServer;
let exit: ExitServer;
let broker: ReturnType<typeof createBroker>;
let brokerUpstream: string;
let brokerKey: KeyPair;
let exitInfo: { id: string; url: string; publicKey: string };
let volunteer: RelayWorker;
let front: StandIn;
let cache: StandIn;
let deadPort: number;
const operator = new LocalOperator();

before(async () => {
  ca = makeTestCa(scratch);
  const certificate = ca.issue(['localhost']);
  origin = await startOriginServer(4 * 1024 * 1024);
  exit = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true } });
  const { url } = await exit.listen();
  exitInfo = { id: 'local', url, publicKey: exit.publicKey };
  brokerKey = generateKeyPair();
  broker = createBroker({ port: 0, exitList: operator.signExitList([exitInfo]), rendezvousKeyPair: brokerKey });
  brokerUpstream = `http://127.0.0.1:${(await broker.listen()).port}`;
  front = await startFrontStandIn({ certificate, routes: { [BROKER_HOST]: brokerUpstream } });
  cache = await startCacheStandIn({ certificate, upstream: brokerUpstream, upstreamHost: BROKER_HOST });
  deadPort = await freeLoopbackPort();
  volunteer = new RelayWorker({
    config: createRelayWorkerConfig({ brokerUrl: brokerUpstream, kind: 'headless', exitListKeys: [operator.exitListKey] }),
    environment: nodeRelayEnvironment(),
  });
  volunteer.start();
  await waitFor(() => volunteer.status.state === 'waiting', 'the volunteer to wait at the broker');
});

after(async () => {
  volunteer?.stop();
  await front?.close();
  await cache?.close();
  await broker?.close();
  await exit?.close();
  await origin?.close();
  nodeDataChannel.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

function rendezvous(channels: ClientRendezvous['channels']): ClientRendezvous {
  return { brokerKey: toBase64Url(brokerKey.publicKey), channels };
}

/** The helper (trusting the test CA) and the client path on its pipe, whose plain broker URL leads nowhere. */
async function startClient(channels: ClientRendezvous['channels']): Promise<{ helper: HelperCore; client: NodeClient }> {
  const helper = await startHelperCore({
    exit: exitInfo,
    allowedOrigin: EXTENSION_ORIGIN,
    socksPort: 0,
    httpPort: 0,
    tunnel: { sessionWaitMs: 3_000 },
    rendezvousCaPem: ca.caPem,
  });
  const client = new NodeClient({
    pipeUrl: helper.pipeUrl,
    token: helper.issueToken(),
    brokerUrl: `http://127.0.0.1:${deadPort}`,
    exit: exitInfo,
    rendezvous: rendezvous(channels),
  });
  return { helper, client };
}

async function downloadThrough(helper: HelperCore, client: NodeClient): Promise<void> {
  await client.waitForEvent((event) => event.kind === 'up', 'a path through the volunteer');
  await waitFor(() => helper.tunnel.status.state === 'connected', 'the session to connect');
  const result = await socksFetch(helper.socksPort, `http://localhost:${origin.port}/file`, { timeoutSeconds: 60 });
  assert.ok(result.ok, result.stderr);
  assert.equal(result.sha256, origin.sha256);
}

const leaks = (log: readonly { path: string; host: string }[]): string[] =>
  log
    .flatMap((entry) => [entry.path, entry.host])
    .filter((text) => SDP_MARKERS.test(decodeURIComponent(text)) || decodeURIComponent(text).includes('127.0.0.1'));

test('direct blocked: the helper fronts the sealed offer (TLS name = the front, Host = the broker), and Proxy me connects', async () => {
  const before = front.log.length;
  const { helper, client } = await startClient([
    { kind: 'direct', url: `http://127.0.0.1:${deadPort}`, timeoutMs: 2_000 },
    { kind: 'fronted', url: `https://${BROKER_HOST}`, front: `localhost:${front.port}` },
  ]);
  try {
    await downloadThrough(helper, client);
    const reached = client.events.find((event) => event.kind === 'broker-reached');
    assert.deepEqual(reached, { kind: 'broker-reached', channel: `fronted via localhost:${front.port} to ${BROKER_HOST}` });
    const requests = front.log.slice(before);
    assert.ok(requests.length >= 1);
    for (const entry of requests) {
      assert.equal(entry.serverName, 'localhost', 'the TLS name is the front');
      assert.equal(entry.host, BROKER_HOST, 'the Host is the broker');
      assert.equal(entry.method, 'POST');
    }
    assert.deepEqual(leaks(front.log), [], 'the front logged no SDP and no address');
  } finally {
    client.stop();
    await helper.close();
  }
});

test('the front refuses a Host it does not serve', async () => {
  const response = await new Promise<number>((resolve, reject) => {
    import('node:https').then(({ request }) => {
      const sent = request(
        { host: '127.0.0.1', port: front.port, servername: 'localhost', path: '/', headers: { Host: 'elsewhere.test' }, ca: ca.caPem, agent: false },
        (answer) => {
          answer.resume();
          resolve(answer.statusCode ?? 0);
        },
      );
      sent.on('error', reject);
      sent.end();
    }, reject);
  });
  assert.equal(response, 421);
});

test('direct and front blocked: the sealed offer goes through the cache (GET only, re-chunked page), and Proxy me connects', async () => {
  const before = cache.log.length;
  const { helper, client } = await startClient([
    { kind: 'direct', url: `http://127.0.0.1:${deadPort}`, timeoutMs: 2_000 },
    { kind: 'fronted', url: `https://${BROKER_HOST}`, front: `localhost:${deadPort}`, timeoutMs: 2_000 },
    { kind: 'cache', url: `https://localhost:${cache.port}` },
  ]);
  try {
    await downloadThrough(helper, client);
    const reached = client.events.find((event) => event.kind === 'broker-reached');
    assert.deepEqual(reached, { kind: 'broker-reached', channel: `cache localhost:${cache.port}` });
    const requests = cache.log.slice(before);
    assert.ok(requests.every((entry) => entry.method === 'GET' && entry.path.startsWith('/v1/rendezvous/')));
    assert.equal(new Set(requests.map((entry) => entry.path)).size, requests.length, 'every URL is new');
    assert.deepEqual(leaks(cache.log), [], 'the cache logged no SDP and no address');
  } finally {
    client.stop();
    await helper.close();
  }
});

test('every channel blocked: the client says so within the sum of the timeouts, naming each channel and why', async () => {
  const started = Date.now();
  const { helper, client } = await startClient([
    { kind: 'direct', url: `http://127.0.0.1:${deadPort}`, timeoutMs: 2_000 },
    { kind: 'fronted', url: `https://${BROKER_HOST}`, front: `localhost:${deadPort}`, timeoutMs: 2_000 },
    { kind: 'cache', url: `https://localhost:${front.port}`, timeoutMs: 2_000 },
  ]);
  try {
    const failed = await client.waitForEvent((event) => event.kind === 'error', 'the rendezvous to fail', { timeoutMs: 20_000 });
    assert.equal(failed.kind === 'error' && failed.code, 'BROKER_UNREACHABLE');
    const message = failed.kind === 'error' ? failed.message : '';
    assert.match(message, new RegExp(`direct 127\\.0\\.0\\.1:${deadPort}: cannot reach`));
    assert.match(message, new RegExp(`fronted via localhost:${deadPort} to ${BROKER_HOST.replace('.', '\\.')}: cannot reach`));
    // The front answers, but serves no such Host: the cache channel there gets 421.
    assert.match(message, new RegExp(`cache localhost:${front.port}: it answered HTTP 421`));
    assert.ok(Date.now() - started < 10_000, `told after ${Date.now() - started} ms`);
  } finally {
    client.stop();
    await helper.close();
  }
});
