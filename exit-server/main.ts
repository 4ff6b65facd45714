/**
 * @module exit-server/main
 * `ferry exit`: runs an exit server from the command line.
 */
import { parseArgs } from 'node:util';
import { ExitServer } from './exit-server.ts';
import { loadOrCreateKeyPair } from './keys.ts';

const USAGE = `Usage: ferry exit [options]

Ends client sessions that arrive from volunteers over WebSocket and connects them to their destinations.

Options:
  --host HOST          address to listen on (default 127.0.0.1; use 0.0.0.0 behind a TLS proxy in production)
  --port PORT          port to listen on (default 8788; 0 = any free port)
  --key-file FILE      the exit's secret key; created (mode 0600) if missing. Without it, a new key each run.
  --allow-loopback     allow destinations on 127.0.0.0/8 and ::1 (tests and the local demo only)
  --max-sessions N     most client sessions at once (default 1000)
  --help               show this help
`;

export async function runExit(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8788' },
      'key-file': { type: 'string' },
      'allow-loopback': { type: 'boolean', default: false },
      'max-sessions': { type: 'string', default: '1000' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const keyPair = loadOrCreateKeyPair(values['key-file']);
  const server = new ExitServer({
    keyPair,
    config: {
      host: values.host,
      port: Number(values.port),
      allowLoopback: values['allow-loopback'],
      maxSessions: Number(values['max-sessions']),
    },
  });
  const { url } = await server.listen();
  process.stdout.write(`ferry exit: ${url} ready, public key ${server.publicKey} (pid ${process.pid})\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
