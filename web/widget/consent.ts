/**
 * @module consent
 * The visitor's opt-in to relaying from the widget. It lives in the widget frame's own storage, which browsers key
 * by the embedding site as well: it belongs to this visitor on this site, and no page script can set it.
 */

const CONSENT_KEY = 'ferry-widget-consent';
const CONSENT_VALUE = 'yes';

export function hasConsent(): boolean {
  try {
    return localStorage.getItem(CONSENT_KEY) === CONSENT_VALUE;
  } catch {
    return false; // storage blocked: ask again each visit
  }
}

export function giveConsent(): void {
  try {
    localStorage.setItem(CONSENT_KEY, CONSENT_VALUE);
  } catch {
    // storage blocked: the relay runs for this visit only
  }
}

export function withdrawConsent(): void {
  try {
    localStorage.removeItem(CONSENT_KEY);
  } catch {
    // nothing was kept
  }
}
