// "Am I helping?" on the real path in Node: a real broker and exit, the volunteer core on node-datachannel. The check
// reaches this volunteer through a one-off link, opens a real data channel through it and gets the exit's answer; it
// counts nobody as helped. With the exit gone it fails at the exit; with the broker gone, at the broker.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { ExitServer } from '../../../exit-server/exit-server.ts';
import { LocalOperator } from '../../../harness/operator.ts';
import { waitFor } from '../../../harness/wait.ts';
import { generateKeyPair } from '../../../protocol/index.ts';
import { createRelayWorkerConfig } from '../../../relay-worker/config.ts';
import { nodeRelayEnvironment } from '../../../relay-worker/node.ts';
import { RelayWorker } from '../../../relay-worker/relay-worker.ts';
import { createBroker } from '../../../signaling-server/broker.ts';

const operator = new LocalOperator();
let exit: ExitServer;
let broker: ReturnType<typeof createBroker>;
let brokerUrl: string;

before(async () => {
  exit = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true } });
  const { url } = await exit.listen();
  broker = createBroker({ port: 0, exitList: operator.signExitList([{ id: 'local', url, publicKey: exit.publicKey }]) });
  brokerUrl = `http://127.0.0.1:${(await broker.listen()).port}`;
});

after(async () => {
  await broker?.close();
  await exit?.close();
  nodeDataChannel.cleanup();
});

function startVolunteer(url = brokerUrl): RelayWorker {
  const worker = new RelayWorker({
    config: createRelayWorkerConfig({ brokerUrl: url, kind: 'headless', exitListKeys: [operator.exitListKey], brokerReconnectDelayMs: 50 }),
    environment: nodeRelayEnvironment(),
  });
  worker.start();
  return worker;
}

test('a working volunteer: broker, data channel and exit answer, and nobody is counted as helped', async () => {
  const worker = startVolunteer();
  try {
    await waitFor(() => worker.status.state === 'waiting', 'the volunteer to wait at the broker');
    const result = await worker.selfCheck();
    assert.deepEqual(result, { ok: true });
    assert.equal(worker.status.clientsTotal, 0, 'the check is not someone helped');
    assert.equal(worker.status.bytesClientToExit + worker.status.bytesExitToClient, 0);
    await waitFor(() => worker.status.clientsNow === 0 && worker.freePersonalSlots === 0, 'the check’s slot and link to go');
    // A second check runs as well: the one-off link is gone and a new one made.
    assert.deepEqual(await worker.selfCheck(), { ok: true });
  } finally {
    worker.stop();
  }
});

test('not connected to the broker: the check fails at the broker, saying why', async () => {
  const worker = startVolunteer('http://127.0.0.1:9');
  try {
    await waitFor(() => worker.status.state === 'broker-unreachable', 'the volunteer to find the broker unreachable');
    const result = await worker.selfCheck();
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.failed, 'broker');
  } finally {
    worker.stop();
  }
});

test('the exit is gone: the data channel opens, and the check fails at the exit', async () => {
  const worker = startVolunteer();
  try {
    await waitFor(() => worker.status.state === 'waiting', 'the volunteer to wait at the broker');
    await exit.close();
    const result = await worker.selfCheck();
    assert.equal(result.ok, false, JSON.stringify(result));
    assert.equal(!result.ok && result.failed, 'exit', JSON.stringify(result));
  } finally {
    worker.stop();
  }
});
