/**
 * @module tunnel-dialer
 * The one seam between the helper's local proxies (SOCKS5, HTTP CONNECT) and the tunnel session that carries streams
 * to the exit. The proxies only ever call `dial`; the session implements it.
 */
import type { Duplex } from 'node:stream';

/** Where a proxied stream should go. `host` is a domain name (passed on unresolved: the exit resolves it, so no DNS
 * leaks on the client), an IPv4 literal, or an IPv6 literal without brackets. */
export interface DialTarget {
  host: string;
  port: number;
}

/** Opens one proxied TCP stream through the tunnel. Resolves once the exit has connected to the target. */
export interface TunnelDialer {
  /**
   * @param signal aborted when the local client went away or the proxy's dial timeout passed; the dialer should then
   *   give up and reject (any stream it still resolves with is destroyed by the caller).
   * @returns a stream whose readable side is bytes from the target and whose writable side goes to the target.
   *   `end()` on it half-closes toward the target; it ends when the target half-closes.
   */
  dial(target: DialTarget, signal: AbortSignal): Promise<Duplex>;
}

/** SOCKS5 reply numbering (RFC 1928 §6), shared by every proxy front end. */
export const SOCKS_REPLY = {
  succeeded: 0,
  generalFailure: 1,
  notAllowedByRuleset: 2,
  networkUnreachable: 3,
  hostUnreachable: 4,
  connectionRefused: 5,
  ttlExpired: 6,
  commandNotSupported: 7,
  addressTypeNotSupported: 8,
} as const;

/** The failure reasons a dial may report, in SOCKS5 numbering. 6 (TTL expired) is used for time-outs. */
export type DialReplyCode = 1 | 2 | 3 | 4 | 5 | 6;

/** Why a dial failed; `replyCode` uses SOCKS5 reply numbering (RFC 1928 §6): 1 general failure, 2 not allowed by
 * ruleset, 3 network unreachable, 4 host unreachable, 5 connection refused, 6 TTL expired (use for time-outs).
 * `code` is a stable string for logs and for the HTTP proxy's error body (e.g. 'ECONNREFUSED', 'EXIT_POLICY'). */
export class DialError extends Error {
  override readonly name = 'DialError';
  constructor(
    readonly replyCode: DialReplyCode,
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Turns whatever a dialer rejected with into a DialError, so the proxies always have a reply code to send. */
export function toDialError(error: unknown): DialError {
  if (error instanceof DialError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new DialError(SOCKS_REPLY.generalFailure, `the tunnel could not open the stream: ${message}`, 'DIAL_FAILED');
}
