/**
 * @module options/network-channels
 * The settings page's "How Ferry reaches the network": the rendezvous channels of the network's signed configuration
 * (the exit list Proxy me keeps), in the order they are tried, the one that worked last marked; and a field to paste a
 * configuration a friend or the operator shared, for a first start where the broker is already blocked (Ferry cannot
 * learn the channels from a broker it cannot reach). A pasted configuration is kept only if it is signed by one of
 * the pinned keys; nothing unverified is stored.
 */
import { useEffect, useState } from 'preact/hooks';
import { type SignedExitList, type VerifiedExitList, verifyExitList } from '../../protocol/exit-list.ts';
import { KNOWN_EXIT_LIST_STORAGE_KEY, LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY } from '../../protocol/extension-state.ts';
import { channelName, orderChannels } from '../../protocol/rendezvous.ts';
import { isolate } from '../../web/i18n.ts';
import { useTranslator } from '../../web/i18n-context.ts';

interface KeptConfiguration {
  list: VerifiedExitList;
  signed: SignedExitList;
}

/** The kept configuration, verified again with today's keys (a key removed since no longer vouches for it). */
async function readKept(exitListKeys: readonly string[]): Promise<{ kept?: KeptConfiguration; lastWorked?: string }> {
  const stored = await chrome.storage.local.get([KNOWN_EXIT_LIST_STORAGE_KEY, LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY]);
  const lastWorked = stored[LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY];
  const result: { kept?: KeptConfiguration; lastWorked?: string } = typeof lastWorked === 'string' ? { lastWorked } : {};
  const signed: unknown = stored[KNOWN_EXIT_LIST_STORAGE_KEY];
  if (signed === undefined) return result;
  try {
    result.kept = { list: verifyExitList(signed, exitListKeys, Date.now()), signed: signed as SignedExitList };
  } catch {
    // Not shown: a list no pinned key vouches for is not this network's.
  }
  return result;
}

export function NetworkChannels({ exitListKeys }: { exitListKeys: readonly string[] }) {
  const { t, dir, locale } = useTranslator();
  const [kept, setKept] = useState<KeptConfiguration | undefined>(undefined);
  const [lastWorked, setLastWorked] = useState<string | undefined>(undefined);
  const [pasted, setPasted] = useState('');
  const [notice, setNotice] = useState('');
  const [refusal, setRefusal] = useState('');
  const keysText = exitListKeys.join('\n');

  const refresh = async (): Promise<void> => {
    const read = await readKept(exitListKeys);
    setKept(read.kept);
    setLastWorked(read.lastWorked);
  };
  // biome-ignore lint/correctness/useExhaustiveDependencies: read again when the pinned keys change (keysText stands for them)
  useEffect(() => {
    void refresh();
  }, [keysText]);

  async function usePasted(): Promise<void> {
    setNotice('');
    setRefusal('');
    let document: unknown;
    try {
      document = JSON.parse(pasted);
    } catch {
      setRefusal(t('networkConfigRefused', t('networkConfigNotJson')));
      return;
    }
    try {
      verifyExitList(document, exitListKeys, Date.now());
    } catch (error) {
      setRefusal(t('networkConfigRefused', error instanceof Error ? error.message : String(error)));
      return;
    }
    const { payload, signature } = document as SignedExitList;
    await chrome.storage.local.set({ [KNOWN_EXIT_LIST_STORAGE_KEY]: { payload, signature } });
    setPasted('');
    setNotice(t('networkConfigSaved'));
    await refresh();
  }

  async function copyKept(): Promise<void> {
    if (kept === undefined) return;
    await navigator.clipboard.writeText(JSON.stringify({ payload: kept.signed.payload, signature: kept.signed.signature }));
    setNotice(t('networkConfigCopied'));
  }

  const channels = kept?.list.rendezvous === undefined ? [] : orderChannels(kept.list.rendezvous.channels, lastWorked);
  return (
    <section id="network-channels" aria-labelledby="network-channels-title">
      <h2 id="network-channels-title">{t('networkChannelsTitle')}</h2>
      <p class="muted hint">{t('networkChannelsHint')}</p>
      {kept === undefined ? (
        <p id="network-channels-unknown">{t('networkChannelsUnknown')}</p>
      ) : channels.length === 0 ? (
        <p id="network-channels-none">{t('networkChannelsNone')}</p>
      ) : (
        <ol id="network-channels-list">
          {channels.map((channel) => {
            const name = channelName(channel);
            return (
              <li key={name} data-kind={channel.kind}>
                {t(`networkChannelKind_${channel.kind}`)}: {isolate(name, dir)}
                {name === lastWorked && <span class="muted"> ({t('networkChannelWorkedLast')})</span>}
              </li>
            );
          })}
        </ol>
      )}
      {kept !== undefined && (
        <p class="muted hint" id="network-config-valid-until">
          {t('networkConfigValidUntil', new Date(kept.list.expiresAt).toLocaleDateString(locale))}{' '}
          <button type="button" id="network-config-copy" onClick={() => void copyKept()}>
            {t('networkConfigCopy')}
          </button>
        </p>
      )}
      <div class="field">
        <label for="network-config-paste">{t('networkConfigPasteLabel')}</label>
        <textarea
          id="network-config-paste"
          rows={4}
          spellcheck={false}
          value={pasted}
          aria-describedby="network-config-paste-hint network-config-refusal"
          onInput={(event) => {
            setPasted(event.currentTarget.value);
            setRefusal('');
            setNotice('');
          }}
        />
        <p id="network-config-paste-hint" class="muted hint">
          {t('networkConfigPasteHint')}
        </p>
        <p id="network-config-refusal" class="error" role="alert">
          {refusal}
        </p>
      </div>
      <div class="actions">
        <button type="button" id="network-config-use" disabled={pasted.trim() === ''} onClick={() => void usePasted()}>
          {t('networkConfigUse')}
        </button>
      </div>
      <p id="network-config-notice" role="status">
        {notice}
      </p>
    </section>
  );
}
