/**
 * @module pairings
 * The pairing links of this browser (protocol/pairing.ts), kept in `chrome.storage.local` under PAIRINGS_STORAGE_KEY:
 * - `made`: links this browser's "Help others" made for friends; their tokens go to the relay worker, which registers
 *   only their ids at the broker. Revoking one removes it here.
 * - `held`: the one link from a friend that "Proxy me" uses, for the broker it was made on. Opening the link in this
 *   browser adds it (content/pair-link.ts); the popup removes it.
 *
 * Pure: parsing and changes only; the chrome.storage calls live in the entry points. A stored value that does not
 * parse is dropped (pairings are not settings: losing a broken one is better than refusing to start).
 */
import { createPairingToken, isPairingText, MAX_PAIRINGS_PER_VOLUNTEER, pairingLink } from '../protocol/pairing.ts';
import { isRecord } from '../protocol/validate.ts';

export const PAIRINGS_STORAGE_KEY = 'pairings';

export interface MadePairing {
  token: string;
  /** Date.now() when it was made. */
  createdAt: number;
}

export interface HeldPairing {
  token: string;
  /** The broker origin the link was made on: the pairing is used only with that broker. */
  brokerOrigin: string;
  addedAt: number;
}

export interface Pairings {
  made: MadePairing[];
  held: HeldPairing | undefined;
}

export class PairingLimitError extends Error {
  override readonly name = 'PairingLimitError';
  readonly code = 'TOO_MANY_PAIRINGS';
}

export function noPairings(): Pairings {
  return { made: [], held: undefined };
}

/** What chrome.storage.local.get(PAIRINGS_STORAGE_KEY) returned, as Pairings; malformed parts are dropped. */
export function parseStoredPairings(stored: unknown): Pairings {
  if (!isRecord(stored)) return noPairings();
  const made = Array.isArray(stored.made)
    ? stored.made
        .filter((entry): entry is MadePairing => isRecord(entry) && isPairingText(entry.token) && Number.isSafeInteger(entry.createdAt))
        .slice(0, MAX_PAIRINGS_PER_VOLUNTEER)
        .map(({ token, createdAt }) => ({ token, createdAt }))
    : [];
  const held = stored.held;
  const validHeld =
    isRecord(held) && isPairingText(held.token) && typeof held.brokerOrigin === 'string' && Number.isSafeInteger(held.addedAt)
      ? { token: held.token, brokerOrigin: held.brokerOrigin, addedAt: held.addedAt as number }
      : undefined;
  return { made, held: validHeld };
}

/** A new link for a friend, added to `pairings`. Throws PairingLimitError at MAX_PAIRINGS_PER_VOLUNTEER. */
export function withNewLink(pairings: Pairings, now: number): { pairings: Pairings; made: MadePairing } {
  if (pairings.made.length >= MAX_PAIRINGS_PER_VOLUNTEER) {
    throw new PairingLimitError(`You already have ${MAX_PAIRINGS_PER_VOLUNTEER} links for friends; revoke one first.`);
  }
  const made: MadePairing = { token: createPairingToken(), createdAt: now };
  return { pairings: { ...pairings, made: [...pairings.made, made] }, made };
}

export function withoutLink(pairings: Pairings, token: string): Pairings {
  return { ...pairings, made: pairings.made.filter((entry) => entry.token !== token) };
}

/** The link to share for a made pairing, on the broker in the settings. */
export function linkFor(made: MadePairing, brokerUrl: string): string {
  return pairingLink(brokerUrl, made.token);
}

/** The held pairing's token if it belongs to `brokerUrl`'s broker (a link made on another broker means nothing here). */
export function heldTokenFor(pairings: Pairings, brokerUrl: string): string | undefined {
  const held = pairings.held;
  if (held === undefined) return undefined;
  try {
    return new URL(brokerUrl).origin === held.brokerOrigin ? held.token : undefined;
  } catch {
    return undefined;
  }
}
