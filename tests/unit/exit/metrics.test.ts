import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Registry, register } from 'prom-client';
import { ExitServer } from '../../../exit-server/exit-server.ts';
import { waitFor } from '../../../harness/wait.ts';
import { MuxStreamDuplex } from '../../../protocol/adapters/node-stream.ts';
import { type ClientSession, generateKeyPair } from '../../../protocol/index.ts';
import { parsePrometheusText, sampleValue } from '../prometheus-text.ts';
import { connectClient } from './ws-client.ts';

const BODY_BYTES = 100_000;

async function startOrigin(): Promise<{ server: Server; port: number }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-length': BODY_BYTES, connection: 'close' }).end(Buffer.alloc(BODY_BYTES, 7));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, port: (server.address() as AddressInfo).port };
}

/** GETs /metrics from `localAddress`, checks the Content-Type, and returns the text. */
function scrapeFrom(metricsUrl: string, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const outgoing = request(metricsUrl, { localAddress }, (response) => {
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], Registry.PROMETHEUS_CONTENT_TYPE);
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      response.once('end', () => resolve(text));
    });
    outgoing.once('error', reject);
    outgoing.end();
  });
}

/** Sends a request through a stream and reads the whole answer; resolves once the destination closed. */
async function fetchThrough(session: ClientSession, port: number): Promise<number> {
  const stream = session.openStream({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    stream.onopen = resolve;
    stream.onclose = (error) => reject(error ?? new Error('closed'));
  });
  const duplex = new MuxStreamDuplex(stream);
  duplex.end('GET / HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
  let bytes = 0;
  for await (const chunk of duplex) bytes += (chunk as Buffer).length;
  return bytes;
}

function refusedStream(session: ClientSession, host: string, port: number): Promise<void> {
  const stream = session.openStream({ host, port });
  return new Promise((resolve, reject) => {
    stream.onopen = () => reject(new Error(`${host}:${port} should have been refused`));
    stream.onclose = (error) => (error ? resolve() : reject(new Error('closed without an error')));
  });
}

test('/metrics of the exit: sessions, streams, bytes both ways, refusals by reason, full-exit refusals, process metrics; no volunteer address', async (t) => {
  const origin = await startOrigin();
  t.after(() => new Promise((resolve) => origin.server.close(resolve)));
  const deadServer = createServer();
  await new Promise<void>((resolve) => deadServer.listen(0, '127.0.0.1', () => resolve()));
  const deadPort = (deadServer.address() as AddressInfo).port;
  await new Promise((resolve) => deadServer.close(resolve));

  // Loopback allowed for the origin; private ranges such as 10.0.0.0/8 are still refused by the egress policy.
  const exit = new ExitServer({
    keyPair: generateKeyPair(),
    config: { port: 0, allowLoopback: true, maxSessions: 1, maxDetachedSessions: 1 },
  });
  const { url } = await exit.listen();
  t.after(() => exit.close());
  const metricsUrl = url.replace('ws://', 'http://').replace('/v1/relay', '/metrics');

  const { session, socket } = await connectClient(url, exit.publicKey, { localAddress: '127.0.0.2' });
  t.after(() => socket.terminate());
  const received = await fetchThrough(session, origin.port);
  assert.ok(received > BODY_BYTES, 'headers and body came back');
  await refusedStream(session, '10.1.2.3', 80);
  await refusedStream(session, '127.0.0.1', deadPort);
  // One session at most: a second volunteer's HELLO is refused.
  await assert.rejects(connectClient(url, exit.publicKey, { localAddress: '127.0.0.3' }));
  // Bytes both ways are added when a stream ends, a moment after the client has read its last byte.
  await waitFor(() => exit.snapshot().streamsOpen === 0, 'the stream to end at the exit', { timeoutMs: 5_000 });

  const text = await scrapeFrom(metricsUrl, '127.0.0.4');
  const families = parsePrometheusText(text);
  for (const family of families.values()) {
    if (!family.name.startsWith('ferry_exit_')) continue;
    assert.ok(family.help.length > 0, `${family.name} has HELP text`);
    assert.match(family.type, /^(counter|gauge)$/, family.name);
  }
  assert.equal(sampleValue(families, 'ferry_exit_sessions_open'), 1);
  assert.equal(sampleValue(families, 'ferry_exit_sessions_total'), 1);
  assert.equal(sampleValue(families, 'ferry_exit_sessions_refused_full_total'), 1);
  assert.equal(sampleValue(families, 'ferry_exit_streams_total'), 1);
  assert.equal(sampleValue(families, 'ferry_exit_streams_refused_total', { reason: 'not_allowed' }), 1);
  assert.equal(sampleValue(families, 'ferry_exit_streams_refused_total', { reason: 'connection_refused' }), 1);
  assert.equal(sampleValue(families, 'ferry_exit_streams_refused_total', { reason: 'timed_out' }), 0);
  assert.equal(sampleValue(families, 'ferry_exit_bytes_to_destinations_total'), exit.snapshot().bytesToDestinations);
  assert.ok((sampleValue(families, 'ferry_exit_bytes_to_destinations_total') ?? 0) > 0, 'the request went up');
  assert.equal(sampleValue(families, 'ferry_exit_bytes_from_destinations_total'), received, 'every byte that came down');
  assert.equal(sampleValue(families, 'ferry_exit_destination_read_bytes_total'), received);
  assert.equal(sampleValue(families, 'ferry_exit_destinations_paused'), 0);
  assert.equal(sampleValue(families, 'ferry_exit_sessions_paused'), 0);
  assert.equal(sampleValue(families, 'ferry_exit_outbound_shared_pool_full'), 0);
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) assert.ok(families.has(name), name);
  for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) assert.ok(!text.includes(address), `/metrics names ${address}`);
  session.close();
});

test("each exit counts in its own registry, never in prom-client's global one", async (t) => {
  const origin = await startOrigin();
  t.after(() => new Promise((resolve) => origin.server.close(resolve)));
  const busy = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true } });
  const idle = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true } });
  const busyUrl = (await busy.listen()).url;
  const idleUrl = (await idle.listen()).url;
  t.after(async () => {
    await busy.close();
    await idle.close();
  });
  const { session, socket } = await connectClient(busyUrl, busy.publicKey);
  t.after(() => socket.terminate());
  await fetchThrough(session, origin.port);
  await waitFor(() => busy.snapshot().streamsOpen === 0, 'the stream to end at the exit', { timeoutMs: 5_000 });
  const scrape = async (url: string) => parsePrometheusText(await scrapeFrom(url.replace('ws://', 'http://').replace('/v1/relay', '/metrics'), '127.0.0.1'));
  assert.equal(sampleValue(await scrape(busyUrl), 'ferry_exit_streams_total'), 1);
  assert.equal(sampleValue(await scrape(busyUrl), 'ferry_exit_streams_total'), 1, 'a second scrape shows the same total, not twice it');
  assert.equal(sampleValue(await scrape(idleUrl), 'ferry_exit_streams_total'), 0);
  assert.doesNotMatch(await register.metrics(), /ferry_/);
  session.close();
});
