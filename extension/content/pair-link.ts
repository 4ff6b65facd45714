/**
 * @module pair-link
 * Content script on the broker's pairing link page (`<broker>/pair#token`; manifest content_scripts, matched on the
 * broker's host at build time). Hands the address to the service worker, which keeps the pairing when it is a link
 * of this browser's broker (background/pairing-links.ts); then tells the person on the page what happened, and takes
 * the token out of the address bar and the history, so it does not linger where others may look.
 */
import { tokenOfPairingLink } from '../../protocol/pairing.ts';
import { PAIRINGS_STORAGE_KEY, parseStoredPairings } from '../pairings.ts';

async function pairFromThisPage(): Promise<void> {
  const link = location.href;
  // Only this page's own origin: the service worker checks it against the broker in the settings.
  if (tokenOfPairingLink(link, location.origin) === undefined) return;
  const token = location.hash.slice(1);
  history.replaceState(null, '', location.pathname);
  await chrome.runtime.sendMessage({ target: 'background', type: 'add-pairing', link });
  const pairings = parseStoredPairings((await chrome.storage.local.get(PAIRINGS_STORAGE_KEY))[PAIRINGS_STORAGE_KEY]);
  show(pairings.held?.token === token ? chrome.i18n.getMessage('pairingKept') : chrome.i18n.getMessage('pairingNotKept'));
}

function show(text: string): void {
  const note = document.createElement('p');
  note.setAttribute('role', 'status');
  note.id = 'ferry-pairing-result';
  note.textContent = text;
  // The note is in the browser's language, which may read right to left on a page that does not.
  note.dir = chrome.i18n.getMessage('@@bidi_dir') || 'auto';
  note.style.cssText = 'font-weight: 600; padding: 0.75rem 1rem; border-radius: 0.5rem; background: #e7f3ec; color: #123;';
  document.body.prepend(note);
}

void pairFromThisPage().catch((error: unknown) => show(chrome.i18n.getMessage('pairingFailed', [error instanceof Error ? error.message : String(error)])));
