/**
 * @module exit-server/main
 * `ferry exit`: parses flags, starts an exit server, prints one ready line, and stops cleanly on SIGINT/SIGTERM.
 * stdout carries only that line (people, the demo and the harness read it); the log goes to stderr as JSON lines.
 * runExit throws ExitUsageError for bad flags, InvalidConfigError for an out-of-range value, KeyFileError for an
 * unreadable key file.
 */
import { parseArgs } from 'node:util';
import { createJsonLogger } from '../protocol/adapters/json-log.ts';
import { loadOrCreateKeyPair } from '../protocol/adapters/key-file.ts';
import { nodeAeadImplementation } from '../protocol/adapters/node-aead.ts';
import { missingRelayingNodeFlags } from '../protocol/adapters/node-flags.ts';
import { defaultSessionConfig, MAX_PATHS_PER_SESSION } from '../protocol/config.ts';
import { defaultExitConfig } from './config.ts';
import { ExitServer } from './exit-server.ts';

const MIB = 1024 * 1024;

export const EXIT_USAGE = `Usage: ferry exit [options]

Ends client sessions that arrive from volunteers over WebSocket and connects them to their destinations.

Options:
  --host HOST          address to listen on (default ${defaultExitConfig.host}; use 0.0.0.0 behind a TLS proxy in production)
  --port PORT          port to listen on (default ${defaultExitConfig.port}; 0 = any free port)
  --key-file FILE      the exit's secret key; created (mode 0600) if missing. Without it, a new key each run.
  --allow-loopback     allow destinations on 127.0.0.0/8 and ::1 (tests and the local demo only)
  --deny CIDR          also refuse destinations in this range, e.g. 203.0.113.0/24 (repeatable)
  --allow-range CIDR   take this range out of the built-in refusals (private, documentation, benchmarking
                       addresses), e.g. a private network this exit serves, or a test lab (repeatable)
  --max-sessions N     most client sessions at once (default ${defaultExitConfig.maxSessions})
  --max-queued-mib N   most MiB held for all clients together: bytes waiting for their credit or ACK
                       (default ${defaultExitConfig.maxQueuedBytesTotal / MIB}; at least max-sessions x ${defaultExitConfig.reservedQueuedBytesPerSession / 1024} KiB plus one session's budget)
  --max-queued-mib-per-session N
                       the same for one client session (default ${defaultExitConfig.maxQueuedBytesPerSession / MIB}); at it, its destinations are not read
  --max-paths-per-session N
                       most volunteer paths one client session may hold at once, 1 to ${MAX_PATHS_PER_SESSION} (default ${defaultSessionConfig.maxPathsPerSession});
                       each is another volunteer socket here, and another volunteer who sees the client
  --help               show this help
`;

/** The command line was not understood; the message says how to fix it. */
export class ExitUsageError extends Error {
  override readonly name = 'ExitUsageError';
  readonly code = 'USAGE';
}

function wholeNumber(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text)) throw new ExitUsageError(`${flag} must be a whole number, got "${text}"`);
  return Number(text);
}

function pathsPerSession(text: string | undefined): number {
  const paths = wholeNumber(text, '--max-paths-per-session', defaultSessionConfig.maxPathsPerSession);
  if (paths < 1 || paths > MAX_PATHS_PER_SESSION) throw new ExitUsageError(`--max-paths-per-session must be from 1 to ${MAX_PATHS_PER_SESSION}, got ${paths}`);
  return paths;
}

/** The flags after the command name, or ExitUsageError saying what is wrong. */
function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'key-file': { type: 'string' },
        'allow-loopback': { type: 'boolean', default: false },
        deny: { type: 'string', multiple: true },
        'allow-range': { type: 'string', multiple: true },
        'max-sessions': { type: 'string' },
        'max-queued-mib': { type: 'string' },
        'max-queued-mib-per-session': { type: 'string' },
        'max-paths-per-session': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new ExitUsageError(`${error instanceof Error ? error.message : String(error)}\n\n${EXIT_USAGE}`);
  }
}

/** Runs `ferry exit` with the arguments after the command name. */
export async function runExit(argv: string[]): Promise<void> {
  const values = parseFlags(argv);
  if (values.help) {
    process.stdout.write(EXIT_USAGE);
    return;
  }
  const keyPair = loadOrCreateKeyPair(values['key-file']);
  const server = new ExitServer({
    keyPair,
    config: {
      host: values.host ?? defaultExitConfig.host,
      port: wholeNumber(values.port, '--port', defaultExitConfig.port),
      allowLoopback: values['allow-loopback'],
      deniedRanges: values.deny ?? [],
      allowedRanges: values['allow-range'] ?? [],
      maxSessions: wholeNumber(values['max-sessions'], '--max-sessions', defaultExitConfig.maxSessions),
      maxQueuedBytesTotal: wholeNumber(values['max-queued-mib'], '--max-queued-mib', defaultExitConfig.maxQueuedBytesTotal / MIB) * MIB,
      maxQueuedBytesPerSession:
        wholeNumber(values['max-queued-mib-per-session'], '--max-queued-mib-per-session', defaultExitConfig.maxQueuedBytesPerSession / MIB) * MIB,
      session: { maxPathsPerSession: pathsPerSession(values['max-paths-per-session']) },
    },
  });
  const logger = createJsonLogger('ferry-exit');
  const { url, port } = await server.listen();
  // Before the ready line: whoever reads it may send SIGTERM at once, and must get a clean stop, not the default kill.
  const stop = (): void => {
    logger.info('stopping');
    void server.close().then(() => {
      logger.info('stopped');
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.write(`ferry exit: ${url} ready, public key ${server.publicKey} (pid ${process.pid})\n`);
  // The port only: the log names no address, not even the one the operator chose (it is in the ready line).
  logger.info({ port, publicKey: server.publicKey, aead: nodeAeadImplementation }, 'listening');
  // Both still work; each costs CPU per byte relayed (docs/benchmarks.md), so the operator should hear of it.
  const missingFlags = missingRelayingNodeFlags();
  if (missingFlags.length > 0) {
    logger.warn(
      { missingFlags },
      `started without ${missingFlags.join(' ')}: the exit will spend about twice the CPU per GiB in garbage collection; start it as "node ${missingFlags.join(' ')} bin/ferry.js exit" (docs/operations.md)`,
    );
  }
  if (nodeAeadImplementation !== 'native addon') {
    logger.warn(
      'the native ChaCha20-Poly1305 addon is not built (native/aead): using node:crypto, which costs more CPU per GiB; run "npm run build:native" where a C++ compiler is installed',
    );
  }
}
