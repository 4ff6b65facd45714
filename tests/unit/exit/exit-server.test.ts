import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import { ExitServer } from '../../../exit-server/exit-server.ts';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { MuxStreamDuplex } from '../../../protocol/adapters/node-stream.ts';
import { generateKeyPair, RecordType, type StreamError, StreamErrorCode } from '../../../protocol/index.ts';
import { parsePrometheusText, sampleValue } from '../prometheus-text.ts';
import { connectClient } from './ws-client.ts';

const body = randomBytes(5 * 1024 * 1024);
const origin: Server = createServer((_request, response) => {
  response.writeHead(200, { 'content-length': body.length, connection: 'close' }).end(body);
});
await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', () => resolve()));
const originPort = (origin.address() as AddressInfo).port;

const exit = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true, connectTimeoutMs: 2_000 } });
const { url } = await exit.listen();
const strictExit = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: false } });
const strict = await strictExit.listen();

after(async () => {
  await exit.close();
  await strictExit.close();
  await new Promise((resolve) => origin.close(resolve));
});

async function httpGetThrough(session: Awaited<ReturnType<typeof connectClient>>['session'], host: string, port: number): Promise<Buffer> {
  const stream = session.openStream({ host, port });
  await new Promise<void>((resolve, reject) => {
    stream.onopen = resolve;
    stream.onclose = (error) => reject(error ?? new Error('closed'));
  });
  const duplex = new MuxStreamDuplex(stream);
  duplex.end(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of duplex) chunks.push(chunk as Buffer);
  const response = Buffer.concat(chunks);
  return response.subarray(response.indexOf('\r\n\r\n') + 4);
}

test('a client session through the exit fetches 5 MiB byte-identical', async () => {
  const { session, socket } = await connectClient(url, exit.publicKey);
  const received = await httpGetThrough(session, '127.0.0.1', originPort);
  assert.equal(createHash('sha256').update(received).digest('hex'), createHash('sha256').update(body).digest('hex'));
  session.close();
  socket.close();
});

test('a client that half-closed first gets every byte of a destination that sends and closes while bytes wait for credit', async () => {
  // The destination's last bytes and its end arrive while the client, which already half-closed, has not returned
  // credit for them: the exit must keep them queued and send CLOSE after them, not a RESET in their place.
  const tail = randomBytes(1024 * 1024 + 128 * 1024); // over the client's 1 MiB stream window, under what the exit reads ahead
  const rawOrigin = createNetServer((connection) => connection.end(tail));
  await new Promise<void>((resolve) => rawOrigin.listen(0, '127.0.0.1', () => resolve()));
  const { session, socket } = await connectClient(url, exit.publicKey);
  try {
    const readBefore = exit.snapshot().bytesReadFromDestinations;
    const stream = session.openStream({ host: '127.0.0.1', port: (rawOrigin.address() as AddressInfo).port });
    stream.end();
    const chunks: Uint8Array[] = [];
    let unconsumed = 0;
    stream.ondata = (bytes) => {
      chunks.push(bytes.slice());
      unconsumed += bytes.length;
    };
    const closed = new Promise<StreamError | undefined>((resolve) => {
      stream.onclose = resolve;
    });
    await waitFor(() => exit.snapshot().bytesReadFromDestinations - readBefore === tail.length, 'the exit to read the whole destination');
    stream.ondata = (bytes) => {
      chunks.push(bytes.slice());
      stream.consumed(bytes.length);
    };
    stream.consumed(unconsumed);
    const error = await withTimeout(closed, 'the stream to close');
    assert.equal(error, undefined, `the stream failed: ${error?.message}`);
    assert.equal(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'), createHash('sha256').update(tail).digest('hex'));
  } finally {
    session.close();
    socket.close();
    await new Promise((resolve) => rawOrigin.close(resolve));
  }
});

function openAndFail(session: Awaited<ReturnType<typeof connectClient>>['session'], host: string, port: number): Promise<StreamError> {
  const stream = session.openStream({ host, port });
  return new Promise((resolve, reject) => {
    stream.onopen = () => reject(new Error(`${host}:${port} should have been refused`));
    stream.onclose = (error) => (error ? resolve(error) : reject(new Error('closed without an error')));
  });
}

test('the egress policy refuses loopback and private destinations without the flag, with a clear reason', async () => {
  const { session, socket } = await connectClient(strict.url, strictExit.publicKey);
  const loopback = await openAndFail(session, '127.0.0.1', originPort);
  assert.equal(loopback.streamCode, StreamErrorCode.NOT_ALLOWED);
  assert.match(loopback.message, /loopback/);
  const byName = await openAndFail(session, 'localhost', originPort);
  assert.equal(byName.streamCode, StreamErrorCode.NOT_ALLOWED, 'names are checked after resolution');
  const metadata = await openAndFail(session, '169.254.169.254', 80);
  assert.match(metadata.message, /metadata/);
  const smtp = await openAndFail(session, '1.2.3.4', 25);
  assert.match(smtp.message, /port 25/);
  assert.equal(session.state, 'open', 'refusals leave the session usable');
  session.close();
  socket.close();
});

test("through the real exit, addresses that embed a private IPv4 and the exit's own address are refused; nothing is dialled", async () => {
  // A service on every interface that only a firewall would hide: the exit must not be a way in.
  let reached = 0;
  const service = createNetServer((socket) => {
    reached++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => service.listen(0, '0.0.0.0', () => resolve()));
  const servicePort = (service.address() as AddressInfo).port;
  const ownAddress = Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .find((entry) => entry.family === 'IPv4' && !entry.internal)?.address;
  const { session, socket } = await connectClient(strict.url, strictExit.publicKey);
  try {
    const forms = [
      '::ffff:127.0.0.1', // IPv4-mapped
      '::ffff:0:7f00:1', // SIIT (IPv4-translated)
      '64:ff9b::7f00:1', // NAT64
      '64:ff9b::a00:1', // NAT64 to 10.0.0.1
      '::127.0.0.1', // IPv4-compatible
      '2002:7f00:1::1', // 6to4 of 127.0.0.1
      '2002:c0a8:101::1', // 6to4 of 192.168.1.1
      '192.88.99.1', // the 6to4 relay anycast range
      'fec0::1', // site-local
      ...(ownAddress ? [ownAddress] : []),
    ];
    for (const host of forms) {
      const refused = await openAndFail(session, host, servicePort);
      assert.equal(refused.streamCode, StreamErrorCode.NOT_ALLOWED, `${host}: ${refused.message}`);
    }
    assert.ok(ownAddress, 'this machine has a non-loopback interface (WebRTC needs one), so its own address was tried');
    assert.equal(reached, 0, 'the service behind the exit was never reached');
    assert.equal(session.state, 'open');
  } finally {
    session.close();
    socket.close();
    await new Promise((resolve) => service.close(resolve));
  }
});

test('a refused port maps to CONNECTION_REFUSED', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const { session, socket } = await connectClient(url, exit.publicKey);
  const error = await openAndFail(session, '127.0.0.1', deadPort);
  assert.equal(error.streamCode, StreamErrorCode.CONNECTION_REFUSED);
  session.close();
  socket.close();
});

function closeOf(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code: number) => resolve(code)));
}

test('garbage records and text messages close that connection with a clear code; the exit serves the next client', async () => {
  const garbage = new WebSocket(url);
  await new Promise((resolve) => garbage.once('open', resolve));
  const garbageClosed = closeOf(garbage);
  garbage.send(Uint8Array.of(0x99, 1, 2, 3));
  assert.equal(await garbageClosed, 1008);

  const badLength = new WebSocket(url);
  await new Promise((resolve) => badLength.once('open', resolve));
  const badLengthClosed = closeOf(badLength);
  badLength.send(Uint8Array.of(RecordType.HELLO, 1, 2));
  assert.equal(await badLengthClosed, 1008);

  const text = new WebSocket(url);
  await new Promise((resolve) => text.once('open', resolve));
  const textClosed = closeOf(text);
  text.send('hello?');
  assert.equal(await textClosed, 1003);

  const huge = new WebSocket(url);
  await new Promise((resolve) => huge.once('open', resolve));
  const hugeClosed = closeOf(huge);
  huge.send(new Uint8Array(300 * 1024));
  assert.equal(await hugeClosed, 1009, 'records over 256 KiB are refused by the WebSocket limit');

  const { session, socket } = await connectClient(url, exit.publicKey);
  const received = await httpGetThrough(session, '127.0.0.1', originPort);
  assert.equal(received.length, body.length);
  session.close();
  socket.close();
});

test('a session for another exit key is refused; the metrics count sessions', async () => {
  await assert.rejects(connectClient(url, strictExit.publicKey), /authentication|closed|lost/);
  const metrics = parsePrometheusText(await (await fetch(url.replace('ws://', 'http://').replace('/v1/relay', '/metrics'))).text());
  assert.equal(sampleValue(metrics, 'ferry_exit_sessions_total'), exit.snapshot().sessionsTotal);
  assert.ok(exit.snapshot().sessionsTotal >= 1);
  assert.ok(exit.snapshot().sessionErrors >= 1);
});
