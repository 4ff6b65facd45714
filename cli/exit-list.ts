/**
 * @module cli/exit-list
 * `ferry exit-list`: the operator's tool for the signed exit list (protocol/exit-list.ts). The secret key stays on
 * the operator's machine; only the signed list goes to the brokers (`ferry broker --exit-list FILE`), and only the
 * public key goes to users (extension settings, `ferry helper --install --exit-list-key`, `ferry volunteer
 * --exit-list-key`).
 *
 *   keygen --key FILE                  make a signing key (file mode 0600); prints the public key
 *   sign --key FILE --exit ID=URL=KEY  sign a list of exits; writes the list to --out or stdout
 *   verify --list FILE --exit-list-key KEY
 *                                      check a list as users will; prints its exits and expiry
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  DEFAULT_EXIT_LIST_VALIDITY_MS,
  type ExitInfo,
  ExitListError,
  generateOperatorKeyPair,
  MAX_EXIT_LIST_VALIDITY_MS,
  type NetworkRendezvous,
  OperatorKeyError,
  operatorPublicKeyOf,
  parseListedExit,
  parseNetworkRendezvous,
  parseOperatorPublicKeys,
  signExitList,
  verifyExitList,
} from '../protocol/exit-list.ts';
import { channelName } from '../protocol/rendezvous.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Largest file this tool reads (bytes): a key, an exits file or a list of hundreds of exits fits easily. */
const MAX_INPUT_FILE_BYTES = 1024 * 1024;

export const EXIT_LIST_USAGE = `Usage: ferry exit-list <keygen|sign|verify> [options]

The network operator's signed list of exits. Clients, the helper and volunteers pin the operator's public key and
use only exits from a list it signed, so a broker can choose among your exits but cannot add its own.

  ferry exit-list keygen --key FILE
      make a new signing key in FILE (readable only by you) and print its public key
  ferry exit-list sign --key FILE (--exit ID=URL=KEY ... | --exits-file FILE) [--valid-days N] [--out FILE]
                       [--broker-key KEY --channel CHANNEL ...]
      sign the exits (id, ws:// or wss:// URL, the exit's base64url X25519 public key) into a list for
      "ferry broker --exit-list FILE"; valid ${DEFAULT_EXIT_LIST_VALIDITY_MS / DAY_MS} days unless --valid-days says otherwise.
      With --broker-key (the rendezvousKey the broker logs) and --channel, clients seal their offers to the broker
      and reach it over these channels, tried in the order given:
        --channel direct=URL          POST URL/v1/rendezvous (the broker's own address)
        --channel fronted=FRONT=URL   the same, with TLS to FRONT (a CDN's name) and the Host of URL
        --channel cache=URL           GET URL/v1/rendezvous/... through a cache that reaches the broker
  ferry exit-list verify --list FILE --exit-list-key KEY
      check a list as users will, and print its exits and when it expires
`;

/** The command line or an input file was wrong; the message says what to fix. */
export class ExitListUsageError extends Error {
  override readonly name = 'ExitListUsageError';
  readonly code = 'USAGE';
}

/** Splits `ID=URL=KEY`; the URL may itself contain '=' (a query string), the id and the key may not. */
export function parseExitFlag(flag: string): ExitInfo {
  const match = /^([^=]+)=(.+)=([A-Za-z0-9_-]+=?)$/.exec(flag);
  if (!match) throw new ExitListUsageError(`--exit "${flag}" must look like ID=URL=PUBLICKEY`);
  return checkedExit({ id: match[1], url: match[2], publicKey: match[3] });
}

function checkedExit(value: unknown): ExitInfo {
  try {
    return parseListedExit(value);
  } catch (error) {
    if (error instanceof ExitListError) throw new ExitListUsageError(error.message);
    throw error;
  }
}

async function readInput(path: string, flag: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new ExitListUsageError(`cannot read ${flag} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (bytes.length > MAX_INPUT_FILE_BYTES) throw new ExitListUsageError(`${flag} ${path} is larger than ${MAX_INPUT_FILE_BYTES} bytes`);
  return bytes.toString('utf8');
}

async function readJson(path: string, flag: string): Promise<unknown> {
  const text = await readInput(path, flag);
  try {
    return JSON.parse(text);
  } catch {
    throw new ExitListUsageError(`${flag} ${path} is not valid JSON`);
  }
}

async function readSecretKey(path: string): Promise<string> {
  const secretKey = (await readInput(path, '--key')).trim();
  try {
    operatorPublicKeyOf(secretKey);
  } catch (error) {
    if (error instanceof OperatorKeyError) throw new ExitListUsageError(`--key ${path} does not hold a signing key: ${error.message}`);
    throw error;
  }
  return secretKey;
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        key: { type: 'string' },
        exit: { type: 'string', multiple: true },
        'exits-file': { type: 'string' },
        'valid-days': { type: 'string' },
        out: { type: 'string' },
        list: { type: 'string' },
        'exit-list-key': { type: 'string', multiple: true },
        'broker-key': { type: 'string' },
        channel: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new ExitListUsageError(`${error instanceof Error ? error.message : String(error)}\n\n${EXIT_LIST_USAGE}`);
  }
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new ExitListUsageError(`${flag} is required\n\n${EXIT_LIST_USAGE}`);
  return value;
}

function validForMs(text: string | undefined): number {
  if (text === undefined) return DEFAULT_EXIT_LIST_VALIDITY_MS;
  const maxDays = Math.floor(MAX_EXIT_LIST_VALIDITY_MS / DAY_MS);
  if (!/^\d{1,3}$/.test(text) || Number(text) < 1 || Number(text) > maxDays) {
    throw new ExitListUsageError(`--valid-days must be a whole number from 1 to ${maxDays}, got "${text}"`);
  }
  return Number(text) * DAY_MS;
}

async function keygen(keyPath: string): Promise<void> {
  // Never overwrite: a lost signing key means every user must be given a new public key.
  if (existsSync(keyPath)) throw new ExitListUsageError(`${keyPath} already exists; choose another --key path (a signing key is never overwritten)`);
  const pair = generateOperatorKeyPair();
  await writeFile(keyPath, `${pair.secretKey}\n`, { mode: 0o600, flag: 'wx' });
  process.stdout.write(`ferry exit-list: wrote the signing key to ${keyPath}; keep it offline and secret.\n`);
  process.stdout.write(`ferry exit-list: public key (give this to users as their exit-list key): ${pair.publicKey}\n`);
}

async function sign(values: ReturnType<typeof parseFlags>['values']): Promise<void> {
  const secretKey = await readSecretKey(required(values.key, '--key'));
  const fromFile = values['exits-file'] === undefined ? [] : await readExitsFile(values['exits-file']);
  const exits = [...fromFile, ...(values.exit ?? []).map(parseExitFlag)];
  if (exits.length === 0) throw new ExitListUsageError('name at least one exit with --exit ID=URL=KEY or --exits-file FILE');
  const rendezvous = rendezvousFlags(values['broker-key'], values.channel ?? []);
  let list: ReturnType<typeof signExitList>;
  try {
    list = signExitList(exits, secretKey, { validForMs: validForMs(values['valid-days']), ...(rendezvous === undefined ? {} : { rendezvous }) });
  } catch (error) {
    if (error instanceof ExitListError) throw new ExitListUsageError(error.message);
    throw error;
  }
  const text = `${JSON.stringify(list)}\n`;
  if (values.out === undefined) process.stdout.write(text);
  else {
    await writeFile(values.out, text, { mode: 0o644 });
    process.stderr.write(`ferry exit-list: signed ${exits.length} exit(s) into ${values.out}\n`);
  }
}

/** `--broker-key` and `--channel KIND=...` flags as a list's rendezvous part; both or neither must be given. */
export function rendezvousFlags(brokerKey: string | undefined, channels: readonly string[]): NetworkRendezvous | undefined {
  if (brokerKey === undefined && channels.length === 0) return undefined;
  if (brokerKey === undefined || channels.length === 0)
    throw new ExitListUsageError("--broker-key and --channel go together: give the broker's rendezvous key and at least one channel");
  const parsed = channels.map((flag) => {
    const fronted = /^fronted=([^=]+)=(.+)$/.exec(flag);
    if (fronted) return { kind: 'fronted', front: fronted[1], url: fronted[2] };
    const other = /^(direct|cache)=(.+)$/.exec(flag);
    if (other) return { kind: other[1], url: other[2] };
    throw new ExitListUsageError(`--channel "${flag}" must be direct=URL, fronted=FRONT=URL or cache=URL`);
  });
  try {
    return parseNetworkRendezvous({ brokerKey, channels: parsed });
  } catch (error) {
    if (error instanceof ExitListError) throw new ExitListUsageError(error.message);
    throw error;
  }
}

async function readExitsFile(path: string): Promise<ExitInfo[]> {
  const json = await readJson(path, '--exits-file');
  if (!Array.isArray(json)) throw new ExitListUsageError(`--exits-file ${path} must hold a JSON array of exits [{"id", "url", "publicKey"}]`);
  return json.map(checkedExit);
}

async function verify(values: ReturnType<typeof parseFlags>['values']): Promise<void> {
  const document = await readJson(required(values.list, '--list'), '--list');
  let keys: string[];
  try {
    keys = parseOperatorPublicKeys(values['exit-list-key'] ?? []);
  } catch (error) {
    if (error instanceof OperatorKeyError) throw new ExitListUsageError(`--exit-list-key: ${error.message}`);
    throw error;
  }
  if (keys.length === 0) throw new ExitListUsageError(`--exit-list-key KEY is required\n\n${EXIT_LIST_USAGE}`);
  const verified = verifyExitList(document, keys, Date.now());
  process.stdout.write(`ferry exit-list: signed by ${verified.signedBy}, expires ${new Date(verified.expiresAt).toISOString()}\n`);
  for (const exit of verified.exits) process.stdout.write(`  ${exit.id} ${exit.url} ${exit.publicKey}\n`);
  if (verified.rendezvous !== undefined) {
    process.stdout.write(`ferry exit-list: broker rendezvous key ${verified.rendezvous.brokerKey}, channels in order:\n`);
    for (const channel of verified.rendezvous.channels) process.stdout.write(`  ${channelName(channel)} (${channel.url})\n`);
  }
}

/** Runs `ferry exit-list` with the arguments after the command name. */
export async function runExitList(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv);
  if (values.help === true) {
    process.stdout.write(EXIT_LIST_USAGE);
    return;
  }
  const [action, ...extra] = positionals;
  if (extra.length > 0) throw new ExitListUsageError(`unexpected argument ${extra[0]}`);
  switch (action) {
    case 'keygen':
      return keygen(required(values.key, '--key'));
    case 'sign':
      return sign(values);
    case 'verify':
      return verify(values);
    default:
      throw new ExitListUsageError(`say keygen, sign or verify${action === undefined ? '' : ` (not "${action}")`}\n\n${EXIT_LIST_USAGE}`);
  }
}
