/**
 * @module pairing
 * Pairing links: a volunteer lets the people it chooses (friends, family, a community it knows) reach it directly,
 * as Conduit's personal pairing does. The volunteer makes a random token and shares a link carrying it; whoever holds
 * the link sends the token with their offer, and the broker matches them only to that volunteer, on its personal
 * slots, which nobody without the link is ever given.
 *
 * The broker learns the token from the holder's offer, but the volunteer registers only the token's id (its
 * SHA-256): a volunteer's messages, and whatever the broker keeps of them, never carry a usable token. Revoking a link
 * is the volunteer dropping its id; a holder of a revoked link is then refused (NO_VOLUNTEERS, saying so).
 *
 * Link: `<broker origin>/pair#<token>`. The token sits in the fragment, which browsers never send to any server; the
 * extension notices a tab opening such a link on its broker and keeps the pairing.
 */
import { fromBase64Url, toBase64Url, utf8 } from './bytes.ts';
import { hash, randomBytes } from './digest.ts';

/** Random bytes in a pairing token: guessing one is hopeless. */
export const PAIRING_TOKEN_BYTES = 32;
/** Characters of a token or an id (base64url of 32 bytes, unpadded). */
export const PAIRING_TEXT_CHARS = 43;
/** Most pairing links one volunteer keeps at once. */
export const MAX_PAIRINGS_PER_VOLUNTEER = 32;
/** Path of a pairing link on the broker's origin (the token follows in the fragment); BrokerRoute.PAIR serves it. */
export const PAIRING_LINK_PATH = '/pair';
/** Domain separation for a pairing id. */
const PAIRING_ID_LABEL = 'ferry pairing id v1\n';

const BASE64URL_43 = /^[A-Za-z0-9_-]{43}$/;

export class PairingFormatError extends Error {
  override readonly name = 'PairingFormatError';
  readonly code = 'BAD_PAIRING';
}

/** A new random pairing token. */
export function createPairingToken(): string {
  // Never starting with '-', which a command line would take for an option (`--pairing-token -Ab…`).
  for (;;) {
    const token = toBase64Url(randomBytes(PAIRING_TOKEN_BYTES));
    if (!token.startsWith('-')) return token;
  }
}

/** True for text shaped like a token or an id (43 base64url characters decoding to 32 bytes). */
export function isPairingText(text: unknown): text is string {
  return typeof text === 'string' && BASE64URL_43.test(text) && fromBase64Url(text).length === PAIRING_TOKEN_BYTES;
}

/** The id a volunteer registers for a token: what the broker compares, never usable as a token itself. */
export function pairingIdOf(token: string): string {
  if (!isPairingText(token)) throw new PairingFormatError('a pairing token is 43 base64url characters; copy the whole link');
  return toBase64Url(hash(utf8(`${PAIRING_ID_LABEL}${token}`)));
}

/** The link to share: the broker's origin, the pairing path, the token in the fragment. */
export function pairingLink(brokerUrl: string, token: string): string {
  if (!isPairingText(token)) throw new PairingFormatError('a pairing token is 43 base64url characters');
  return `${new URL(brokerUrl).origin}${PAIRING_LINK_PATH}#${token}`;
}

/**
 * The token of a pairing link on `brokerUrl`'s origin, or undefined when `link` is not one (another origin or path,
 * or no well-formed token).
 */
export function tokenOfPairingLink(link: string, brokerUrl: string): string | undefined {
  let parsed: URL;
  let broker: URL;
  try {
    parsed = new URL(link);
    broker = new URL(brokerUrl);
  } catch {
    return undefined;
  }
  if (parsed.origin !== broker.origin || parsed.pathname !== PAIRING_LINK_PATH) return undefined;
  const token = parsed.hash.slice(1);
  return isPairingText(token) ? token : undefined;
}
