/**
 * @module broker-main
 * `ferry broker`: parses flags, starts a broker, prints one ready line, and stops cleanly on SIGINT/SIGTERM.
 * stdout carries only that line (people, the demo and the tests read it); the log goes to stderr as JSON lines.
 * runBroker resolves once the broker has stopped; it throws BrokerUsageError for bad flags and BrokerConfigError
 * for a bad exit list or limit.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createJsonLogger, logEventsTo } from '../protocol/adapters/json-log.ts';
import { KeyFileError, loadOrCreateKeyPair } from '../protocol/adapters/key-file.ts';
import { toBase64Url } from '../protocol/bytes.ts';
import type { KeyPair } from '../protocol/crypto.ts';
import { ExitListError, OperatorKeyError, parseOperatorPublicKeys, parseSignedExitList, type SignedExitList } from '../protocol/exit-list.ts';
import { createBroker } from './broker.ts';
import { DEFAULT_BROKER_CONFIG } from './config.ts';
import { untilStopSignal } from './stop-signal.ts';

export const BROKER_USAGE = `Usage: ferry broker [options]

Pairs censored clients with volunteers. Volunteers connect to ws://HOST:PORT/v1/volunteer;
clients POST their offer to http://HOST:PORT/v1/client.

Options:
  --host HOST            address to listen on (default ${DEFAULT_BROKER_CONFIG.host})
  --port PORT            TCP port, 0 for any free one (default ${DEFAULT_BROKER_CONFIG.port})
  --exit-list FILE       the operator-signed exit list to serve (made with "ferry exit-list sign")
  --exit-list-key KEY    check the list's signature against this operator key at start-up (repeatable)
  --rendezvous-key-file FILE
                         the broker's X25519 secret key for sealed offers (POST and GET /v1/rendezvous, the
                         fronted and cache channels); created (mode 0600) if missing. Its public key goes into the
                         signed exit list (ferry exit-list sign --broker-key). Without it, only POST /v1/client.
  --nat-probe-url URL    the NAT probe (ferry nat-probe) volunteers without a measured NAT class use
  --stun URL             a STUN server of this network, named to every volunteer (stun:host:port; repeatable)
  --allow-same-network   match clients with volunteers on their own /24 or /48 (labs only)
  --redis URL            share volunteers with other brokers through this Redis (redis://host:port); default: memory
  --redis-prefix TEXT    prefix for this network's Redis keys and channels (default ${DEFAULT_BROKER_CONFIG.redisKeyPrefix})
  --help                 show this text
`;

/** Largest exit list file read (bytes); a signed list of 256 exits fits easily. */
const MAX_EXIT_LIST_FILE_BYTES = 1024 * 1024;

export class BrokerUsageError extends Error {
  override readonly name = 'BrokerUsageError';
  readonly code = 'USAGE';
}

/** The document's form only; createBroker reads its exits and refuses an expired or (with keys) unsigned list. */
async function readExitListFile(path: string): Promise<SignedExitList> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_EXIT_LIST_FILE_BYTES) throw new BrokerUsageError(`--exit-list ${path} is larger than ${MAX_EXIT_LIST_FILE_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof BrokerUsageError) throw error;
    throw new BrokerUsageError(`cannot read --exit-list ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BrokerUsageError(`--exit-list ${path} is not valid JSON; make it with "ferry exit-list sign"`);
  }
  try {
    return parseSignedExitList(json);
  } catch (error) {
    if (error instanceof ExitListError) throw new BrokerUsageError(`--exit-list ${path}: ${error.message}`);
    throw error;
  }
}

function parseKeys(texts: readonly string[]): string[] {
  try {
    return parseOperatorPublicKeys(texts);
  } catch (error) {
    if (error instanceof OperatorKeyError) throw new BrokerUsageError(`--exit-list-key: ${error.message}`);
    throw error;
  }
}

function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535) throw new BrokerUsageError(`--port must be a number from 0 to 65535 (got "${text}")`);
  return Number(text);
}

/** The flags after the command name, or BrokerUsageError saying what is wrong. */
function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'exit-list': { type: 'string' },
        'exit-list-key': { type: 'string', multiple: true },
        'rendezvous-key-file': { type: 'string' },
        redis: { type: 'string' },
        'nat-probe-url': { type: 'string' },
        'allow-same-network': { type: 'boolean' },
        stun: { type: 'string', multiple: true },
        'redis-prefix': { type: 'string' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (error) {
    throw new BrokerUsageError(`${error instanceof Error ? error.message : String(error)}\n\n${BROKER_USAGE}`);
  }
}

/** Runs `ferry broker` with the arguments after the command name. */
export async function runBroker(argv: string[]): Promise<void> {
  const values = parseFlags(argv);
  if (values.help) {
    process.stdout.write(BROKER_USAGE);
    return;
  }
  const port = values.port === undefined ? DEFAULT_BROKER_CONFIG.port : parsePort(values.port);
  const exitListPath = values['exit-list'];
  const exitList = exitListPath === undefined ? undefined : await readExitListFile(exitListPath);
  const logger = createJsonLogger('ferry-broker');
  const rendezvousKeyFile = values['rendezvous-key-file'];
  let rendezvousKeyPair: KeyPair | undefined;
  try {
    rendezvousKeyPair = rendezvousKeyFile === undefined ? undefined : loadOrCreateKeyPair(rendezvousKeyFile);
  } catch (error) {
    if (error instanceof KeyFileError) throw new BrokerUsageError(`--rendezvous-key-file: ${error.message}`);
    throw error;
  }
  const broker = createBroker({
    host: values.host ?? DEFAULT_BROKER_CONFIG.host,
    port,
    exitList,
    exitListKeys: parseKeys(values['exit-list-key'] ?? []),
    redisUrl: values.redis,
    natProbeUrl: values['nat-probe-url'],
    sameNetworkRule: values['allow-same-network'] !== true,
    stunUrls: values.stun ?? [],
    redisKeyPrefix: values['redis-prefix'] ?? DEFAULT_BROKER_CONFIG.redisKeyPrefix,
    log: logEventsTo(logger),
    rendezvousKeyPair,
  });
  if (exitList === undefined) logger.warn('no --exit-list given; clients get NO_EXIT_LIST and volunteers take no offers');
  const address = await broker.listen();
  const shownHost = address.host.includes(':') ? `[${address.host}]` : address.host;
  // Listening for the stop signal before the ready line: whoever reads it may send SIGTERM at once.
  const stopSignal = untilStopSignal();
  process.stdout.write(`ferry broker: http://${shownHost}:${address.port} ready (pid ${process.pid})\n`);
  // The port only: the log names no address, not even the one the operator chose (it is in the ready line).
  logger.info({ port: address.port, ...(rendezvousKeyPair === undefined ? {} : { rendezvousKey: toBase64Url(rendezvousKeyPair.publicKey) }) }, 'listening');

  await stopSignal;
  logger.info('stopping');
  await broker.close();
  logger.info('stopped');
}
