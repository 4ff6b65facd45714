/**
 * @module options/pairing-links
 * "Links for friends" (make one, copy it, revoke it) and "A link from a friend" (the one Proxy me uses, removable).
 * Writes chrome.storage.local under PAIRINGS_STORAGE_KEY; the service worker passes changes on to a running relay.
 */
import { useEffect, useState } from 'preact/hooks';
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
function shareableLink(made: MadePairing, brokerUrl: string): string {
  try {
    return linkFor(made, brokerUrl);
  } catch {
    return 'Fix the broker URL above to see this link.';
  }
}

export function PairingLinks({ brokerUrl }: { brokerUrl: string }) {
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
      setNotice('New link made. Send it to someone you trust; whoever has it can use your personal slots.');
    } catch (error) {
      setNotice(error instanceof PairingLimitError ? error.message : `Could not make a link: ${String(error)}`);
    }
  }

  async function revoke(token: string): Promise<void> {
    await savePairings(withoutLink(await loadPairings(), token));
    setNotice('Link revoked: whoever has it can no longer reach you through it.');
  }

  async function forgetHeld(): Promise<void> {
    await savePairings({ ...(await loadPairings()), held: undefined });
    setNotice('Pairing removed: Proxy me uses any volunteer from now on.');
  }

  return (
    <section aria-labelledby="pairing-heading">
      <h2 id="pairing-heading">Links for friends</h2>
      <p class="muted hint">
        While Help others is on, people who open one of your links are connected through you on slots kept for them, and nobody else gets those slots. Links use
        the broker above.
      </p>
      <ul id="made-links">
        {pairings.made.map((made) => (
          <li key={made.token}>
            <input type="text" readonly value={shareableLink(made, brokerUrl)} aria-label="Link to share" class="link" />
            <button type="button" class="revoke" onClick={() => void revoke(made.token)}>
              Revoke
            </button>
          </li>
        ))}
      </ul>
      <button type="button" id="make-link" onClick={() => void makeLink()}>
        Make a link for a friend
      </button>
      <h2>A link from a friend</h2>
      {pairings.held === undefined ? (
        <p id="held-link" class="muted hint">
          None. Open a friend's Ferry link in this browser to connect through them.
        </p>
      ) : (
        <p id="held-link">
          Proxy me goes through your friend's volunteer (link from {pairings.held.brokerOrigin}).{' '}
          <button type="button" id="forget-held-link" onClick={() => void forgetHeld()}>
            Remove
          </button>
        </p>
      )}
      <p id="pairing-notice" role="status">
        {notice}
      </p>
    </section>
  );
}
