/**
 * @module popup
 * The toolbar popup: two switches and honest one-line statuses. It owns no state: it shows the UiState the service
 * worker keeps in chrome.storage.session and follows its changes there; the switches are requests to the worker.
 */

import { useEffect, useState } from 'preact/hooks';
import { type HelpOthersState, type ProxyMeState, parseUiState, UI_STATE_STORAGE_KEY, type UiState } from '../../protocol/extension-state.ts';
import { IndexedDbHistoryStore } from '../../relay-worker/browser-history-store.ts';
import { HISTORY_SAVE_INTERVAL_MS, type HistorySummary, readHistorySummary } from '../../relay-worker/help-history.ts';
import { HelpStats } from '../../web/help-stats.tsx';
import { isolate } from '../../web/i18n.ts';
import { useTranslator } from '../../web/i18n-context.ts';
import { renderTranslated } from '../../web/render.tsx';
import { selfCheckText } from '../../web/self-check-words.ts';
import { useNow } from '../../web/use-now.ts';
import { PROXY_ME_AVAILABLE } from '../browser-target.ts';
import { chromeTranslator } from '../i18n.ts';
import { type BackgroundMessage, HELP_CHECK_REQUEST, parseSelfCheckResult } from '../messages.ts';
import {
  formatBytes,
  formatDuration,
  formatRate,
  HELPER_INSTALL_COMMAND,
  helpOthersStatusText,
  pathChangesText,
  proxyMeStatusText,
  throughVolunteersText,
} from '../status-text.ts';
import { currentThroughput } from '../traffic-rate.ts';
import { isProxyMeStopped } from '../ui-state.ts';
import { WholeDeviceSwitch } from './whole-device.tsx';
import '../ui.css';
import { HeldPairing } from './held-pairing.tsx';
import './popup.css';

function HelperInstallHint() {
  const { t } = useTranslator();
  const [copied, setCopied] = useState(false);
  return (
    <p class="hint">
      <button
        type="button"
        id="copy-install-command"
        onClick={() =>
          void navigator.clipboard.writeText(HELPER_INSTALL_COMMAND).then(
            () => setCopied(true),
            () => setCopied(false),
          )
        }
      >
        {copied ? t('copied') : t('copy')}
      </button>{' '}
      {t('helperRunHint')}
    </p>
  );
}

function ProxyMeStatus({ state }: { state: ProxyMeState }) {
  const translator = useTranslator();
  const { t } = translator;
  if (state.phase === 'helper-not-installed') {
    return (
      <>
        <p id="proxy-me-status" class="status error">
          {t('helperNotInstalledRun')} <code id="helper-install-command">{HELPER_INSTALL_COMMAND}</code>
        </p>
        <HelperInstallHint />
      </>
    );
  }
  const failing = state.phase === 'helper-stopped' || state.phase === 'failed';
  // Why there is no volunteer yet, or why the network cannot be reached (over rendezvous channels: each one tried,
  // and why it failed).
  const why =
    (['switching-volunteer', 'finding-volunteer', 'broker-unreachable'] as const).some((phase) => phase === state.phase) && state.detail !== ''
      ? state.detail
      : '';
  return (
    <>
      <p id="proxy-me-status" class={failing ? 'status error' : 'status'}>
        {proxyMeStatusText(state, translator)}
      </p>
      {why !== '' && (
        <p id="proxy-me-detail" class="muted small">
          {why}
        </p>
      )}
      {failing && (
        <p id="proxy-me-hint" class="hint">
          {/* Fail closed: once the proxy pointed at the helper it stays, so say why pages do not load. */}
          {state.socksPort > 0 ? `${t('pagesBlockedUntilOff')} ` : ''}
          {t('switchOffAndOn')}
        </p>
      )}
    </>
  );
}

/** Time connected, traffic (total and now), volunteer changes: shown once this switch-on has been connected. */
function ProxyMeStats({ state, nowMs }: { state: ProxyMeState; nowMs: number }) {
  const translator = useTranslator();
  const { t } = translator;
  const rate = currentThroughput(state.traffic, nowMs);
  const now = (bytesPerSecond: number | undefined): string =>
    bytesPerSecond === undefined ? '' : ` · ${t('rateNow', isolate(formatRate(bytesPerSecond), translator.dir))}`;
  return (
    <dl id="proxy-me-stats" class="stats">
      <dt>{t('connectedFor')}</dt>
      <dd id="proxy-me-duration">{formatDuration(nowMs - state.connectedSinceMs)}</dd>
      <dt>{t('received')}</dt>
      <dd id="proxy-me-received">
        {formatBytes(state.bytesDown)}
        <span class="muted">{now(rate?.downBytesPerSecond)}</span>
      </dd>
      <dt>{t('sent')}</dt>
      <dd id="proxy-me-sent">
        {formatBytes(state.bytesUp)}
        <span class="muted">{now(rate?.upBytesPerSecond)}</span>
      </dd>
      {state.volunteers > 0 && (
        <dd id="proxy-me-volunteers" class="muted">
          {throughVolunteersText(state.volunteers, translator)}
        </dd>
      )}
      <dd id="proxy-me-path-changes" class="muted">
        {pathChangesText(state.pathChanges, translator)}
      </dd>
      {state.brokerChannel !== '' && (
        <dd id="proxy-me-broker-channel" class="muted">
          {t('brokerReachedThrough', isolate(state.brokerChannel, translator.dir))}
        </dd>
      )}
    </dl>
  );
}

function ProxyMeSection({ state, onToggle, onWholeDevice }: { state: ProxyMeState; onToggle: (on: boolean) => void; onWholeDevice: (on: boolean) => void }) {
  const showStats = state.on && state.connectedSinceMs > 0 && !isProxyMeStopped(state);
  const nowMs = useNow(showStats);
  const { t } = useTranslator();
  return (
    <section class="feature">
      <label class="switch-row" for="proxy-me">
        <span class="feature-name">{t('proxyMe')}</span>
        <input
          type="checkbox"
          role="switch"
          id="proxy-me"
          aria-checked={state.on}
          checked={state.on}
          onChange={(event) => onToggle(event.currentTarget.checked)}
        />
      </label>
      <ProxyMeStatus state={state} />
      <HeldPairing />
      {(showStats || (state.on && state.wholeDevice !== 'off')) && <WholeDeviceSwitch state={state} onToggle={onWholeDevice} />}
      {showStats && <ProxyMeStats state={state} nowMs={nowMs} />}
      {state.on && state.webRtcGuard === 'not-controllable' && (
        <p id="proxy-me-webrtc-warning" class="muted small">
          {t('webRtcWarning')}
        </p>
      )}
    </section>
  );
}

/** The week the offscreen document records in the extension's IndexedDB (relay-worker/help-history.ts). */
const historyStore = new IndexedDbHistoryStore();

/** The week's history: read when the popup opens, when the relay's counts move, and while helping as it is saved. */
function useHelpHistory(state: HelpOthersState): HistorySummary | undefined {
  const [summary, setSummary] = useState<HistorySummary | undefined>(undefined);
  const [reads, setReads] = useState(0);
  // Read again when either changes: the counts moved, or a save interval passed.
  const moved = `${state.clientsTotal}:${state.bytesClientToExit + state.bytesExitToClient}`;
  useEffect(() => {
    readHistorySummary(historyStore, Date.now()).then(setSummary, () => setSummary(undefined));
  }, [moved, reads]);
  useEffect(() => {
    if (!state.on) return undefined;
    const timer = setInterval(() => setReads((count) => count + 1), HISTORY_SAVE_INTERVAL_MS);
    return () => clearInterval(timer);
  }, [state.on]);
  return summary;
}

/** The Firefox build has no Proxy me yet: say so where the switch would be, rather than offer one that cannot work. */
function ProxyMeUnavailable() {
  const { t } = useTranslator();
  return (
    <section class="feature">
      <p class="switch-row">
        <span class="feature-name">{t('proxyMe')}</span>
      </p>
      <p id="proxy-me-status" class="status muted">
        {t('proxyMeUnavailable')}
      </p>
    </section>
  );
}

/** "Am I helping?": asks the relay to check itself end to end (relay-worker/self-check.ts) and says what it found. */
function HelpCheck({ on }: { on: boolean }) {
  const translator = useTranslator();
  const { t } = translator;
  const [result, setResult] = useState<{ text: string; ok: boolean } | undefined>(undefined);
  const [running, setRunning] = useState(false);
  async function check(): Promise<void> {
    if (!on) {
      setResult({ text: t('checkNotOn'), ok: false });
      return;
    }
    setRunning(true);
    setResult(undefined);
    try {
      const reply = parseSelfCheckResult(await chrome.runtime.sendMessage(HELP_CHECK_REQUEST));
      setResult({ text: selfCheckText(reply, translator), ok: reply.ok });
    } catch (error) {
      setResult({ text: t('checkChannelFailed', error instanceof Error ? error.message : String(error)), ok: false });
    } finally {
      setRunning(false);
    }
  }
  return (
    <div class="help-check">
      <button type="button" class="link" id="am-i-helping" disabled={running} onClick={() => void check()}>
        {running ? t('checkRunning') : t('amIHelping')}
      </button>
      {result !== undefined && (
        <p id="check-result" class={result.ok ? 'small' : 'small error'} role="status">
          {result.text}
        </p>
      )}
    </div>
  );
}

function HelpOthersSection({ state, onToggle }: { state: HelpOthersState; onToggle: (on: boolean) => void }) {
  const relayed = state.bytesClientToExit + state.bytesExitToClient;
  const history = useHelpHistory(state);
  const nowMs = useNow(state.phase === 'broker-unreachable');
  const translator = useTranslator();
  return (
    <section class="feature">
      <label class="switch-row" for="help-others">
        <span class="feature-name">{translator.t('helpOthers')}</span>
        <input
          type="checkbox"
          role="switch"
          id="help-others"
          aria-checked={state.on}
          checked={state.on}
          onChange={(event) => onToggle(event.currentTarget.checked)}
        />
      </label>
      <p id="help-others-status" class={state.phase === 'failed' ? 'status error' : 'status'}>
        {helpOthersStatusText(state, translator, nowMs)}
      </p>
      {state.on && (state.clientsTotal > 0 || relayed > 0) && (
        <p id="help-others-bytes" class="muted">
          {translator.plural(
            'relayedSummary',
            state.clientsTotal,
            isolate(formatBytes(state.bytesClientToExit), translator.dir),
            isolate(formatBytes(state.bytesExitToClient), translator.dir),
          )}
        </p>
      )}
      {(state.on || (history?.week.peopleHelped ?? 0) > 0) && <HelpStats summary={history} />}
      <HelpCheck on={state.on} />
    </section>
  );
}

function Popup() {
  const { t } = useTranslator();
  const [state, setState] = useState<UiState | undefined>(undefined);
  const [problem, setProblem] = useState('');

  async function ask(message: BackgroundMessage): Promise<void> {
    try {
      const reply: unknown = await chrome.runtime.sendMessage(message);
      // The reply was taken when the request finished; storage may hold a newer state by the time it arrives.
      const stored: unknown = (await chrome.storage.session.get(UI_STATE_STORAGE_KEY))[UI_STATE_STORAGE_KEY];
      setState(parseUiState(stored ?? reply));
      setProblem('');
    } catch (error) {
      setProblem(t('backgroundNotAnswering', error instanceof Error ? error.message : String(error)));
    }
  }

  useEffect(() => {
    // The service worker stores every change in session storage: follow it (also while the worker sleeps).
    const onChanged = (changes: Record<string, chrome.storage.StorageChange>): void => {
      const change = changes[UI_STATE_STORAGE_KEY];
      if (change?.newValue === undefined) return;
      try {
        setState(parseUiState(change.newValue));
      } catch {
        // A malformed state changes nothing on screen.
      }
    };
    chrome.storage.session.onChanged.addListener(onChanged);
    // Asking also wakes the service worker, which makes the stored state true after a restart.
    void ask({ target: 'background', type: 'get-state' });
    return () => chrome.storage.session.onChanged.removeListener(onChanged);
  }, []);

  return (
    <main>
      <h1>{t('extName')}</h1>
      {state === undefined ? (
        <p class="muted">{t('loading')}</p>
      ) : (
        <>
          {PROXY_ME_AVAILABLE ? (
            <ProxyMeSection
              state={state.proxyMe}
              onToggle={(on) => void ask({ target: 'background', type: 'set-proxy-me', on })}
              onWholeDevice={(on) => void ask({ target: 'background', type: 'set-whole-device', on })}
            />
          ) : (
            <ProxyMeUnavailable />
          )}
          <HelpOthersSection state={state.helpOthers} onToggle={(on) => void ask({ target: 'background', type: 'set-help-others', on })} />
        </>
      )}
      {problem !== '' && <p class="error">{problem}</p>}
      <footer>
        <button type="button" class="link" id="open-options" onClick={() => void chrome.runtime.openOptionsPage()}>
          {t('settings')}
        </button>
      </footer>
    </main>
  );
}

renderTranslated(chromeTranslator(), <Popup />, document.getElementById('app') as HTMLElement);
