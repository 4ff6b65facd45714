// A volunteer's limits on the whole path in Node (helper, the extension's client path on node-datachannel, a real
// broker, a Node volunteer, a real exit): with a bandwidth cap the relay's measured throughput stays within 10 % of
// the cap, and with a maximum of one client a second client is not matched to that volunteer.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { ExitServer } from '../../exit-server/exit-server.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { socksFetch } from '../../harness/socks-fetch.ts';
import { waitFor } from '../../harness/wait.ts';
import { type HelperCore, startHelperCore } from '../../native-helper/helper-core.ts';
import { generateKeyPair } from '../../protocol/index.ts';
import { createRelayWorkerConfig, type RelayWorkerOptions } from '../../relay-worker/config.ts';
import { nodeRelayEnvironment } from '../../relay-worker/node.ts';
import { RelayWorker } from '../../relay-worker/relay-worker.ts';
import { createBroker } from '../../signaling-server/broker.ts';
import { EXTENSION_ORIGIN, NodeClient } from './support/node-client.ts';

/** The cap under test (bytes a second): far below what this path carries uncapped on loopback (tens of MB/s). */
const CAP_BYTES_PER_SECOND = 1_000_000;
/** The download: long enough for a steady rate after the first burst (about 4 s at the cap). */
const FILE_BYTES = 4 * 1024 * 1024;

const operator = new LocalOperator();
let origin: OriginServer;
let exit: ExitServer;
let broker: ReturnType<typeof createBroker>;
let brokerUrl: string;
let exitInfo: { id: string; url: string; publicKey: string };

before(async () => {
  origin = await startOriginServer(FILE_BYTES);
  exit = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true } });
  const { url } = await exit.listen();
  exitInfo = { id: 'local', url, publicKey: exit.publicKey };
  broker = createBroker({ port: 0, exitList: operator.signExitList([exitInfo]), clientAnswerTimeoutMs: 3_000, volunteerAnswerTimeoutMs: 1_500 });
  brokerUrl = `http://127.0.0.1:${(await broker.listen()).port}`;
});

after(async () => {
  await broker.close();
  await exit.close();
  await origin.close();
  nodeDataChannel.cleanup();
});

function startVolunteer(options: Partial<RelayWorkerOptions>): RelayWorker {
  const volunteer = new RelayWorker({
    config: createRelayWorkerConfig({ brokerUrl, kind: 'headless', exitListKeys: [operator.exitListKey], ...options }),
    environment: nodeRelayEnvironment(),
  });
  volunteer.start();
  return volunteer;
}

async function startClient(): Promise<{ helper: HelperCore; client: NodeClient }> {
  const helper = await startHelperCore({ exit: exitInfo, allowedOrigin: EXTENSION_ORIGIN, socksPort: 0, httpPort: 0, tunnel: { sessionWaitMs: 3_000 } });
  const client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl, exit: exitInfo });
  return { helper, client };
}

const relayedBy = (volunteer: RelayWorker): number => volunteer.status.bytesClientToExit + volunteer.status.bytesExitToClient;

test('with a bandwidth cap the relay throughput stays within 10 % of the cap, and the download is intact', async () => {
  const volunteer = startVolunteer({ maxBytesPerSecond: CAP_BYTES_PER_SECOND });
  let started: { helper: HelperCore; client: NodeClient } | undefined;
  try {
    await waitFor(() => volunteer.status.state === 'waiting', 'the volunteer to wait at the broker');
    started = await startClient();
    const { helper, client } = started;
    await client.waitForEvent((event) => event.kind === 'up', 'a path through the volunteer');
    await waitFor(() => helper.tunnel.status.state === 'connected', 'the session to connect');

    // The volunteer's own byte counters, every 100 ms: the rate between 1 MiB and the end leaves out the first burst.
    const samples: Array<{ at: number; bytes: number }> = [];
    const sampler = setInterval(() => samples.push({ at: performance.now(), bytes: relayedBy(volunteer) }), 100);
    const result = await socksFetch(helper.socksPort, `http://localhost:${origin.port}/file`, { timeoutSeconds: 60 });
    clearInterval(sampler);
    samples.push({ at: performance.now(), bytes: relayedBy(volunteer) });
    assert.ok(result.ok, result.stderr);
    assert.equal(result.sha256, origin.sha256);

    const from = samples.find((sample) => sample.bytes >= 1024 * 1024);
    const to = samples.at(-1);
    assert.ok(from && to && to.at - from.at > 1_000, `a measurable stretch: ${JSON.stringify([from, to])}`);
    const rate = ((to.bytes - from.bytes) * 1000) / (to.at - from.at);
    const ratio = rate / CAP_BYTES_PER_SECOND;
    assert.ok(ratio > 0.9 && ratio < 1.1, `relayed ${Math.round(rate)} bytes a second under a cap of ${CAP_BYTES_PER_SECOND} (${ratio.toFixed(3)} x)`);
  } finally {
    started?.client.stop();
    await started?.helper.close();
    volunteer.stop();
  }
});

test('with a maximum of one client, a second client is not matched to that volunteer while the first is helped', async () => {
  const volunteer = startVolunteer({ maxClients: 1, maxPersonalClients: 0 });
  const clients: Array<{ helper: HelperCore; client: NodeClient }> = [];
  try {
    await waitFor(() => volunteer.status.state === 'waiting', 'the volunteer to wait at the broker');
    const first = await startClient();
    clients.push(first);
    await first.client.waitForEvent((event) => event.kind === 'up', 'the first client’s path');
    await waitFor(() => volunteer.status.clientsNow === 1, 'the volunteer to help the first client');

    const second = await startClient();
    clients.push(second);
    const refused = await second.client.waitForEvent((event) => event.kind === 'error', 'the broker to answer the second client');
    assert.equal(refused.kind === 'error' && refused.code, 'TIMED_OUT', 'it waited for the one slot, which stayed taken');
    assert.equal(volunteer.status.clientsNow, 1);
    assert.equal(volunteer.status.clientsTotal, 1, 'the second client never reached this volunteer');
  } finally {
    for (const { client, helper } of clients) {
      client.stop();
      await helper.close();
    }
    volunteer.stop();
  }
});
