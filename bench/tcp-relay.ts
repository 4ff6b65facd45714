/**
 * @module bench/tcp-relay
 * The baseline for the exit's CPU cost: a minimal plain TCP relay, in its own process (run with `node --import tsx`,
 * forked by bench/server-processes.ts startTcpRelayProcess). For each target port given as an argument it listens on
 * a free loopback port and pipes every connection to that target, both ways, with Node's own stream backpressure:
 * no encryption, no framing, no policy. It reports its ports over IPC ({type: 'ready', ports}) and runs until its
 * parent ends it (by PID) or disconnects.
 */
import { connect, createServer, type Server } from 'node:net';

export interface TcpRelayReady {
  type: 'ready';
  /** ports[i] relays to the i-th target port. */
  ports: number[];
}

function relayTo(targetPort: number): Server {
  return createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut);
    upstream.on('error', cut);
    client.pipe(upstream);
    upstream.pipe(client);
  });
}

async function main(targetPorts: number[]): Promise<void> {
  const ports = await Promise.all(
    targetPorts.map(
      (targetPort) =>
        new Promise<number>((resolve, reject) => {
          const server = relayTo(targetPort);
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            resolve(typeof address === 'object' && address !== null ? address.port : 0);
          });
        }),
    ),
  );
  const ready: TcpRelayReady = { type: 'ready', ports };
  process.send?.(ready);
  process.once('disconnect', () => process.exit(0));
}

if (process.send !== undefined) await main(process.argv.slice(2).map(Number));
