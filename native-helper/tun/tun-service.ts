/**
 * @module tun/tun-service
 * `ferry helper --tun-service --allow-user USER`: the small privileged part of whole-device mode. It runs as root
 * (installed once, as a systemd unit), listens on a Unix socket that only the allowed user may open (the socket file
 * is theirs, mode 0600), checks every connection's peer credentials again (SO_PEERCRED) and serves the few requests
 * of tun-service-protocol.ts by making the changes of device-network.ts. The packet work stays in the user's helper,
 * which attaches to the device the service created for it. At start the service undoes whatever a crashed run left.
 */
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { DeviceNetwork, DeviceNetworkError } from './device-network.ts';
import { peerUidOf } from './tun-device.ts';
import {
  MAX_TUN_SERVICE_REQUEST_BYTES,
  parseTunServiceRequest,
  type TunServiceReply,
  type TunServiceRequest,
  TunServiceRequestError,
} from './tun-service-protocol.ts';

/** Where the service listens unless told otherwise. */
export const DEFAULT_TUN_SERVICE_SOCKET = '/run/ferry/tun.sock';
/** Where it keeps what to restore. */
export const DEFAULT_TUN_STATE_DIR = '/run/ferry';
/** Most connections at once: one helper needs one; a few more for `status` from a shell. */
export const MAX_TUN_SERVICE_CONNECTIONS = 4;

export interface TunServiceOptions {
  socketPath: string;
  stateDir: string;
  /** The one user whose helper may ask. */
  allowedUid: number;
  log(line: string): void;
}

export class TunService {
  readonly #options: TunServiceOptions;
  readonly #network: DeviceNetwork;
  readonly #server: Server;
  /** Requests run one at a time: each changes the same routing state. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: TunServiceOptions) {
    this.#options = options;
    this.#network = new DeviceNetwork(options.stateDir);
    this.#server = createServer((socket) => this.#accept(socket));
    this.#server.maxConnections = MAX_TUN_SERVICE_CONNECTIONS;
  }

  /** Undoes what an earlier run left, then listens. */
  async start(): Promise<void> {
    await this.#network.cleanup();
    mkdirSync(dirname(this.#options.socketPath), { recursive: true, mode: 0o755 });
    rmSync(this.#options.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.socketPath, () => resolve());
    });
    // Only the allowed user (and root) can connect at all; the peer check below holds even if this is loosened.
    chownSync(this.#options.socketPath, this.#options.allowedUid, -1);
    chmodSync(this.#options.socketPath, 0o600);
  }

  /** Stops listening and undoes every change: the machine is as it was. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.#enqueue(() => this.#network.cleanup());
    rmSync(this.#options.socketPath, { force: true });
  }

  #accept(socket: Socket): void {
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    let peer: number | undefined;
    try {
      peer = peerUidOf(socket);
    } catch {
      peer = undefined;
    }
    if (peer !== this.#options.allowedUid) {
      this.#options.log(`refused a connection from uid ${peer ?? 'unknown'} (only uid ${this.#options.allowedUid} may ask)`);
      socket.end(`${JSON.stringify(refusal('FORBIDDEN', `this service serves uid ${this.#options.allowedUid} only`))}\n`);
      return;
    }
    let pending = '';
    socket.on('data', (text: string) => {
      pending += text;
      if (pending.length > MAX_TUN_SERVICE_REQUEST_BYTES && !pending.includes('\n')) {
        socket.end(`${JSON.stringify(refusal('TOO_LARGE', `a request is at most ${MAX_TUN_SERVICE_REQUEST_BYTES} bytes`))}\n`);
        return;
      }
      let end = pending.indexOf('\n');
      while (end !== -1) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        void this.#enqueue(() => this.#serve(line)).then((reply) => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
        });
        end = pending.indexOf('\n');
      }
    });
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #serve(line: string): Promise<TunServiceReply> {
    let request: TunServiceRequest;
    try {
      request = parseTunServiceRequest(line);
    } catch (error) {
      if (error instanceof TunServiceRequestError) return refusal(error.code, error.message);
      throw error;
    }
    try {
      switch (request.op) {
        case 'up':
          this.#options.log(`up for uid ${this.#options.allowedUid}, bypassing ${request.bypass.length} addresses`);
          return { ok: true, state: await this.#network.up(this.#options.allowedUid, request.bypass) };
        case 'bypass':
          if (!this.#network.state().up) return refusal('NOT_UP', 'whole-device mode is not up');
          return { ok: true, state: await this.#network.setBypass(request.add, request.remove) };
        case 'down':
          this.#options.log('down');
          await this.#network.cleanup();
          return { ok: true, state: this.#network.state() };
        case 'status':
          return { ok: true, state: this.#network.state() };
      }
    } catch (error) {
      const message = error instanceof DeviceNetworkError ? error.message : String(error);
      this.#options.log(`${request.op} failed: ${message}`);
      return refusal('FAILED', message);
    }
  }
}

function refusal(code: Extract<TunServiceReply, { ok: false }>['code'], message: string): TunServiceReply {
  return { ok: false, code, message };
}
