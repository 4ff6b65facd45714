/**
 * @module relay-worker/node-metrics
 * `ferry volunteer --metrics-port`: the volunteer's numbers as Prometheus text on GET /metrics, through prom-client,
 * with the process metrics operators expect. Read from the worker's status once per scrape. Counts only: no client
 * address, no exit, no pairing token.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { processMetricsRegistry } from '../protocol/adapters/process-metrics.ts';
import type { RelayStatus } from '../protocol/relay-status.ts';

export interface VolunteerMetricsOptions {
  host: string;
  port: number;
  /** The worker's status now; called once per scrape. */
  status: () => RelayStatus;
  /** Limits in force, shown as gauges. */
  maxClients: number;
  maxBytesPerSecond: number;
}

export interface VolunteerMetricsServer {
  url: string;
  close(): Promise<void>;
}

export async function startVolunteerMetricsServer(options: VolunteerMetricsOptions): Promise<VolunteerMetricsServer> {
  const own = new Registry();
  const gauge = (name: string, help: string): Gauge => new Gauge({ name, help, registers: [own] });
  const clients = gauge('ferry_volunteer_clients', 'People being helped right now (data channel open).');
  const brokerConnected = gauge('ferry_volunteer_broker_connected', '1 while the broker connection is up (waiting or relaying), else 0.');
  gauge('ferry_volunteer_max_clients', 'Most people helped at once (--max-clients).').set(options.maxClients);
  gauge('ferry_volunteer_rate_limit_bytes_per_second', 'The bandwidth cap, both directions together (--max-mbps); 0 is none.').set(options.maxBytesPerSecond);
  const clientsTotal = new Counter({ name: 'ferry_volunteer_clients_total', help: 'People helped since start.', registers: [own] });
  const relayed = new Counter({
    name: 'ferry_volunteer_relayed_bytes_total',
    help: 'Bytes relayed since start, by direction: to_exit (from clients) and to_client (from exits).',
    labelNames: ['direction'],
    registers: [own],
  });
  const registry = Registry.merge([own, processMetricsRegistry()]);
  const render = async (): Promise<string> => {
    const status = options.status();
    clients.set(status.clientsNow);
    brokerConnected.set(status.state === 'waiting' || status.state === 'relaying' ? 1 : 0);
    // Totals counted by the worker: each scrape sets them afresh.
    clientsTotal.reset();
    clientsTotal.inc(status.clientsTotal);
    relayed.reset();
    relayed.inc({ direction: 'to_exit' }, status.bytesClientToExit);
    relayed.inc({ direction: 'to_client' }, status.bytesExitToClient);
    return registry.metrics();
  };
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    render().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${shownHost}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection would otherwise hold the process open for its idle timeout.
        server.closeAllConnections();
      }),
  };
}
