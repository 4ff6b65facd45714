/**
 * @module broker
 * Wires the broker together on one node:http server: the HTTP routes (http-handler.ts) and the volunteers'
 * WebSocket endpoint /v1/volunteer (volunteer-hub.ts), sharing one store, one set of pending matches, one ranking of
 * volunteers by how they answer, one capacity signal and one set of counters.
 *
 * @example
 * // exitList: signed by the operator (`ferry exit-list sign`, or signExitList in protocol/exit-list.ts)
 * const broker = createBroker({ port: 0, exitList });
 * const { host, port } = await broker.listen();
 * // ... later
 * await broker.close();
 */

import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { BrokerRoute } from '../protocol/signaling.ts';
import { BrokerMesh } from './broker-mesh.ts';
import { CapacitySignal } from './capacity-signal.ts';
import type { BrokerConfig, BrokerLogEvent } from './config.ts';
import { verifyBrokerConfig } from './config.ts';
import { BrokerHttpHandler, pathOf } from './http-handler.ts';
import { Matchmaker } from './matchmaker.ts';
import { MemoryVolunteerStore } from './memory-store.ts';
import type { BrokerMetricsSnapshot } from './metrics.ts';
import { BrokerCounters, snapshotMetrics } from './metrics.ts';
import { networkKeyOf } from './network-key.ts';
import { OfferDesk } from './offer-desk.ts';
import { PendingMatches } from './pending-matches.ts';
import { RedisVolunteerStore } from './redis-store.ts';
import { VolunteerHub } from './volunteer-hub.ts';
import { VolunteerRanking } from './volunteer-ranking.ts';

/** How often node checks headers and request timeouts (ms); the slow-loris limits are enforced this precisely. */
/** How often an instance on Redis refreshes its alive key and sweeps dead instances' volunteers (ms). */
const REDIS_HEARTBEAT_MS = 1_000;
/** How long an instance's alive key outlives its last refresh: it counts as dead this long after a crash (ms). */
const REDIS_ALIVE_TTL_MS = 3_000;
/** Longest a Redis connection attempt may take (ms). */
const REDIS_CONNECT_TIMEOUT_MS = 5_000;
/** Retries of one Redis command across reconnects before it fails (and the request with it). */
const REDIS_RETRIES_PER_COMMAND = 2;

const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

export interface BrokerAddress {
  host: string;
  port: number;
}

export interface Broker {
  /** Starts listening on config.host:config.port; resolves with the bound address (port 0 becomes the real port). */
  listen(): Promise<BrokerAddress>;
  /** Stops accepting, lets waiting clients go (504), closes volunteer sockets. Idempotent. */
  close(): Promise<void>;
  /** Current gauges and counters, as /metrics shows them. */
  metrics(): Promise<BrokerMetricsSnapshot>;
  /** The validated configuration in force. */
  readonly config: Readonly<BrokerConfig>;
}

/** Builds a broker from `overrides` on top of DEFAULT_BROKER_CONFIG. Throws BrokerConfigError for a bad config. */
export function createBroker(overrides: Partial<BrokerConfig> = {}): Broker {
  const config = verifyBrokerConfig(overrides);
  const log = config.log ?? ((_event: BrokerLogEvent): void => {});
  const ownsStore = config.store === undefined;
  const brokerId = randomUUID();
  const redisLink = config.redisUrl === undefined || config.store !== undefined ? undefined : openRedisLink(config.redisUrl, log);
  const redisStore =
    redisLink === undefined
      ? undefined
      : new RedisVolunteerStore({
          redis: redisLink.commands,
          keyPrefix: config.redisKeyPrefix,
          ownerId: brokerId,
          maxReservedPerVolunteer: config.maxOffersPerVolunteerPending,
          heartbeatMs: REDIS_HEARTBEAT_MS,
          aliveTtlMs: REDIS_ALIVE_TTL_MS,
          onHeartbeatError: (error) => log({ level: 'error', message: `redis heartbeat failed: ${describe(error)}` }),
        });
  const store = config.store ?? redisStore ?? new MemoryVolunteerStore({ maxReservedPerVolunteer: config.maxOffersPerVolunteerPending });
  const networkOf = (address: string): string | undefined =>
    config.sameNetworkRule ? networkKeyOf(address, { exemptLoopback: !config.sameNetworkRuleOnLoopback }) : undefined;
  const counters = new BrokerCounters();
  const pendingMatches = new PendingMatches();
  const ranking = new VolunteerRanking({
    volunteerAnswerTimeoutMs: config.volunteerAnswerTimeoutMs,
    maxConsecutiveAnswerFailures: config.maxConsecutiveAnswerFailures,
  });
  const capacity = new CapacitySignal();
  const hub = new VolunteerHub({
    brokerId,
    networkOf,
    exitList: config.exitList,
    natProbeUrl: config.natProbeUrl,
    stunUrls: config.stunUrls,
    maxMessageBytes: config.maxBodyBytes,
    maxVolunteers: config.maxVolunteers,
    maxVolunteersPerAddress: config.maxVolunteersPerAddress,
    heartbeatMs: config.volunteerHeartbeatMs,
    helloTimeoutMs: config.volunteerHelloTimeoutMs,
    benchedAddressCooldownMs: config.benchedAddressCooldownMs,
    store,
    pendingMatches,
    ranking,
    capacity,
    counters,
    log,
  });
  const desk = new OfferDesk({ volunteerAnswerTimeoutMs: config.volunteerAnswerTimeoutMs, store, hub, pendingMatches, ranking, counters });
  const mesh =
    redisLink === undefined
      ? undefined
      : new BrokerMesh({
          brokerId,
          keyPrefix: config.redisKeyPrefix,
          redis: redisLink.commands,
          subscriber: redisLink.subscriber,
          desk,
          capacity,
          log: (message) => log({ level: 'warn', message }),
        });
  const matchmaker = new Matchmaker({
    brokerId,
    clientAnswerTimeoutMs: config.clientAnswerTimeoutMs,
    volunteerAnswerTimeoutMs: config.volunteerAnswerTimeoutMs,
    store,
    desk,
    remote: mesh,
    capacity,
    counters,
    log: (message) => log({ level: 'error', message }),
  });
  const metrics = async (): Promise<BrokerMetricsSnapshot> =>
    snapshotMetrics(counters, await store.counts(), httpHandler.clientsPending, matchmaker.clientsWaiting);
  const httpHandler = new BrokerHttpHandler({
    exitList: config.exitList,
    exits: config.exits,
    maxBodyBytes: config.maxBodyBytes,
    bodyReadTimeoutMs: config.bodyReadTimeoutMs,
    rejectedBodyDrainMs: config.rejectedBodyDrainMs,
    maxPendingClients: config.maxPendingClients,
    maxBodiesReading: config.maxBodiesReading,
    maxBodiesReadingPerAddress: config.maxBodiesReadingPerAddress,
    maxOffersPerAddressPerMinute: config.maxOffersPerAddressPerMinute,
    matchmaker,
    clientNetworkOf: networkOf,
    volunteerPools: () => store.pools(),
    counters,
    metrics,
    log,
    rendezvousKeyPair: config.rendezvousKeyPair,
  });

  const server: Server = createServer({
    headersTimeout: config.requestHeadersTimeoutMs,
    // Covers headers and body; the answer wait comes after the request is complete and has its own deadline.
    requestTimeout: config.requestHeadersTimeoutMs + config.bodyReadTimeoutMs,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
  });
  server.on('request', httpHandler.handle);
  server.on('upgrade', (request, socket, head) => {
    if (pathOf(request.url) !== BrokerRoute.VOLUNTEER) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    hub.handleUpgrade(request, socket, head);
  });
  server.on('clientError', (error: Error & { code?: string }, socket) => {
    // Malformed HTTP or a slow request: answer if we still can, never log the peer.
    const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
  });

  let closing: Promise<void> | undefined;
  return {
    config,
    metrics,
    listen: async () => {
      if (redisLink !== undefined) {
        try {
          await Promise.all([redisLink.commands.connect(), redisLink.subscriber.connect()]);
          await redisStore?.start();
          await mesh?.start();
        } catch (error) {
          redisLink.commands.disconnect();
          redisLink.subscriber.disconnect();
          throw new BrokerRedisError(`cannot use Redis at ${withoutPassword(config.redisUrl ?? '')}: ${describe(error)}; start Redis or fix --redis`);
        }
      }
      return await new Promise<BrokerAddress>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          resolve({ host: address.address, port: address.port });
        });
      });
    },
    close: () => {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        pendingMatches.expireAll();
        matchmaker.close();
        capacity.close();
        await hub.close();
        server.closeIdleConnections();
        // Requests still reading a body end at their bodyReadTimeoutMs; don't wait for them.
        server.closeAllConnections();
        await serverClosed;
        await mesh?.close();
        if (ownsStore) await store.close();
        await redisLink?.commands.quit().catch(() => {});
      })();
      return closing;
    },
  };
}

/** Two connections to the broker's Redis: one for commands and publishing, one in subscriber mode for the mesh. */
interface RedisLink {
  commands: Redis;
  subscriber: Redis;
}

function openRedisLink(url: string, log: (event: BrokerLogEvent) => void): RedisLink {
  const options = { lazyConnect: true, connectTimeout: REDIS_CONNECT_TIMEOUT_MS, maxRetriesPerRequest: REDIS_RETRIES_PER_COMMAND };
  const commands = new Redis(url, options);
  const subscriber = new Redis(url, options);
  // Without a listener ioredis prints every connection error; the URL may carry a password, so only the message goes out.
  for (const connection of [commands, subscriber]) connection.on('error', (error: Error) => log({ level: 'warn', message: `redis: ${error.message}` }));
  return { commands, subscriber };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The broker's Redis could not be reached or used at start-up. */
export class BrokerRedisError extends Error {
  override readonly name = 'BrokerRedisError';
  readonly code = 'BROKER_REDIS_UNAVAILABLE';
}

/** The URL as it may be shown: any password replaced. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}
