/**
 * @module popup/held-pairing
 * Under Proxy me: says when a friend's pairing link decides the volunteer, and removes it with one click.
 */

import { useEffect, useState } from 'preact/hooks';
import { useTranslator } from '../../web/i18n-context.ts';
import { PAIRINGS_STORAGE_KEY, type Pairings, parseStoredPairings } from '../pairings.ts';

export function HeldPairing() {
  const { t } = useTranslator();
  const [pairings, setPairings] = useState<Pairings | undefined>(undefined);
  useEffect(() => {
    const read = (): void => {
      void chrome.storage.local.get(PAIRINGS_STORAGE_KEY).then((stored) => setPairings(parseStoredPairings(stored[PAIRINGS_STORAGE_KEY])));
    };
    read();
    const onChanged = (changes: Record<string, chrome.storage.StorageChange>, area: string): void => {
      if (area === 'local' && changes[PAIRINGS_STORAGE_KEY] !== undefined) read();
    };
    chrome.storage.onChanged.addListener(onChanged);
    return () => chrome.storage.onChanged.removeListener(onChanged);
  }, []);
  if (pairings?.held === undefined) return null;
  return (
    <p id="held-pairing" class="muted small">
      {t('heldPairingNote')}{' '}
      <button
        type="button"
        class="link"
        id="remove-held-pairing"
        onClick={() => void chrome.storage.local.set({ [PAIRINGS_STORAGE_KEY]: { ...pairings, held: undefined } })}
      >
        {t('remove')}
      </button>
    </p>
  );
}
