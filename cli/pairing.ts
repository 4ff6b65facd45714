/**
 * @module cli/pairing
 * `ferry pairing new --broker URL`: makes a pairing link for a headless volunteer (the extension makes its own on
 * its options page). Prints the token, which the volunteer keeps (`ferry volunteer --pairing-token`), and the link,
 * which goes to the friend. Revoking is running the volunteer without that token.
 */
import { parseArgs } from 'node:util';
import { createPairingToken, pairingLink } from '../protocol/pairing.ts';

const USAGE = `Usage: ferry pairing new --broker URL

Makes a pairing link: whoever opens it in a browser with Ferry is connected through your volunteer alone.
Prints two lines: the token (give it to your volunteer: ferry volunteer --pairing-token TOKEN) and the link (send it
to your friend). To revoke the link, run your volunteer without that token.
`;

export class PairingUsageError extends Error {
  override readonly name = 'PairingUsageError';
  readonly code = 'USAGE';
}

export async function runPairing(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action === '--help' || action === undefined) {
    process.stdout.write(USAGE);
    return;
  }
  if (action !== 'new') throw new PairingUsageError(`unknown pairing action "${action}"\n\n${USAGE}`);
  let broker: string | undefined;
  try {
    broker = parseArgs({ args: rest, strict: true, allowPositionals: false, options: { broker: { type: 'string' } } }).values.broker;
  } catch (error) {
    throw new PairingUsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
  if (broker === undefined) throw new PairingUsageError(`--broker URL is required\n\n${USAGE}`);
  let link: string;
  const token = createPairingToken();
  try {
    link = pairingLink(broker, token);
  } catch {
    throw new PairingUsageError(`--broker must be a URL such as https://broker.example.org (got "${broker}")`);
  }
  process.stdout.write(`token: ${token}\nlink: ${link}\n`);
}
