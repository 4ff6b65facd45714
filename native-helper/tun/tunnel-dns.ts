/**
 * @module tun/tunnel-dns
 * The helper's side of DNS through the tunnel: each query the system stack catches (UDP to port 53, whatever server
 * it was sent to) goes to the exit's resolver on a tunnel stream (protocol/dns-message.ts) and its answer comes back
 * the same way. One stream per query: a query is small and rare next to the traffic it names, and a stream that
 * fails takes no other query with it. Bounded in time and size.
 */
import { EXIT_RESOLVER_HOST, EXIT_RESOLVER_PORT, frameDnsMessage, MAX_DNS_MESSAGE_BYTES } from '../../protocol/dns-message.ts';
import type { TunnelDialer } from '../tunnel-dialer.ts';
import type { DnsAnswerer } from './system-stack.ts';

/** Longest wait for one answer (ms); the application's resolver asks again after its own timeout. */
export const TUNNEL_DNS_TIMEOUT_MS = 5_000;

export class TunnelDnsError extends Error {
  override readonly name = 'TunnelDnsError';
  readonly code = 'TUNNEL_DNS_FAILED';
}

export function tunnelDnsAnswerer(dialer: TunnelDialer, timeoutMs = TUNNEL_DNS_TIMEOUT_MS): DnsAnswerer {
  return async (query) => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new TunnelDnsError(`no answer from the exit's resolver within ${timeoutMs} ms`)), timeoutMs);
    try {
      const stream = await dialer.dial({ host: EXIT_RESOLVER_HOST, port: EXIT_RESOLVER_PORT }, abort.signal);
      return await new Promise<Uint8Array>((resolve, reject) => {
        let received = Buffer.alloc(0);
        const fail = (error: Error): void => {
          stream.destroy();
          reject(error);
        };
        abort.signal.addEventListener('abort', () => fail(abort.signal.reason as Error), { once: true });
        stream.on('data', (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          if (received.length < 2) return;
          const length = received.readUInt16BE(0);
          if (length > MAX_DNS_MESSAGE_BYTES) return fail(new TunnelDnsError('an oversized answer'));
          if (received.length < 2 + length) return;
          stream.destroy();
          resolve(new Uint8Array(received.subarray(2, 2 + length)));
        });
        stream.once('error', (error: Error) => fail(new TunnelDnsError(`the resolver stream failed: ${error.message}`)));
        stream.once('end', () => fail(new TunnelDnsError('the exit closed the resolver stream without an answer')));
        stream.end(frameDnsMessage(query));
      });
    } finally {
      clearTimeout(timer);
    }
  };
}
