/**
 * @module bench/origin-pump
 * The far end of a relayed transfer, on loopback: a source that sends `bytesPerConnection` bytes to every connection
 * and then ends it (downloads), and a sink that reads every connection to its end and counts (uploads). Plain TCP,
 * so the exit and the plain relay carry exactly the same bytes between the same endpoints.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';

/** One write's worth: 64 KiB of random bytes, sent over and over. */
const CHUNK = randomBytes(64 * 1024);

export interface OriginPump {
  sourcePort: number;
  sinkPort: number;
  /** Bytes the sink has read so far, over all connections. */
  readonly sinkBytes: number;
  /** Resolves once `connections` sink connections (counted from the start) have ended. */
  sinkEnded(connections: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Writes `totalBytes` (copies of `chunk`, the last one cut short) into `socket` as fast as it takes them, waiting for
 * 'drain' whenever it is full, then calls `done`.
 */
export function pumpBytes(socket: Socket, chunk: Uint8Array, totalBytes: number, done: () => void): void {
  let left = totalBytes;
  const pump = (): void => {
    while (left > 0) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!socket.write(piece)) {
        socket.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}

export async function startOriginPump(bytesPerConnection: number): Promise<OriginPump> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const source = createServer((socket) => {
    track(socket);
    pumpBytes(socket, CHUNK, bytesPerConnection, () => socket.end());
  });
  let sinkBytes = 0;
  let sinkConnectionsEnded = 0;
  const endWaiters: Array<{ connections: number; resolve: () => void }> = [];
  const sink = createServer((socket) => {
    track(socket);
    socket.on('data', (data: Buffer) => {
      sinkBytes += data.length;
    });
    socket.on('end', () => {
      sinkConnectionsEnded += 1;
      socket.end();
      for (const waiter of endWaiters.filter((candidate) => candidate.connections <= sinkConnectionsEnded)) {
        endWaiters.splice(endWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  });
  const [sourcePort, sinkPort] = await Promise.all([listen(source), listen(sink)]);
  return {
    sourcePort,
    sinkPort,
    get sinkBytes() {
      return sinkBytes;
    },
    sinkEnded: (connections) =>
      connections <= sinkConnectionsEnded ? Promise.resolve() : new Promise<void>((resolve) => endWaiters.push({ connections, resolve })),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([source, sink].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}
