/**
 * @module popup
 * The toolbar popup: two switches and honest one-line statuses. It owns no state: it shows the UiState the service
 * worker keeps in chrome.storage.session and follows its changes there; the switches are requests to the worker.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type HelpOthersState, type ProxyMeState, parseUiState, UI_STATE_STORAGE_KEY, type UiState } from '../../protocol/extension-state.ts';
import { PROXY_ME_AVAILABLE } from '../browser-target.ts';
import type { BackgroundMessage } from '../messages.ts';
import { formatBytes, formatDuration, formatRate, HELPER_INSTALL_COMMAND, helpOthersStatusText, pathChangesText, proxyMeStatusText } from '../status-text.ts';
import { currentThroughput } from '../traffic-rate.ts';
import { isProxyMeStopped } from '../ui-state.ts';
import '../ui.css';
import { HeldPairing } from './held-pairing.tsx';
import './popup.css';

/** How often the clock and the throughput on screen move on (ms). */
const TICK_MS = 1_000;

/** The current time, re-read every TICK_MS while `ticking`. */
function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}

function HelperInstallHint() {
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
        {copied ? 'Copied' : 'Copy'}
      </button>{' '}
      Run it in a terminal, then switch Proxy me off and on.
    </p>
  );
}

function ProxyMeStatus({ state }: { state: ProxyMeState }) {
  if (state.phase === 'helper-not-installed') {
    return (
      <>
        <p id="proxy-me-status" class="status error">
          Helper not installed: run <code id="helper-install-command">{HELPER_INSTALL_COMMAND}</code>
        </p>
        <HelperInstallHint />
      </>
    );
  }
  const failing = state.phase === 'helper-stopped' || state.phase === 'failed';
  const why = (state.phase === 'switching-volunteer' || state.phase === 'finding-volunteer') && state.detail !== '' ? state.detail : '';
  return (
    <>
      <p id="proxy-me-status" class={failing ? 'status error' : 'status'}>
        {proxyMeStatusText(state)}
      </p>
      {why !== '' && (
        <p id="proxy-me-detail" class="muted small">
          {why}
        </p>
      )}
      {failing && (
        <p id="proxy-me-hint" class="hint">
          {/* Fail closed: once the proxy pointed at the helper it stays, so say why pages do not load. */}
          {state.socksPort > 0 ? 'Pages stay blocked until you switch Proxy me off. ' : ''}Switch it off and on to try again.
        </p>
      )}
    </>
  );
}

/** Time connected, traffic (total and now), volunteer changes: shown once this switch-on has been connected. */
function ProxyMeStats({ state, nowMs }: { state: ProxyMeState; nowMs: number }) {
  const rate = currentThroughput(state.traffic, nowMs);
  const now = (bytesPerSecond: number | undefined): string => (bytesPerSecond === undefined ? '' : ` · ${formatRate(bytesPerSecond)} now`);
  return (
    <dl id="proxy-me-stats" class="stats">
      <dt>Connected for</dt>
      <dd id="proxy-me-duration">{formatDuration(nowMs - state.connectedSinceMs)}</dd>
      <dt>Received</dt>
      <dd id="proxy-me-received">
        {formatBytes(state.bytesDown)}
        <span class="muted">{now(rate?.downBytesPerSecond)}</span>
      </dd>
      <dt>Sent</dt>
      <dd id="proxy-me-sent">
        {formatBytes(state.bytesUp)}
        <span class="muted">{now(rate?.upBytesPerSecond)}</span>
      </dd>
      <dd id="proxy-me-path-changes" class="muted">
        {pathChangesText(state.pathChanges)}
      </dd>
    </dl>
  );
}

function ProxyMeSection({ state, onToggle }: { state: ProxyMeState; onToggle: (on: boolean) => void }) {
  const showStats = state.on && state.connectedSinceMs > 0 && !isProxyMeStopped(state);
  const nowMs = useNow(showStats);
  return (
    <section class="feature">
      <label class="switch-row" for="proxy-me">
        <span class="feature-name">Proxy me</span>
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
      {showStats && <ProxyMeStats state={state} nowMs={nowMs} />}
      {state.on && state.webRtcGuard === 'not-controllable' && (
        <p id="proxy-me-webrtc-warning" class="muted small">
          Web pages may still use WebRTC outside Ferry: another extension or a browser policy controls that setting.
        </p>
      )}
    </section>
  );
}

/** The Firefox build has no Proxy me yet: say so where the switch would be, rather than offer one that cannot work. */
function ProxyMeUnavailable() {
  return (
    <section class="feature">
      <p class="switch-row">
        <span class="feature-name">Proxy me</span>
      </p>
      <p id="proxy-me-status" class="status muted">
        Not available in Firefox yet. Help others works here; to browse through a volunteer, use Ferry in Chromium or Chrome.
      </p>
    </section>
  );
}

function HelpOthersSection({ state, onToggle }: { state: HelpOthersState; onToggle: (on: boolean) => void }) {
  const relayed = state.bytesClientToExit + state.bytesExitToClient;
  return (
    <section class="feature">
      <label class="switch-row" for="help-others">
        <span class="feature-name">Help others</span>
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
        {helpOthersStatusText(state)}
      </p>
      {state.on && (state.clientsTotal > 0 || relayed > 0) && (
        <p id="help-others-bytes" class="muted">
          Relayed {formatBytes(state.bytesClientToExit)} up · {formatBytes(state.bytesExitToClient)} down · {state.clientsTotal}{' '}
          {state.clientsTotal === 1 ? 'person' : 'people'} helped
        </p>
      )}
    </section>
  );
}

function Popup() {
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
      setProblem(`The extension's background is not answering (${error instanceof Error ? error.message : String(error)}).`);
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
      <h1>Ferry</h1>
      {state === undefined ? (
        <p class="muted">Loading…</p>
      ) : (
        <>
          {PROXY_ME_AVAILABLE ? (
            <ProxyMeSection state={state.proxyMe} onToggle={(on) => void ask({ target: 'background', type: 'set-proxy-me', on })} />
          ) : (
            <ProxyMeUnavailable />
          )}
          <HelpOthersSection state={state.helpOthers} onToggle={(on) => void ask({ target: 'background', type: 'set-help-others', on })} />
        </>
      )}
      {problem !== '' && <p class="error">{problem}</p>}
      <footer>
        <button type="button" class="link" id="open-options" onClick={() => void chrome.runtime.openOptionsPage()}>
          Settings
        </button>
      </footer>
    </main>
  );
}

render(<Popup />, document.getElementById('app') as HTMLElement);
