/**
 * @module pipe-server
 * The local "pipe": a WebSocket server on 127.0.0.1, path /pipe, that the extension's offscreen document connects to.
 * A connection is accepted only with (a) the current one-time token in `?token=` and (b) the extension's exact
 * Origin, so no web page and no other extension can drive the helper. Refusals are plain HTTP 403s with a reason;
 * nothing is upgraded. One pipe at a time: a new valid connection replaces (closes) the old one.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { PIPE_PATH, PipeCloseCode } from '../protocol/local-channel.ts';
import type { PipeServerLimits } from './config.ts';
import { HelperConfigError, verifyPipeServerLimits } from './config.ts';
import { LOOPBACK_HOST, listenOnLoopback } from './listen.ts';
import type { LocalPipe, PipeWarning } from './pipe-connection.ts';
import { WebSocketPipe } from './pipe-connection.ts';
import { PipeTokenBox } from './pipe-tokens.ts';

/** The extension's upgrade request is a few hundred bytes; anything near this is not our extension. */
export const PIPE_MAX_HEADER_BYTES = 8 * 1024;
/** A client must send its whole upgrade request within this many ms. */
export const PIPE_HEADERS_TIMEOUT_MS = 10_000;

export interface PipeServerOptions {
  /** The one Origin allowed to connect, e.g. `chrome-extension://<id>` (no trailing slash). */
  allowedOrigin: string;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  limits?: Partial<PipeServerLimits>;
  /** Refused connections and ignored control messages; for logs (stderr), never for control flow. */
  onWarning?: (warning: PipeWarning | PipeRefusal) => void;
}

export interface PipeRefusal {
  code: 'PIPE_REFUSED';
  status: number;
  message: string;
}

export class PipeServer {
  private readonly tokens = new PipeTokenBox();
  private readonly sockets = new Set<Socket>();
  private readonly openCallbacks: Array<(pipe: LocalPipe) => void> = [];
  private current: WebSocketPipe | null = null;

  private constructor(
    private readonly server: http.Server,
    private readonly wss: WebSocketServer,
    private readonly allowedOrigin: string,
    private readonly limits: PipeServerLimits,
    private readonly warn: (warning: PipeWarning | PipeRefusal) => void,
  ) {}

  static async start(options: PipeServerOptions): Promise<PipeServer> {
    const limits = verifyPipeServerLimits(options.limits);
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/.test(options.allowedOrigin)) {
      throw new HelperConfigError(`allowedOrigin must look like chrome-extension://<id> (no trailing slash), got ${JSON.stringify(options.allowedOrigin)}`);
    }
    const server = http.createServer({
      maxHeaderSize: PIPE_MAX_HEADER_BYTES,
      headersTimeout: PIPE_HEADERS_TIMEOUT_MS,
      requestTimeout: PIPE_HEADERS_TIMEOUT_MS,
    });
    const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxPipeMessageBytes, perMessageDeflate: false, clientTracking: false });
    const pipes = new PipeServer(server, wss, options.allowedOrigin, limits, options.onWarning ?? (() => {}));
    server.on('connection', (socket: Socket) => {
      pipes.sockets.add(socket);
      socket.once('close', () => pipes.sockets.delete(socket));
    });
    server.on('request', (_req, res: http.ServerResponse) => {
      res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end('this is the Ferry helper pipe: connect with a WebSocket\n');
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => pipes.onUpgrade(req, socket, head));
    await listenOnLoopback(server, options.port ?? 0, 'pipe');
    return pipes;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The address the extension connects to, without the token: `ws://127.0.0.1:PORT/pipe`. */
  get url(): string {
    return `ws://${LOOPBACK_HOST}:${this.port}${PIPE_PATH}`;
  }

  /** The open pipe, if any. */
  get currentPipe(): LocalPipe | null {
    return this.current;
  }

  /** Makes a new one-time token (32 random bytes, base64url); any earlier unused token stops working. */
  issueToken(): string {
    return this.tokens.issue();
  }

  /** Called for every accepted pipe, after any previous pipe was told to close. */
  onPipeOpen(callback: (pipe: LocalPipe) => void): void {
    this.openCallbacks.push(callback);
  }

  async close(): Promise<void> {
    this.current?.closeWithCode(PipeCloseCode.SERVER_CLOSING, 'the helper is shutting down');
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.wss.close();
    await closed;
  }

  private onUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => {});
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== PIPE_PATH) {
      this.refuse(socket, 404, 'Not Found', `no pipe at ${url.pathname}; the pipe is at ${PIPE_PATH}`);
      return;
    }
    const origin = req.headers.origin;
    if (origin !== this.allowedOrigin) {
      this.refuse(socket, 403, 'Forbidden', `origin ${origin === undefined ? '(none)' : JSON.stringify(origin)} is not the Ferry extension`);
      return;
    }
    const token = url.searchParams.get('token');
    if (!token || !this.tokens.consume(token)) {
      this.refuse(socket, 403, 'Forbidden', 'the pipe token is missing, wrong or already used; ask the helper for a new one');
      return;
    }
    let upgraded = false;
    // If the WebSocket handshake itself fails (bad headers), the token was not really used: give it back.
    socket.once('close', () => {
      if (!upgraded) this.tokens.restore(token);
    });
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      upgraded = true;
      const pipe = new WebSocketPipe(ws, socket, this.limits, this.warn);
      const previous = this.current;
      this.current = pipe;
      pipe.onClose(() => {
        if (this.current === pipe) this.current = null;
      });
      previous?.closeWithCode(PipeCloseCode.REPLACED, 'replaced by a newer pipe connection');
      for (const callback of this.openCallbacks) callback(pipe);
    });
  }

  private refuse(socket: Socket, status: number, statusText: string, reason: string): void {
    this.warn({ code: 'PIPE_REFUSED', status, message: `refused a pipe connection: ${reason}` });
    const body = `${reason}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.once('finish', () => socket.destroy());
  }
}
