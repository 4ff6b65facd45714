/**
 * @module harness/cdn-stand-ins
 * What stands between a censored client and the broker on the public internet, played on this machine:
 *
 * - A front: a TLS server under one name (a CDN's edge) that routes each request by its Host header to an upstream,
 *   as a CDN does, and refuses a Host it does not serve. It records the TLS name (SNI) and the Host of each request.
 * - A cache: an HTTPS server in the manner of an AMP cache. It refuses POST, keeps each page for 15 s, re-chunks and
 *   re-indents the page it passes on, and turns upstream server errors into 404.
 *
 * Each keeps a log of what such a service would log (method, Host, path, status); tests look into it for leaks.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readBoundedStream } from '../protocol/adapters/bounded-stream.ts';
import type { IssuedCertificate } from './test-ca.ts';

/**
 * What would show that SDP passed through a front or a cache: its lines' markers. Each holds an "=", which base64url
 * (the envelopes' alphabet) never does, so a random envelope cannot match by chance (a bare "sdp" could: three letters
 * occur in 20 KiB of random base64url more often than not).
 */
export const SDP_MARKERS = /v=0|a=candidate|m=application|a=ice-ufrag|a=fingerprint/;

export interface StandInLogEntry {
  method: string;
  host: string;
  path: string;
  status: number;
  /** The TLS server name the client asked for (the front), '' when none. */
  serverName: string;
}

export interface StandIn {
  port: number;
  readonly log: readonly StandInLogEntry[];
  close(): Promise<void>;
}

/** Largest body either stand-in passes on (bytes). */
const MAX_BODY_BYTES = 256 * 1024;

function readBody(request: IncomingMessage): Promise<Buffer> {
  return readBoundedStream(request, MAX_BODY_BYTES, () => new Error(`a body over ${MAX_BODY_BYTES} bytes`));
}

/** Forwards one request to `upstream` (http://host:port) with its Host, and resolves with status and body. */
function forward(
  upstream: string,
  method: string,
  path: string,
  host: string,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const target = new URL(upstream);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method,
        path,
        headers: { Host: host, 'Content-Type': 'text/plain', 'Content-Length': String(body.length) },
        timeout: 20_000,
      },
      (response) => {
        void readBody(response).then((received) => {
          const headers: Record<string, string> = {};
          for (const name of ['content-type', 'cache-control']) {
            const value = response.headers[name];
            if (typeof value === 'string') headers[name] = value;
          }
          resolve({ status: response.statusCode ?? 502, headers, body: received });
        }, reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('upstream timed out')));
    request.on('error', reject);
    request.end(body);
  });
}

/** Where a stand-in listens: 127.0.0.1 and any free port unless told (a namespace's own address and 443). */
export interface ListenOn {
  address?: string;
  port?: number;
  /** Told of each request as it is logged (a stand-in in another process prints them). */
  onLog?(entry: StandInLogEntry): void;
}

function listen(server: Server, on: ListenOn): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(on.port ?? 0, on.address ?? '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function standIn(server: Server, port: number, log: StandInLogEntry[]): StandIn {
  return {
    port,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A front that passes requests whose Host is a key of `routes` to that upstream, and answers 421 to any other Host. */
export async function startFrontStandIn(options: { certificate: IssuedCertificate; routes: Readonly<Record<string, string>> } & ListenOn): Promise<StandIn> {
  const log: StandInLogEntry[] = [];
  const server = createHttpsServer({ key: options.certificate.keyPem, cert: options.certificate.certPem }, (request, response) => {
    void (async () => {
      const host = (request.headers.host ?? '').toLowerCase();
      const serverName = ((request.socket as TLSSocket).servername as string | false | undefined) || '';
      const entry: StandInLogEntry = { method: request.method ?? '', host, path: request.url ?? '', status: 0, serverName };
      log.push(entry);
      response.once('finish', () => options.onLog?.(entry));
      const upstream = options.routes[host];
      const body = await readBody(request);
      if (upstream === undefined) {
        entry.status = 421;
        response.writeHead(421, { 'Content-Type': 'text/plain' }).end(`this front serves no host ${host}\n`);
        return;
      }
      const answer = await forward(upstream, request.method ?? 'GET', request.url ?? '/', host, body);
      entry.status = answer.status;
      response.writeHead(answer.status, answer.headers).end(answer.body);
    })().catch((error: unknown) => send502(response, error));
  });
  return standIn(server, await listen(server, options), log);
}

/** How long the cache keeps a page (ms). */
export const CACHE_STAND_IN_MAX_AGE_MS = 15_000;

/**
 * A cache in front of `upstream`: GET only, pages kept `maxAgeMs` (CACHE_STAND_IN_MAX_AGE_MS unless a test shortens
 * it), re-chunked; 5xx becomes 404.
 */
export async function startCacheStandIn(
  options: { certificate: IssuedCertificate; upstream: string; upstreamHost: string; maxAgeMs?: number } & ListenOn,
): Promise<StandIn> {
  const maxAgeMs = options.maxAgeMs ?? CACHE_STAND_IN_MAX_AGE_MS;
  const log: StandInLogEntry[] = [];
  const kept = new Map<string, { status: number; body: Buffer; keptAt: number }>();
  const server = createHttpsServer({ key: options.certificate.keyPem, cert: options.certificate.certPem }, (request, response) => {
    void (async () => {
      const path = request.url ?? '/';
      const entry: StandInLogEntry = { method: request.method ?? '', host: request.headers.host ?? '', path, status: 0, serverName: '' };
      log.push(entry);
      response.once('finish', () => options.onLog?.(entry));
      if (request.method !== 'GET') {
        entry.status = 405;
        request.resume();
        response.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain' }).end('this cache takes GET only\n');
        return;
      }
      let page = kept.get(path);
      if (page === undefined || Date.now() - page.keptAt > maxAgeMs) {
        const answer = await forward(options.upstream, 'GET', path, options.upstreamHost, Buffer.alloc(0));
        // A cache hides the origin's errors behind its own page.
        page =
          answer.status >= 500
            ? { status: 404, body: Buffer.from('<html><body>Not found</body></html>\n'), keptAt: Date.now() }
            : { ...answer, keptAt: Date.now() };
        if (page.status === 200) kept.set(path, page);
      }
      entry.status = page.status;
      await sendRechunked(response, page.status, reindent(page.body.toString('utf8')));
    })().catch((error: unknown) => send502(response, error));
  });
  return standIn(server, await listen(server, options), log);
}

/** The page as a cache that re-serialises HTML might pass it on: lines broken again and indented. */
function reindent(page: string): string {
  return page
    .split('\n')
    .map((line) => `  ${line.replace(/(.{50})/g, '$1\r\n  ')}`)
    .join('\r\n');
}

/** Writes `text` in small pieces of varying size (chunked transfer encoding), as a proxy may. */
async function sendRechunked(response: ServerResponse, status: number, text: string): Promise<void> {
  response.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'public, max-age=15' });
  const bytes = Buffer.from(text, 'utf8');
  let at = 0;
  for (let piece = 0; at < bytes.length; piece++) {
    const size = 7 + ((piece * 131) % 400);
    response.write(bytes.subarray(at, at + size));
    at += size;
    await new Promise((resolve) => setImmediate(resolve));
  }
  response.end();
}

function send502(response: ServerResponse, error: unknown): void {
  if (!response.headersSent) response.writeHead(502, { 'Content-Type': 'text/plain' });
  response.end(`upstream failed: ${error instanceof Error ? error.message : String(error)}\n`);
}
