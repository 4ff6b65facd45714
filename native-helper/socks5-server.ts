/**
 * @module socks5-server
 * A SOCKS5 (RFC 1928) server on 127.0.0.1 that hands each CONNECT to the tunnel. NO AUTH only (it listens on
 * loopback); CONNECT only; IPv4, IPv6 and domain names, the latter passed to the tunnel unresolved (remote DNS).
 */
import net from 'node:net';
import type { Socks5ServerLimits } from './config.ts';
import { verifySocks5Limits } from './config.ts';
import type { DialedStream } from './dial-with-timeout.ts';
import { dialWithTimeout } from './dial-with-timeout.ts';
import { listenOnLoopback } from './listen.ts';
import type { Socks5HandshakeEvent } from './socks5-handshake.ts';
import { SOCKS_METHOD_NO_AUTH, Socks5HandshakeError, Socks5HandshakeParser, socks5MethodSelection, socks5Reply } from './socks5-handshake.ts';
import { spliceStreams } from './stream-splice.ts';
import type { DialTarget, TunnelDialer } from './tunnel-dialer.ts';
import { SOCKS_REPLY, toDialError } from './tunnel-dialer.ts';

/** Something worth a log line that does not stop the server (a bad client, a failed dial). */
export interface ProxyNotice {
  code: string;
  message: string;
}

export interface Socks5ServerOptions {
  dialer: TunnelDialer;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  limits?: Partial<Socks5ServerLimits>;
  /** Called for refused handshakes and failed dials; never for the normal life of a connection. */
  onNotice?: (notice: ProxyNotice) => void;
}

export class Socks5Server {
  private readonly connections = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    private readonly dialer: TunnelDialer,
    private readonly limits: Socks5ServerLimits,
    private readonly notify: (notice: ProxyNotice) => void,
  ) {}

  /** Validates the limits, then listens on 127.0.0.1. */
  static async start(options: Socks5ServerOptions): Promise<Socks5Server> {
    const limits = verifySocks5Limits(options.limits);
    // allowHalfOpen: a client's FIN must only end its direction of the stream (half-close), not ours.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false });
    const socks = new Socks5Server(server, options.dialer, limits, options.onNotice ?? (() => {}));
    server.on('connection', (socket) => socks.onConnection(socket));
    await listenOnLoopback(server, options.port ?? 0, 'SOCKS5');
    return socks;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Connections currently handshaking, dialing or piping. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops listening and destroys every open connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.connections) socket.destroy();
    await closed;
  }

  private onConnection(socket: net.Socket): void {
    socket.on('error', () => {}); // reported through 'close'; an unhandled 'error' would crash the helper
    if (this.connections.size >= this.limits.maxConcurrentConnections) {
      this.notify({ code: 'SOCKS_TOO_MANY_CONNECTIONS', message: `refused a connection: ${this.connections.size} already open` });
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
    new Socks5Connection(socket, this.dialer, this.limits, this.notify).begin();
  }
}

/** One client connection from accept to close: handshake, dial, then splice. */
class Socks5Connection {
  private readonly parser: Socks5HandshakeParser;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private readonly onData = (chunk: Buffer): void => this.onHandshakeBytes(chunk);

  constructor(
    private readonly socket: net.Socket,
    private readonly dialer: TunnelDialer,
    private readonly limits: Socks5ServerLimits,
    private readonly notify: (notice: ProxyNotice) => void,
  ) {
    this.parser = new Socks5HandshakeParser(limits.maxGreetingBytes);
  }

  begin(): void {
    this.handshakeTimer = setTimeout(() => {
      this.notify({
        code: 'SOCKS_HANDSHAKE_TIMEOUT',
        message: `closed a client that did not finish its handshake within ${this.limits.handshakeTimeoutMs} ms`,
      });
      this.socket.destroy();
    }, this.limits.handshakeTimeoutMs);
    this.socket.once('close', () => this.clearHandshakeTimer());
    this.socket.on('data', this.onData);
    // A FIN before the request is complete: nothing more can come, so give up on this client.
    this.socket.once('end', () => {
      if (!this.parser.finished) this.socket.destroy();
    });
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  private onHandshakeBytes(chunk: Buffer): void {
    let events: Socks5HandshakeEvent[];
    try {
      events = this.parser.push(chunk);
    } catch (error) {
      this.refuse(error);
      return;
    }
    for (const event of events) {
      if (event.kind === 'greeting') {
        this.socket.write(socks5MethodSelection(SOCKS_METHOD_NO_AUTH));
      } else {
        this.socket.off('data', this.onData);
        this.clearHandshakeTimer();
        void this.connect(event.target, event.earlyData);
      }
    }
  }

  private refuse(error: unknown): void {
    this.clearHandshakeTimer();
    this.socket.off('data', this.onData);
    if (error instanceof Socks5HandshakeError) {
      this.notify({ code: error.code, message: `refused a SOCKS5 client: ${error.message}` });
      if (error.completedBefore.some((event) => event.kind === 'greeting')) this.socket.write(socks5MethodSelection(SOCKS_METHOD_NO_AUTH));
      if (error.reply) this.socket.end(error.reply);
      else this.socket.end();
    } else {
      this.notify({ code: 'SOCKS_INTERNAL', message: `SOCKS5 handshake failed: ${String(error)}` });
      this.socket.end(socks5Reply(SOCKS_REPLY.generalFailure));
    }
    // end() flushes the reply; do not wait for the client's FIN to free the slot.
    this.socket.once('finish', () => this.socket.destroy());
  }

  private async connect(target: DialTarget, earlyData: Uint8Array): Promise<void> {
    let dialed: DialedStream;
    try {
      dialed = await dialWithTimeout(this.dialer, target, this.limits.dialTimeoutMs, this.socket);
    } catch (error) {
      const dialError = toDialError(error);
      if (!this.socket.destroyed) {
        this.notify({ code: dialError.code, message: `CONNECT ${target.host}:${target.port} failed: ${dialError.message}` });
        this.socket.end(socks5Reply(dialError.replyCode));
        this.socket.once('finish', () => this.socket.destroy());
      }
      return;
    }
    this.socket.write(socks5Reply(SOCKS_REPLY.succeeded));
    if (earlyData.length > 0) dialed.tunnel.write(earlyData);
    if (dialed.heldData.length > 0) dialed.tunnel.write(dialed.heldData);
    spliceStreams(this.socket, dialed.tunnel, () => {});
  }
}
