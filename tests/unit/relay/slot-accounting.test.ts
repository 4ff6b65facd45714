// A real volunteer and a real broker agree on free slots: a volunteer with 2 slots takes 2 clients in a row. The
// volunteer used to announce its slots again while answering, the broker counted that client a second time, and the
// second client got 503 NO_VOLUNTEERS while a slot was free (found by `npm run bench:network`). A third client is not
// refused at once either: the volunteer frees a slot when a client leaves, so it waits until its deadline.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { RTCPeerConnection as NodeRTCPeerConnection } from 'node-datachannel/polyfill';
import { LocalOperator } from '../../../harness/operator.ts';
import { waitFor } from '../../../harness/wait.ts';
import { createRelayWorkerConfig } from '../../../relay-worker/config.ts';
import { nodeRelayEnvironment } from '../../../relay-worker/node.ts';
import { RelayWorker } from '../../../relay-worker/relay-worker.ts';
import { createBroker } from '../../../signaling-server/broker.ts';

after(() => nodeDataChannel.cleanup());

async function realOffer(peers: NodeRTCPeerConnection[]): Promise<string> {
  const peer = new NodeRTCPeerConnection({ iceServers: [] });
  peers.push(peer);
  peer.createDataChannel('ferry');
  await peer.setLocalDescription(await peer.createOffer());
  await new Promise((resolve) => setTimeout(resolve, 200)); // host candidates, gathered in milliseconds here
  return peer.localDescription?.sdp ?? '';
}

test('a volunteer with 2 slots takes 2 clients in a row; the third waits for a slot, and gets 504 when none frees up', async (t) => {
  const operator = new LocalOperator();
  const exit = { id: 'local', url: 'ws://127.0.0.1:9/v1/relay', publicKey: 'A'.repeat(43) };
  const broker = createBroker({ port: 0, exitList: operator.signExitList([exit]), clientAnswerTimeoutMs: 4_000, volunteerAnswerTimeoutMs: 3_000 });
  const { port } = await broker.listen();
  t.after(() => broker.close());
  const worker = new RelayWorker({
    config: createRelayWorkerConfig({ brokerUrl: `http://127.0.0.1:${port}`, kind: 'headless', exitListKeys: [operator.exitListKey], maxClients: 2 }),
    environment: nodeRelayEnvironment(),
  });
  worker.start();
  t.after(() => worker.stop());
  await waitFor(async () => (await broker.metrics()).volunteerSlotsFree === 2, 'the volunteer to say hello with 2 slots');
  const peers: NodeRTCPeerConnection[] = [];
  t.after(() => {
    for (const peer of peers) peer.close();
  });
  const ask = async (): Promise<number> =>
    (
      await fetch(`http://127.0.0.1:${port}/v1/client`, {
        method: 'POST',
        body: JSON.stringify({ offer: { type: 'offer', sdp: await realOffer(peers) }, exitId: 'local', nat: 'unknown' }),
      })
    ).status;
  assert.equal(await ask(), 200);
  assert.equal(await ask(), 200, 'the second slot was still free');
  assert.equal(await ask(), 504, 'both slots serve clients now: the third waited for one until its deadline');
});
