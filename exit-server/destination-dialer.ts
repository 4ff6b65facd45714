/**
 * @module exit-server/destination-dialer
 * Resolves a stream's host (the exit resolves names, so clients leak no DNS), applies the egress policy to every
 * resolved address, and connects to an allowed one: to that exact address, never to the name again.
 *
 * Reading: every destination socket reads through the dialer's one buffer (net `onread`), and each read is handed on
 * as a view of that buffer, valid during the call (the stream seals what it can send at once from it and copies the
 * rest). So a read is at most DESTINATION_READ_BYTES, every byte read passes through the
 * caller's handler before the next read of any socket, and pause() stops reading at once: a paused socket does not
 * read ahead into a buffer of its own (a 'data' socket would, up to 64 KiB past its high-water mark), which would let
 * a session with many streams hold more than its budget (outbound-budget.ts).
 */
import { lookup } from 'node:dns/promises';
import { connect, isIP, type Socket } from 'node:net';
import { StreamErrorCode } from '../protocol/index.ts';
import type { EgressPolicy } from './egress-policy.ts';
import { DESTINATION_READ_BYTES } from './outbound-budget.ts';

/** Why the exit could not connect; `streamCode` goes back to the client in OPEN_FAIL (SOCKS numbering). */
export class DestinationError extends Error {
  override name = 'DestinationError';
  constructor(
    readonly streamCode: StreamErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const SYSTEM_ERROR_CODES: Record<string, StreamErrorCode> = {
  ECONNREFUSED: StreamErrorCode.CONNECTION_REFUSED,
  ENOTFOUND: StreamErrorCode.HOST_UNREACHABLE,
  EAI_AGAIN: StreamErrorCode.HOST_UNREACHABLE,
  EAI_NONAME: StreamErrorCode.HOST_UNREACHABLE,
  EHOSTUNREACH: StreamErrorCode.HOST_UNREACHABLE,
  ENETUNREACH: StreamErrorCode.NETWORK_UNREACHABLE,
  ETIMEDOUT: StreamErrorCode.TIMED_OUT,
  ECONNRESET: StreamErrorCode.GENERAL_FAILURE,
};

function fromSystemError(error: unknown, what: string): DestinationError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  return new DestinationError(SYSTEM_ERROR_CODES[code] ?? StreamErrorCode.GENERAL_FAILURE, `${what}: ${code || String(error)}`);
}

export interface DestinationDialerOptions {
  policy: EgressPolicy;
  connectTimeoutMs: number;
}

/** Receives one read from a destination: a view of the shared read buffer, valid only during the call. */
export type DestinationBytesHandler = (bytes: Uint8Array) => void;

export class DestinationDialer {
  /** Every destination socket reads into this, one read at a time; the handler gets a view of it. */
  private readonly readBuffer = new Uint8Array(DESTINATION_READ_BYTES);

  constructor(private readonly options: DestinationDialerOptions) {}

  /**
   * Connects to host:port, or throws DestinationError. The signal aborts a connect in progress. The socket comes back
   * paused: what it reads goes to `onBytes` (never to 'data' events) once the caller resumes it.
   */
  async dial(host: string, port: number, signal: AbortSignal, onBytes: DestinationBytesHandler): Promise<Socket> {
    const portDecision = this.options.policy.checkPort(port);
    if (!portDecision.allowed) throw new DestinationError(StreamErrorCode.NOT_ALLOWED, portDecision.reason);
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.options.connectTimeoutMs)]);
    const addresses = await this.resolve(host, deadline);
    const refusals: string[] = [];
    let lastError: DestinationError | undefined;
    for (const address of addresses) {
      const decision = this.options.policy.checkAddress(address);
      if (!decision.allowed) {
        refusals.push(decision.reason);
        continue;
      }
      try {
        return await this.connectTo(address, port, deadline, onBytes);
      } catch (error) {
        lastError = error instanceof DestinationError ? error : fromSystemError(error, `connecting to ${host}:${port}`);
        if (deadline.aborted) break;
      }
    }
    if (lastError) throw lastError;
    throw new DestinationError(StreamErrorCode.NOT_ALLOWED, refusals[0] ?? `${host} has no address this exit may connect to`);
  }

  private async resolve(host: string, signal: AbortSignal): Promise<string[]> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    if (isIP(bare)) return [bare];
    if (bare.toLowerCase() === 'localhost') return ['127.0.0.1', '::1'];
    try {
      const results = await Promise.race([
        lookup(bare, { all: true, verbatim: true }),
        new Promise<never>((_, reject) => {
          if (signal.aborted) reject(new DestinationError(StreamErrorCode.TIMED_OUT, `resolving ${bare} timed out`));
          signal.addEventListener('abort', () => reject(new DestinationError(StreamErrorCode.TIMED_OUT, `resolving ${bare} timed out`)), { once: true });
        }),
      ]);
      if (results.length === 0) throw new DestinationError(StreamErrorCode.HOST_UNREACHABLE, `${bare} has no addresses`);
      return results.map((result) => result.address);
    } catch (error) {
      if (error instanceof DestinationError) throw error;
      throw fromSystemError(error, `resolving ${bare}`);
    }
  }

  private connectTo(address: string, port: number, signal: AbortSignal, onBytes: DestinationBytesHandler): Promise<Socket> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new DestinationError(StreamErrorCode.TIMED_OUT, `connecting to ${address}:${port} timed out`));
        return;
      }
      const socket = connect({
        host: address,
        port,
        onread: {
          buffer: this.readBuffer,
          callback: (bytesRead: number, buffer: Uint8Array): boolean => {
            // No copy here: the stream seals what it can send at once straight from this buffer, copies the rest.
            onBytes(buffer.subarray(0, bytesRead));
            return true;
          },
        },
      });
      // Paused before it connects, so it reads nothing until the caller is ready to count what it reads.
      socket.pause();
      const onAbort = (): void => {
        socket.destroy();
        reject(new DestinationError(StreamErrorCode.TIMED_OUT, `connecting to ${address}:${port} timed out`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(fromSystemError(error, `connecting to ${address}:${port}`));
      });
    });
  }
}
