/**
 * @module http-connect-server
 * An HTTP CONNECT proxy on 127.0.0.1 for clients that do not speak SOCKS5. `CONNECT host:port` (or `[v6]:port`)
 * dials through the tunnel and, on success, answers 200 and splices the bytes; every other method gets 405.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpConnectLimits } from './config.ts';
import { verifyHttpConnectLimits } from './config.ts';
import type { DialedStream } from './dial-with-timeout.ts';
import { dialWithTimeout } from './dial-with-timeout.ts';
import { listenOnLoopback } from './listen.ts';
import type { ProxyNotice } from './socks5-server.ts';
import { spliceStreams } from './stream-splice.ts';
import type { DialError, DialTarget, TunnelDialer } from './tunnel-dialer.ts';
import { SOCKS_REPLY, toDialError } from './tunnel-dialer.ts';

export interface HttpConnectServerOptions {
  dialer: TunnelDialer;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  limits?: Partial<HttpConnectLimits>;
  onNotice?: (notice: ProxyNotice) => void;
}

/** Parses a CONNECT request target: `host:port` or `[ipv6]:port` (RFC 9110 §9.3.6 authority-form). */
export function parseConnectAuthority(authority: string): DialTarget | null {
  let host: string;
  let portText: string;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0 || authority[close + 1] !== ':') return null;
    host = authority.slice(1, close);
    portText = authority.slice(close + 2);
    if (!host.includes(':')) return null;
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon <= 0) return null;
    host = authority.slice(0, colon);
    portText = authority.slice(colon + 1);
    if (host.includes(':')) return null; // an IPv6 literal must be bracketed
  }
  if (!/^[\x21-\x7e]{1,255}$/.test(host) || /[[\]/@]/.test(host)) return null;
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65_535) return null;
  return { host, port };
}

/** Status for a failed dial: a time-out is 504 Gateway Timeout, anything else 502 Bad Gateway. */
export function httpStatusForDialError(error: DialError): 502 | 504 {
  return error.replyCode === SOCKS_REPLY.ttlExpired ? 504 : 502;
}

export class HttpConnectServer {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: http.Server,
    private readonly dialer: TunnelDialer,
    private readonly limits: HttpConnectLimits,
    private readonly notify: (notice: ProxyNotice) => void,
  ) {}

  static async start(options: HttpConnectServerOptions): Promise<HttpConnectServer> {
    const limits = verifyHttpConnectLimits(options.limits);
    const server = http.createServer({
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.headersTimeoutMs,
      // node checks both time-outs on this interval (default 30 s), which would stretch a short headersTimeoutMs.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    });
    server.maxConnections = limits.maxConcurrentConnections;
    const proxy = new HttpConnectServer(server, options.dialer, limits, options.onNotice ?? (() => {}));
    server.on('connection', (socket: Socket) => {
      proxy.sockets.add(socket);
      socket.once('close', () => proxy.sockets.delete(socket));
    });
    server.on('request', (req, res) => proxy.onPlainRequest(req, res));
    server.on('connect', (req: http.IncomingMessage, socket: Socket, head: Buffer) => void proxy.onConnect(req, socket, head));
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => proxy.onClientError(error, socket));
    await listenOnLoopback(server, options.port ?? 0, 'HTTP CONNECT');
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private onPlainRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    sendText(
      res,
      405,
      `${req.method ?? 'this method'} is not supported: this is a Ferry proxy and accepts only CONNECT (HTTPS tunnels). Point your client's HTTPS proxy here, or use the SOCKS5 port.`,
      { Allow: 'CONNECT' },
    );
  }

  private onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const status = tooLarge ? '431 Request Header Fields Too Large' : timedOut ? '408 Request Timeout' : '400 Bad Request';
    const body = tooLarge
      ? `request head is larger than ${this.limits.maxHeaderBytes} bytes\n`
      : timedOut
        ? 'request head took too long\n'
        : 'malformed HTTP request\n';
    socket.end(
      `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  private async onConnect(req: http.IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', () => {}); // reported through 'close'
    const target = parseConnectAuthority(req.url ?? '');
    if (!target) {
      this.notify({ code: 'HTTP_BAD_TARGET', message: `refused CONNECT to a malformed target ${JSON.stringify(req.url)}` });
      endWithStatus(socket, 400, 'Bad Request', 'the CONNECT target must be host:port or [ipv6]:port');
      return;
    }
    let dialed: DialedStream;
    try {
      dialed = await dialWithTimeout(this.dialer, target, this.limits.dialTimeoutMs, socket);
    } catch (error) {
      const dialError = toDialError(error);
      if (socket.destroyed) return;
      this.notify({ code: dialError.code, message: `CONNECT ${target.host}:${target.port} failed: ${dialError.message}` });
      const status = httpStatusForDialError(dialError);
      endWithStatus(socket, status, status === 504 ? 'Gateway Timeout' : 'Bad Gateway', `${dialError.code}: ${dialError.message}`);
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) dialed.tunnel.write(head);
    if (dialed.heldData.length > 0) dialed.tunnel.write(dialed.heldData);
    spliceStreams(socket, dialed.tunnel, () => {});
  }
}

function sendText(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  res.end(body);
}

/** Answers on a raw CONNECT socket (no ServerResponse exists for it) and closes it. */
function endWithStatus(socket: Socket, status: number, reason: string, text: string): void {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.once('finish', () => socket.destroy());
}
