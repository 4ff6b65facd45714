// The NAT probe of browser volunteers (protocol/nat-probe.ts), on loopback: a volunteer whose probe connects calls
// itself 'unrestricted' and the broker matches it by that; one whose probe never connects is 'restricted'; a probe
// that cannot be reached changes nothing and says why. The probe server refuses bad requests with clear errors.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, type TestContext, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { RTCPeerConnection as NodeRTCPeerConnection } from 'node-datachannel/polyfill';
import { LocalOperator } from '../../../harness/operator.ts';
import { waitFor } from '../../../harness/wait.ts';
import { NAT_PROBE_PATH } from '../../../protocol/nat-probe.ts';
import { createRelayWorkerConfig } from '../../../relay-worker/config.ts';
import type { RelayEnvironment } from '../../../relay-worker/environment.ts';
import { NatProbeError, probeNatClass } from '../../../relay-worker/nat-probe-client.ts';
import { nodeRelayEnvironment } from '../../../relay-worker/node.ts';
import { RelayWorker } from '../../../relay-worker/relay-worker.ts';
import { createBroker } from '../../../signaling-server/broker.ts';
import { MemoryVolunteerStore } from '../../../signaling-server/memory-store.ts';
import { MAX_PROBES_PER_ADDRESS_PER_MINUTE, NatProbeServer } from '../../../signaling-server/nat-probe-server.ts';

after(() => nodeDataChannel.cleanup());

async function startProbe(): Promise<{ server: NatProbeServer; url: string }> {
  const server = new NatProbeServer({ host: '127.0.0.1', port: 0, stunUrls: [] });
  const { port } = await server.listen();
  return { server, url: `http://127.0.0.1:${port}${NAT_PROBE_PATH}` };
}

/** A probe, a broker that points volunteers at it, and a volunteer with `environment`, all ended after the test. */
async function startVolunteerWithProbe(
  t: TestContext,
  environment: RelayEnvironment = nodeRelayEnvironment(),
): Promise<{ store: MemoryVolunteerStore; worker: RelayWorker }> {
  const probe = await startProbe();
  t.after(() => probe.server.close());
  const operator = new LocalOperator();
  const store = new MemoryVolunteerStore();
  const exit = { id: 'local', url: 'ws://127.0.0.1:9/v1/relay', publicKey: 'A'.repeat(43) };
  const broker = createBroker({ port: 0, exitList: operator.signExitList([exit]), natProbeUrl: probe.url, store });
  const { port } = await broker.listen();
  t.after(() => broker.close());
  const worker = new RelayWorker({
    config: createRelayWorkerConfig({ brokerUrl: `http://127.0.0.1:${port}`, kind: 'extension', exitListKeys: [operator.exitListKey] }),
    environment,
  });
  worker.start();
  t.after(() => worker.stop());
  return { store, worker };
}

test('a volunteer whose probe connects tells the broker it is unrestricted, and is matched by that class', async (t) => {
  const { store, worker } = await startVolunteerWithProbe(t);
  await waitFor(async () => (await store.pools()).some((pool) => pool.nat === 'unrestricted'), 'the broker to learn the probed class', {
    timeoutMs: 20_000,
  }).catch(async (error: unknown) => {
    throw new Error(`${String(error)}; pools: ${JSON.stringify(await store.pools())}; worker: ${JSON.stringify(worker.status)}`);
  });
  assert.deepEqual(
    (await store.pools()).map((pool) => [pool.kind, pool.nat]),
    [['extension', 'unrestricted']],
  );
});

test('a volunteer whose own WebRTC fails once during the probe tries again with a new peer connection, and learns its class', async (t) => {
  // The first peer connection fails as libdatachannel did under load in CI; the ones after it are real.
  const node = nodeRelayEnvironment();
  let created = 0;
  const environment = {
    ...node,
    createPeerConnection: (config: RTCConfiguration): RTCPeerConnection => {
      const pc = node.createPeerConnection(config);
      created += 1;
      if (created === 1) {
        pc.setRemoteDescription = () =>
          Promise.reject(new Error('libdatachannel error while adding remote description: Got a remote candidate without ICE transport'));
      }
      return pc;
    },
  };
  const { store } = await startVolunteerWithProbe(t, environment);
  await waitFor(async () => (await store.pools()).some((pool) => pool.nat === 'unrestricted'), 'the broker to learn the probed class', { timeoutMs: 20_000 });
  assert.equal(created, 2, 'one failed peer connection, then one that worked');
});

test('a probe whose peer is gone never connects: restricted, once the wait is over', async (t) => {
  // Answers with a real peer's SDP and closes that peer at once, as an unreachable NAT would look.
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', async () => {
      const peer = new NodeRTCPeerConnection({ iceServers: [] });
      await peer.setRemoteDescription((JSON.parse(body) as { offer: RTCSessionDescriptionInit }).offer);
      await peer.setLocalDescription(await peer.createAnswer());
      const sdp = peer.localDescription?.sdp ?? '';
      peer.close();
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ answer: { type: 'answer', sdp } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${NAT_PROBE_PATH}`;
  assert.equal(await probeNatClass(nodeRelayEnvironment(), { probeUrl: url, iceServers: [], connectTimeoutMs: 1_500 }), 'restricted');
});

test('a probe that cannot be reached: NatProbeError saying where, and the class stays unknown', async () => {
  await assert.rejects(
    probeNatClass(nodeRelayEnvironment(), { probeUrl: 'http://127.0.0.1:9/v1/probe', iceServers: [] }),
    (error: unknown) => error instanceof NatProbeError && /cannot reach the NAT probe at http:\/\/127\.0\.0\.1:9/.test(error.message),
  );
});

test('the probe server refuses bad requests clearly and limits each address', async (t) => {
  const probe = await startProbe();
  t.after(() => probe.server.close());
  const base = probe.url.slice(0, -NAT_PROBE_PATH.length);
  assert.equal((await fetch(`${base}/elsewhere`)).status, 404);
  assert.equal((await fetch(probe.url)).status, 405);
  const bad = await fetch(probe.url, { method: 'POST', body: '{"offer": 1}' });
  assert.equal(bad.status, 400);
  assert.match(JSON.stringify(await bad.json()), /offer/);
  assert.equal((await fetch(probe.url, { method: 'POST', body: 'x'.repeat(70 * 1024) })).status, 413);
  let limited = 0;
  for (let index = 0; index < MAX_PROBES_PER_ADDRESS_PER_MINUTE + 2; index += 1) {
    if ((await fetch(probe.url, { method: 'POST', body: '{}' })).status === 429) limited += 1;
  }
  assert.ok(limited >= 2, 'beyond its probes a minute, an address gets 429');
  assert.equal(probe.server.peersAlive, 0, 'no peer was made for a refused request');
});
