/**
 * @module native-helper/rendezvous-carrier
 * The helper's carrier for every rendezvous channel (protocol/rendezvous.ts), on node:http and node:https, because
 * only here can the TLS connection go to one name and the HTTP Host name another: that is domain fronting.
 *
 *   direct   connect to the broker's host, TLS name = Host = the broker's
 *   fronted  connect to `front`, TLS name (SNI) = the front's, Host = the broker's: a CDN routes it by Host
 *   cache    connect to the cache's host, GET with the envelope in the path; the reply is an HTML page
 *
 * `trustedCaPem` adds certificate authorities to Node's own (a test network's, or an operator's private CDN); the
 * system's roots stay trusted.
 */
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { readBoundedStream } from '../protocol/adapters/bounded-stream.ts';
import { ChannelError, type RendezvousCarrier, type RendezvousChannel } from '../protocol/rendezvous.ts';
import { MAX_RENDEZVOUS_REPLY_BYTES, readRendezvousReply } from '../protocol/rendezvous-fetch.ts';
import { BrokerRoute } from '../protocol/signaling.ts';

export interface NodeRendezvousCarrierOptions {
  /** PEM certificates to trust besides Node's own roots. */
  trustedCaPem?: string | undefined;
}

/** Where one request goes: the TCP/TLS peer, and what the HTTP request says. */
interface RequestPlan {
  secure: boolean;
  connectHost: string;
  connectPort: number;
  /** The TLS server name (SNI), absent for an IP address (SNI carries names only). */
  serverName: string | undefined;
  hostHeader: string;
  path: string;
  method: 'GET' | 'POST';
}

/** How a channel's request is addressed. Exported for tests: the fronted plan is the whole trick. */
export function planRequest(channel: RendezvousChannel, envelope: string): RequestPlan {
  const url = new URL(channel.url);
  const secure = url.protocol === 'https:';
  const base = url.pathname.replace(/\/+$/, '');
  const path = channel.kind === 'cache' ? `${base}${BrokerRoute.RENDEZVOUS}/${envelope}` : `${base}${BrokerRoute.RENDEZVOUS}`;
  const method = channel.kind === 'cache' ? 'GET' : 'POST';
  let connectHost = url.hostname;
  let connectPort = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  if (channel.kind === 'fronted' && channel.front !== undefined) {
    const [frontHost = '', frontPort] = channel.front.split(':');
    connectHost = frontHost;
    connectPort = frontPort === undefined ? 443 : Number(frontPort);
  }
  const bareHost = connectHost.replace(/^\[|\]$/g, '');
  return { secure, connectHost: bareHost, connectPort, serverName: isIP(bareHost) === 0 ? bareHost : undefined, hostHeader: url.host, path, method };
}

export function nodeRendezvousCarrier(options: NodeRendezvousCarrierOptions = {}): RendezvousCarrier {
  const ca = options.trustedCaPem === undefined ? undefined : [...rootCertificates, options.trustedCaPem];
  return (channel, envelope, signal) =>
    new Promise<string>((resolve, reject) => {
      const plan = planRequest(channel, envelope);
      const body = plan.method === 'POST' ? Buffer.from(envelope, 'utf8') : undefined;
      const headers: Record<string, string> = { Host: plan.hostHeader, Accept: '*/*' };
      if (body !== undefined) {
        headers['Content-Type'] = 'text/plain';
        headers['Content-Length'] = String(body.length);
      }
      const common = { host: plan.connectHost, port: plan.connectPort, path: plan.path, method: plan.method, headers, signal, agent: false as const };
      const onResponse = (response: IncomingMessage): void => {
        readBoundedStream(
          response,
          MAX_RENDEZVOUS_REPLY_BYTES,
          () => new ChannelError('BAD_REPLY', `the reply is larger than ${MAX_RENDEZVOUS_REPLY_BYTES} bytes`),
        )
          .then((body) => readRendezvousReply(channel.kind, response.statusCode ?? 0, async () => body.toString('utf8')))
          .then(resolve, reject);
      };
      let request: ClientRequest;
      try {
        request = plan.secure
          ? httpsRequest(
              { ...common, ...(plan.serverName === undefined ? {} : { servername: plan.serverName }), ...(ca === undefined ? {} : { ca }) },
              onResponse,
            )
          : httpRequest(common, onResponse);
      } catch (error) {
        reject(new ChannelError('UNREACHABLE', error instanceof Error ? error.message : String(error)));
        return;
      }
      request.on('error', (error: NodeJS.ErrnoException) => reject(describeRequestError(error, plan)));
      request.end(body);
    });
}

/** A request error as a ChannelError: TLS problems apart (a front whose certificate does not match is a setup error). */
function describeRequestError(error: NodeJS.ErrnoException, plan: RequestPlan): Error {
  if (error.name === 'AbortError') return error;
  const where = `${plan.connectHost}:${plan.connectPort}`;
  const code = error.code ?? '';
  if (code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'EPROTO')
    return new ChannelError('TLS_FAILED', `TLS with ${where} failed: ${error.message}`);
  return new ChannelError('UNREACHABLE', `cannot reach ${where}: ${error.message}`);
}
