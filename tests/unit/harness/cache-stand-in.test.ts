// The cache stand-in the rendezvous tests go through must behave as the issue's cache does, or those tests prove
// less than they say: it refuses POST, keeps a page (15 s unless shortened here), serves it re-chunked and re-indented,
// and turns the origin's server errors into 404.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CACHE_STAND_IN_MAX_AGE_MS, type StandIn, startCacheStandIn } from '../../../harness/cdn-stand-ins.ts';
import { makeTestCa, type TestCa } from '../../../harness/test-ca.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ferry-cache-stand-in-'));
const PAGE = `<html><body><pre>${'x'.repeat(300)}</pre></body></html>`;
let ca: TestCa;
let origin: Server;
let originHits: string[] = [];
const caches: StandIn[] = [];

before(async () => {
  ca = makeTestCa(scratch);
  origin = createServer((incoming, response) => {
    originHits.push(incoming.url ?? '');
    if (incoming.url === '/boom') response.writeHead(503).end('down');
    else response.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  for (const cache of caches) await cache.close();
  await new Promise((resolve) => origin.close(resolve));
  rmSync(scratch, { recursive: true, force: true });
});

async function startCache(maxAgeMs?: number): Promise<StandIn> {
  const { port } = origin.address() as AddressInfo;
  const cache = await startCacheStandIn({
    certificate: ca.issue(['localhost']),
    upstream: `http://127.0.0.1:${port}`,
    upstreamHost: `127.0.0.1:${port}`,
    ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
  });
  caches.push(cache);
  return cache;
}

/** One request through the cache: status, body, and how many pieces the body arrived in. */
function fetchThrough(cache: StandIn, method: string, path: string): Promise<{ status: number; body: string; chunked: boolean }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port: cache.port, method, path, servername: 'localhost', ca: ca.caPem }, (response) => {
      const pieces: Buffer[] = [];
      response.on('data', (piece: Buffer) => pieces.push(piece));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(pieces).toString(), chunked: response.headers['transfer-encoding'] === 'chunked' }),
      );
    });
    outgoing.on('error', reject);
    outgoing.end(method === 'POST' ? 'an offer' : undefined);
  });
}

test('POST is refused with 405; nothing reaches the origin', async () => {
  const cache = await startCache();
  originHits = [];
  assert.equal((await fetchThrough(cache, 'POST', '/v1/rendezvous')).status, 405);
  assert.deepEqual(originHits, []);
});

test('a page is kept (the second GET within 15 s never reaches the origin) and passed on re-chunked and re-indented', async () => {
  assert.equal(CACHE_STAND_IN_MAX_AGE_MS, 15_000);
  const cache = await startCache();
  originHits = [];
  const first = await fetchThrough(cache, 'GET', '/page-1');
  const second = await fetchThrough(cache, 'GET', '/page-1');
  assert.deepEqual(originHits, ['/page-1'], 'the origin saw one request');
  assert.equal(first.status, 200);
  assert.equal(second.body, first.body);
  assert.ok(first.chunked, 'chunked transfer encoding');
  assert.notEqual(first.body, PAGE, 'not passed through byte for byte');
  assert.equal(first.body.replace(/\s/g, ''), PAGE.replace(/\s/g, ''), 'the same page once whitespace is set aside');
});

test('a kept page expires after its age, and is fetched again', async () => {
  const cache = await startCache(200);
  originHits = [];
  await fetchThrough(cache, 'GET', '/page-2');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await fetchThrough(cache, 'GET', '/page-2');
  assert.deepEqual(originHits, ['/page-2', '/page-2']);
});

test("the origin's server error becomes the cache's 404, and is not kept", async () => {
  const cache = await startCache();
  originHits = [];
  const answer = await fetchThrough(cache, 'GET', '/boom');
  assert.equal(answer.status, 404);
  assert.doesNotMatch(answer.body, /down/);
  await fetchThrough(cache, 'GET', '/boom');
  assert.deepEqual(originHits, ['/boom', '/boom']);
});
