/**
 * @module broker-main
 * `ferry broker`: parses flags, starts a broker, prints one ready line, and stops cleanly on SIGINT/SIGTERM.
 * runBroker resolves once the broker has stopped; it throws BrokerUsageError for bad flags and BrokerConfigError
 * for a bad exit or limit.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { ExitInfo } from '../protocol/signaling.ts';
import { createBroker } from './broker.ts';
import { DEFAULT_BROKER_CONFIG, verifyExitInfo } from './config.ts';

export const BROKER_USAGE = `Usage: ferry broker [options]

Pairs censored clients with volunteers. Volunteers connect to ws://HOST:PORT/v1/volunteer;
clients POST their offer to http://HOST:PORT/v1/client.

Options:
  --host HOST            address to listen on (default ${DEFAULT_BROKER_CONFIG.host})
  --port PORT            TCP port, 0 for any free one (default ${DEFAULT_BROKER_CONFIG.port})
  --exit ID=URL=KEY      an exit clients may use: id, ws:// or wss:// URL, base64url X25519 public key (repeatable)
  --exits-file FILE      a JSON array of exits [{"id", "url", "publicKey"}]
  --help                 show this text
`;

/** Largest exits file read (bytes); a list of thousands of exits fits easily. */
const MAX_EXITS_FILE_BYTES = 1024 * 1024;

export class BrokerUsageError extends Error {
  override readonly name = 'BrokerUsageError';
  readonly code = 'USAGE';
}

/** Splits `ID=URL=KEY`; the URL may itself contain '=' (a query string), the id and the key may not. */
export function parseExitFlag(flag: string): ExitInfo {
  const match = /^([^=]+)=(.+)=([A-Za-z0-9_-]+=?)$/.exec(flag);
  if (!match) throw new BrokerUsageError(`--exit "${flag}" must look like ID=URL=PUBLICKEY`);
  return verifyExitInfo({ id: match[1], url: match[2], publicKey: match[3] });
}

async function readExitsFile(path: string): Promise<ExitInfo[]> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_EXITS_FILE_BYTES) throw new BrokerUsageError(`--exits-file ${path} is larger than ${MAX_EXITS_FILE_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof BrokerUsageError) throw error;
    throw new BrokerUsageError(`cannot read --exits-file ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BrokerUsageError(`--exits-file ${path} is not valid JSON`);
  }
  if (!Array.isArray(json)) throw new BrokerUsageError(`--exits-file ${path} must hold a JSON array of exits`);
  return json.map(verifyExitInfo);
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
        exit: { type: 'string', multiple: true },
        'exits-file': { type: 'string' },
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
  const exits = [...(values['exits-file'] ? await readExitsFile(values['exits-file']) : []), ...(values.exit ?? []).map(parseExitFlag)];
  const broker = createBroker({
    host: values.host ?? DEFAULT_BROKER_CONFIG.host,
    port,
    exits,
    log: (event) => {
      if (event.level !== 'info') process.stderr.write(`ferry broker: ${event.level}: ${event.message}\n`);
    },
  });
  if (exits.length === 0) process.stderr.write('ferry broker: no exits given (--exit or --exits-file); clients will get UNKNOWN_EXIT\n');
  const address = await broker.listen();
  const shownHost = address.host.includes(':') ? `[${address.host}]` : address.host;
  process.stdout.write(`ferry broker: http://${shownHost}:${address.port} ready (pid ${process.pid})\n`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await broker.close();
}
