// A lying broker (issue 10, attack 8): it serves an exit of its own, in a list the operator did not sign, or in no
// signed list at all. Real broker, real exits on loopback, a real volunteer (relay-worker in Node) and the client's
// real exit-list fetch and helper check: each refuses, and the broker's exit sees no connection.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { fetchExitList } from '../../extension/broker-exits.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { waitFor } from '../../harness/wait.ts';
import { trustedExit } from '../../native-helper/native-host.ts';
import type { ExitInfo, SignedExitList } from '../../protocol/exit-list.ts';
import { generateKeyPair, toBase64Url } from '../../protocol/index.ts';
import type { RelayStatus } from '../../protocol/relay-status.ts';
import { createRelayWorkerConfig } from '../../relay-worker/config.ts';
import { nodeRelayEnvironment } from '../../relay-worker/node.ts';
import { RelayWorker } from '../../relay-worker/relay-worker.ts';
import { createBroker } from '../../signaling-server/broker.ts';

const operator = new LocalOperator();
/**
 * The broker's own exit: it holds this exit's key, so it could read everything a client sent through it. Here it
 * only counts who connects (any address the broker names would do, the volunteer's LAN included).
 */
let brokersExit: WebSocketServer;
let brokersExitInfo: ExitInfo;
let brokersExitConnections = 0;

before(async () => {
  brokersExit = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => brokersExit.once('listening', () => resolve()));
  brokersExit.on('connection', () => {
    brokersExitConnections += 1;
  });
  const { port } = brokersExit.address() as AddressInfo;
  brokersExitInfo = { id: 'local', url: `ws://127.0.0.1:${port}/v1/relay`, publicKey: toBase64Url(generateKeyPair().publicKey) };
});
after(async () => {
  for (const socket of brokersExit.clients) socket.terminate();
  await new Promise((resolve) => brokersExit.close(resolve));
});

/** A volunteer pinned to the operator's key; it records every status it reports. */
async function volunteerAgainst(brokerUrl: string): Promise<{ statuses: RelayStatus[]; stop: () => void }> {
  const statuses: RelayStatus[] = [];
  const worker = new RelayWorker({
    config: createRelayWorkerConfig({
      brokerUrl,
      kind: 'headless',
      exitListKeys: [operator.exitListKey],
      brokerReconnectDelayMs: 50,
      brokerReconnectMaxDelayMs: 200,
    }),
    environment: nodeRelayEnvironment(),
    onStatus: (status) => statuses.push(status),
  });
  worker.start();
  return { statuses, stop: () => worker.stop() };
}

test('a broker serving an exit list signed by another key is refused by the volunteer, the client and the helper', async () => {
  const forged: SignedExitList = new LocalOperator().signExitList([brokersExitInfo]);
  const broker = createBroker({ port: 0, exitList: forged });
  const brokerUrl = `http://127.0.0.1:${(await broker.listen()).port}`;
  const volunteer = await volunteerAgainst(brokerUrl);
  try {
    await waitFor(
      () => volunteer.statuses.some((s) => s.state === 'broker-unreachable' && s.lastError?.includes('EXIT_LIST_NOT_SIGNED') === true),
      'the volunteer to refuse the list',
    );
    assert.ok(
      volunteer.statuses.every((s) => s.state !== 'waiting'),
      'the volunteer never waited for clients',
    );

    await assert.rejects(fetchExitList(brokerUrl, [operator.exitListKey]), (error: unknown) => (error as { code?: string }).code === 'EXIT_LIST_NOT_SIGNED');
    assert.throws(
      () => trustedExit({ type: 'start', exitList: forged, exitId: 'local' }, [operator.exitListKey], Date.now()),
      (error: unknown) => (error as { code?: string }).code === 'EXIT_LIST_NOT_SIGNED',
    );
    assert.equal(brokersExitConnections, 0, "nobody connected to the broker's exit");
  } finally {
    volunteer.stop();
    await broker.close();
  }
});

test('a broker serving exits with no signature is refused by the volunteer and the client', async () => {
  // Not Ferry's broker: what a seized one could serve instead. Old-style {exits} over HTTP, a welcome without a list.
  const unsigned = { exits: [brokersExitInfo] };
  const server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(unsigned)));
  const volunteerSockets = new WebSocketServer({ server, path: '/v1/volunteer' });
  volunteerSockets.on('connection', (socket) => {
    socket.on('message', () => socket.send(JSON.stringify({ type: 'welcome', volunteerId: 'v1', ...unsigned })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const brokerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const volunteer = await volunteerAgainst(brokerUrl);
  try {
    await waitFor(
      () => volunteer.statuses.some((s) => s.state === 'broker-unreachable' && s.lastError?.includes('NO_EXIT_LIST') === true),
      'the volunteer to refuse a welcome without a signed list',
    );
    assert.ok(volunteer.statuses.every((s) => s.state !== 'waiting'));
    await assert.rejects(fetchExitList(brokerUrl, [operator.exitListKey]), (error: unknown) => (error as { code?: string }).code === 'BAD_EXIT_LIST');
    assert.equal(brokersExitConnections, 0);
  } finally {
    volunteer.stop();
    for (const socket of volunteerSockets.clients) socket.terminate();
    volunteerSockets.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
