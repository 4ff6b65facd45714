// Several paths per session at a real exit, over real WebSockets: a download striped over two volunteer sockets
// survives one of them closing mid-way; a JOIN beyond the exit's maxPathsPerSession is refused on its own socket
// and the session carries on; the counters say so.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { ExitServer } from '../../../exit-server/exit-server.ts';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { nodeChaCha20Poly1305 } from '../../../protocol/adapters/node-aead.ts';
import { ClientSession, fromBase64Url, generateKeyPair, PathRole, RecordType, type SessionPath } from '../../../protocol/index.ts';

const body = randomBytes(12 * 1024 * 1024);
const bodySha = createHash('sha256').update(body).digest('hex');
let origin: Server;
let originPort = 0;

before(async () => {
  origin = createServer((_request, response) => response.writeHead(200, { 'content-length': body.length, connection: 'close' }).end(body));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', () => resolve()));
  originPort = (origin.address() as AddressInfo).port;
});
after(async () => {
  origin.closeAllConnections();
  await new Promise((resolve) => origin.close(resolve));
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startExit(maxPathsPerSession?: number): Promise<{ exit: ExitServer; url: string }> {
  const keyPair = generateKeyPair();
  const exit = new ExitServer({
    keyPair,
    config: { port: 0, allowLoopback: true, ...(maxPathsPerSession === undefined ? {} : { session: { maxPathsPerSession } }) },
  });
  const { url } = await exit.listen();
  cleanups.push(() => exit.close());
  return { exit, url };
}

async function openSocket(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  socket.binaryType = 'nodebuffer';
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    }),
    'a volunteer socket to open',
  );
  cleanups.push(() => socket.terminate());
  return socket;
}

/** A client whose first path is a socket to the exit; join() adds sockets as further paths. */
async function multipathClient(exit: ExitServer, url: string) {
  const first = await openSocket(url);
  const session = new ClientSession({
    exitPublicKey: fromBase64Url(exit.publicKey),
    aead: nodeChaCha20Poly1305,
    sendRecord: (record) => first.send(record),
  });
  cleanups.push(() => session.close());
  const wire = (socket: WebSocket, path: SessionPath | undefined): void => {
    socket.on('message', (data: Buffer) => session.receiveRecord(new Uint8Array(data), path));
    socket.on('close', () => {
      if (path) session.removePath(path, 'the volunteer socket closed');
    });
  };
  wire(first, session.currentPath);
  session.start();
  await withTimeout(session.whenOpen(), 'the session to open');
  return {
    session,
    first,
    async join(role: PathRole = PathRole.CARRY): Promise<{ socket: WebSocket; path: SessionPath; records: Uint8Array[] }> {
      const socket = await openSocket(url);
      const records: Uint8Array[] = [];
      socket.on('message', (data: Buffer) => records.push(new Uint8Array(data)));
      const path = session.join((record) => socket.send(record), role);
      wire(socket, path);
      return { socket, path, records };
    },
  };
}

function download(session: ClientSession): { done: Promise<string>; bytes: () => number } {
  const stream = session.openStream({ host: '127.0.0.1', port: originPort });
  const chunks: Buffer[] = [];
  let received = 0;
  stream.ondata = (bytes) => {
    chunks.push(Buffer.from(bytes));
    received += bytes.length;
    stream.consumed(bytes.length);
  };
  const done = new Promise<string>((resolve, reject) => {
    stream.onopen = () => stream.write(new TextEncoder().encode('GET / HTTP/1.1\r\nhost: origin\r\n\r\n'));
    stream.onend = () => {
      const response = Buffer.concat(chunks);
      const start = response.indexOf('\r\n\r\n') + 4;
      resolve(createHash('sha256').update(response.subarray(start)).digest('hex'));
    };
    stream.onclose = (error) => (error ? reject(error) : undefined);
  });
  return { done: withTimeout(done, 'the download to finish', 60_000), bytes: () => received };
}

test('a download striped over two volunteer sockets finishes intact when one of them closes half-way', async () => {
  const { exit, url } = await startExit();
  const client = await multipathClient(exit, url);
  const second = await client.join();
  await waitFor(() => second.path.state === 'live', 'the second path to be joined');
  assert.equal(exit.snapshot().pathsJoined, 1);
  const run = download(client.session);
  await waitFor(() => run.bytes() >= body.length / 3, 'a third of the download', { intervalMs: 5 });
  client.first.terminate();
  assert.equal(await run.done, bodySha);
  assert.ok(
    second.records.some((record) => record[0] === RecordType.SEALED),
    'the second path carried records',
  );
  assert.equal(client.session.stats.resumes, 0, 'no resume: the other path carried on');
  assert.equal(exit.snapshot().sessionErrors, 0);
});

test('a JOIN beyond the exit’s maxPathsPerSession is refused on its own socket; the session and its paths carry on', async () => {
  const { exit, url } = await startExit(2);
  const client = await multipathClient(exit, url);
  const second = await client.join(PathRole.STANDBY);
  await waitFor(() => second.path.state === 'live', 'the second path to be joined');
  const third = await client.join();
  await waitFor(() => third.records.some((record) => record[0] === RecordType.REFUSED), 'the third JOIN to be refused');
  const refusal = new TextDecoder().decode(third.records.find((record) => record[0] === RecordType.REFUSED)?.subarray(1));
  assert.match(refusal, /already has 2 paths/);
  await waitFor(() => third.path.state === 'gone', 'the client to drop the refused path');
  assert.equal(exit.snapshot().joinsRefused, 1);
  assert.equal(client.session.stats.paths, 2);
  assert.equal(await download(client.session).done, bodySha);
});
