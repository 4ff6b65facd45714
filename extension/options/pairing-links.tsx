/**
 * @module options/pairing-links
 * "Links for friends" (make one, copy it, revoke it) and "A link from a friend" (the one Proxy me uses, removable).
 * Writes chrome.storage.local under PAIRINGS_STORAGE_KEY; the service worker passes changes on to a running relay.
 */
import { useEffect, useState } from 'preact/hooks';
import { MAX_PAIRINGS_PER_VOLUNTEER } from '../../protocol/pairing.ts';
import { useTranslator } from '../../web/i18n-context.ts';
import {
  linkFor,
  type MadePairing,
  noPairings,
  PAIRINGS_STORAGE_KEY,
  PairingLimitError,
  type Pairings,
  parseStoredPairings,
  withNewLink,
  withoutLink,
} from '../pairings.ts';

async function loadPairings(): Promise<Pairings> {
  return parseStoredPairings((await chrome.storage.local.get(PAIRINGS_STORAGE_KEY))[PAIRINGS_STORAGE_KEY]);
}

async function savePairings(pairings: Pairings): Promise<void> {
  await chrome.storage.local.set({ [PAIRINGS_STORAGE_KEY]: pairings });
}

/** The link, or a note while the broker URL field holds no valid URL. */
function shareableLink(made: MadePairing, brokerUrl: string, fixBrokerUrl: string): string {
  try {
    return linkFor(made, brokerUrl);
  } catch {
    return fixBrokerUrl;
  }
}

export function PairingLinks({ brokerUrl }: { brokerUrl: string }) {
  const { t } = useTranslator();
  const [pairings, setPairings] = useState<Pairings>(noPairings());
  const [notice, setNotice] = useState('');

  useEffect(() => {
    void loadPairings().then(setPairings);
    const onChanged = (changes: Record<string, chrome.storage.StorageChange>, area: string): void => {
      if (area === 'local' && changes[PAIRINGS_STORAGE_KEY] !== undefined) setPairings(parseStoredPairings(changes[PAIRINGS_STORAGE_KEY].newValue));
    };
    chrome.storage.onChanged.addListener(onChanged);
    return () => chrome.storage.onChanged.removeListener(onChanged);
  }, []);

  async function makeLink(): Promise<void> {
    try {
      const { pairings: next } = withNewLink(await loadPairings(), Date.now());
      await savePairings(next);
      setNotice(t('noticeLinkMade'));
    } catch (error) {
      setNotice(error instanceof PairingLimitError ? t('noticeTooManyLinks', MAX_PAIRINGS_PER_VOLUNTEER) : t('couldNotMakeLink', String(error)));
    }
  }

  async function revoke(token: string): Promise<void> {
    await savePairings(withoutLink(await loadPairings(), token));
    setNotice(t('noticeLinkRevoked'));
  }

  async function forgetHeld(): Promise<void> {
    await savePairings({ ...(await loadPairings()), held: undefined });
    setNotice(t('noticePairingRemoved'));
  }

  return (
    <section aria-labelledby="pairing-heading">
      <h2 id="pairing-heading">{t('pairingHeading')}</h2>
      <p class="muted hint">{t('pairingExplain')}</p>
      <ul id="made-links">
        {pairings.made.map((made) => (
          <li key={made.token}>
            <input type="text" readonly value={shareableLink(made, brokerUrl, t('fixBrokerForLink'))} aria-label={t('linkToShare')} class="link" />
            <button type="button" class="revoke" onClick={() => void revoke(made.token)}>
              {t('revoke')}
            </button>
          </li>
        ))}
      </ul>
      <button type="button" id="make-link" onClick={() => void makeLink()}>
        {t('makeLink')}
      </button>
      <h2>{t('heldLinkHeading')}</h2>
      {pairings.held === undefined ? (
        <p id="held-link" class="muted hint">
          {t('heldLinkNone')}
        </p>
      ) : (
        <p id="held-link">
          {t('heldLinkThrough', pairings.held.brokerOrigin)}{' '}
          <button type="button" id="forget-held-link" onClick={() => void forgetHeld()}>
            {t('remove')}
          </button>
        </p>
      )}
      <p id="pairing-notice" role="status">
        {notice}
      </p>
    </section>
  );
}
