/**
 * @module bench/client-load
 * Censored clients asking brokers for volunteers: `clients` POSTs of an offer to /v1/client, at most `concurrency`
 * in flight, each from its own source address (so the broker's per-address offer limit applies as to real clients,
 * not raised) and on its own connection (node:http, no keep-alive: a real client asks once per path). Latency is from
 * the request's start to the whole answer; anything but 200 is a refusal, counted by status, and also counted as a
 * refusal while capacity existed when the volunteers had a free slot at that moment.
 */
import { request } from 'node:http';
import { sampleOfferSdp } from '../harness/sample-sdp.ts';
import type { ClientOfferRequest } from '../protocol/signaling.ts';
import type { SourceAddresses } from './source-addresses.ts';

/** Longest one client request may take before it counts as failed (ms): the broker answers within 5 s. */
const CLIENT_REQUEST_TIMEOUT_MS = 15_000;

export interface ClientLoadOptions {
  /** http://HOST:PORT of each broker; client i asks brokerUrls[i % length]. */
  brokerUrls: readonly string[];
  exitId: string;
  clients: number;
  concurrency: number;
  addresses: SourceAddresses;
  /** Free volunteer slots right now (the load generator's own count of its volunteers). */
  freeSlots: () => number;
}

export interface ClientLoadResult {
  clients: number;
  matches: number;
  /** Non-200 answers and failed requests, by status and code ("503 NO_VOLUNTEERS", "error ECONNRESET"...). */
  refusals: Map<string, number>;
  refusalsWithCapacity: number;
  /** The fewest free volunteer slots seen (after each client's answer): how close the run came to using them all. */
  fewestFreeSlots: number;
  /** Latency of each 200 (ms). */
  latenciesMs: number[];
  elapsedMs: number;
}

/**
 * One POST /v1/client from `localAddress`; resolves with the status (0 for a failed request), the error code of a
 * refusal (the broker's body, or the socket's error) and the latency.
 */
function postOffer(brokerUrl: string, body: string, localAddress: string): Promise<{ status: number; error: string | undefined; ms: number }> {
  const started = performance.now();
  const url = new URL('/v1/client', brokerUrl);
  return new Promise((resolve) => {
    const done = (status: number, error: string | undefined): void => resolve({ status, error, ms: performance.now() - started });
    const outgoing = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        localAddress,
        agent: false,
        timeout: CLIENT_REQUEST_TIMEOUT_MS,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        // Only a refusal's body is kept, to read its error code; an answer's is counted and dropped.
        response.on('data', (chunk: Buffer) => {
          if (status !== 200) chunks.push(chunk);
        });
        response.once('end', () => done(status, status === 200 ? undefined : errorCodeOf(Buffer.concat(chunks).toString('utf8'))));
        response.once('error', (error: Error & { code?: string }) => done(0, error.code ?? error.message));
      },
    );
    outgoing.once('timeout', () => outgoing.destroy(new Error('timeout')));
    outgoing.once('error', (error: Error & { code?: string }) => done(0, error.code ?? error.message));
    outgoing.end(body);
  });
}

/** The `error.code` of a broker error body ({"error": {"code", "message"}}), or undefined. */
function errorCodeOf(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

export async function runClientLoad(options: ClientLoadOptions): Promise<ClientLoadResult> {
  const result: ClientLoadResult = {
    clients: options.clients,
    matches: 0,
    refusals: new Map(),
    refusalsWithCapacity: 0,
    fewestFreeSlots: options.freeSlots(),
    latenciesMs: [],
    elapsedMs: 0,
  };
  const started = performance.now();
  let next = 0;
  const runOne = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      if (index >= options.clients) return;
      const offerRequest: ClientOfferRequest = {
        offer: { type: 'offer', sdp: sampleOfferSdp(`c${index.toString(36)}`) },
        exitId: options.exitId,
        nat: 'unknown',
      };
      const reply = await postOffer(options.brokerUrls[index % options.brokerUrls.length] ?? '', JSON.stringify(offerRequest), options.addresses.take());
      const freeSlots = options.freeSlots();
      result.fewestFreeSlots = Math.min(result.fewestFreeSlots, freeSlots);
      if (reply.status === 200) {
        result.matches += 1;
        result.latenciesMs.push(reply.ms);
        continue;
      }
      const key = reply.status === 0 ? `error ${reply.error ?? ''}` : `${reply.status} ${reply.error ?? ''}`.trim();
      result.refusals.set(key, (result.refusals.get(key) ?? 0) + 1);
      if (freeSlots > 0) result.refusalsWithCapacity += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, runOne));
  result.elapsedMs = performance.now() - started;
  return result;
}

/** The `fraction` quantile (0..1) of `values`, nearest rank; NaN for none. */
export function quantile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] ?? Number.NaN;
}
