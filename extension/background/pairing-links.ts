/**
 * @module pairing-links
 * "A link from a friend": the content script on a pairing link page (content/pair-link.ts) hands the page's address
 * here; if it is a pairing link of the broker in the settings, this browser keeps it and Proxy me uses that friend's
 * volunteer from the next path on. A link of another broker is refused (it would mean nothing there).
 */
import { tokenOfPairingLink } from '../../protocol/pairing.ts';
import type { Pairings } from '../pairings.ts';
import type { Settings } from '../settings.ts';

export interface PairingLinksDeps {
  loadSettings(): Promise<Settings>;
  loadPairings(): Promise<Pairings>;
  savePairings(pairings: Pairings): Promise<void>;
  now(): number;
}

/** The link is not a pairing link of this browser's broker. */
export class PairingLinkRefusedError extends Error {
  override readonly name = 'PairingLinkRefusedError';
  readonly code = 'PAIRING_LINK_REFUSED';
}

export class PairingLinks {
  constructor(private readonly deps: PairingLinksDeps) {}

  /**
   * Keeps the friend's link, replacing any held before. Throws PairingLinkRefusedError for a link of another broker,
   * a malformed one, or one this browser made itself (helping yourself is not a pairing).
   */
  async add(link: string): Promise<void> {
    const settings = await this.deps.loadSettings();
    const token = tokenOfPairingLink(link, settings.brokerUrl);
    if (token === undefined) {
      throw new PairingLinkRefusedError(`not a pairing link of the broker in Ferry's settings (${new URL(settings.brokerUrl).origin})`);
    }
    const pairings = await this.deps.loadPairings();
    if (pairings.made.some((made) => made.token === token)) throw new PairingLinkRefusedError('this browser made that link itself');
    await this.deps.savePairings({ ...pairings, held: { token, brokerOrigin: new URL(settings.brokerUrl).origin, addedAt: this.deps.now() } });
  }
}
