/**
 * @module popup
 * The toolbar popup: two switches and honest one-line statuses. It owns no state: it asks the service worker for the
 * current UiState and follows its broadcasts.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { messageTarget, parsePopupMessage, parseUiState, type BackgroundMessage } from '../messages.ts';
import { formatBytes, HELPER_INSTALL_COMMAND, helpOthersStatusText, proxyMeStatusText } from '../status-text.ts';
import type { HelpOthersState, ProxyMeState, UiState } from '../ui-state.ts';
import '../ui.css';
import './popup.css';

function ProxyMeStatus({ state }: { state: ProxyMeState }) {
  if (state.phase === 'helper-not-installed') {
    return (
      <p id="proxy-me-status" class="status error">
        Helper not installed: run <code>{HELPER_INSTALL_COMMAND}</code>
      </p>
    );
  }
  const failing = state.phase === 'helper-stopped' || state.phase === 'failed';
  return (
    <p id="proxy-me-status" class={failing ? 'status error' : 'status'}>
      {proxyMeStatusText(state)}
    </p>
  );
}

function ProxyMeSection({ state, onToggle }: { state: ProxyMeState; onToggle: (on: boolean) => void }) {
  const showBytes = state.on && (state.phase === 'connected' || state.bytesUp > 0 || state.bytesDown > 0);
  return (
    <section class="feature">
      <label class="switch-row" for="proxy-me">
        <span class="feature-name">Proxy me</span>
        <input type="checkbox" role="switch" id="proxy-me" checked={state.on} onChange={(event) => onToggle(event.currentTarget.checked)} />
      </label>
      <ProxyMeStatus state={state} />
      {showBytes && (
        <p id="proxy-me-bytes" class="muted">
          Sent {formatBytes(state.bytesUp)} · Received {formatBytes(state.bytesDown)}
        </p>
      )}
    </section>
  );
}

function HelpOthersSection({ state, onToggle }: { state: HelpOthersState; onToggle: (on: boolean) => void }) {
  const relayed = state.bytesClientToExit + state.bytesExitToClient;
  return (
    <section class="feature">
      <label class="switch-row" for="help-others">
        <span class="feature-name">Help others</span>
        <input type="checkbox" role="switch" id="help-others" checked={state.on} onChange={(event) => onToggle(event.currentTarget.checked)} />
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
      setState(parseUiState(await chrome.runtime.sendMessage(message)));
      setProblem('');
    } catch (error) {
      setProblem(`The extension's background is not answering (${error instanceof Error ? error.message : String(error)}).`);
    }
  }

  useEffect(() => {
    const onMessage = (raw: unknown): undefined => {
      if (messageTarget(raw) !== 'popup') return undefined;
      try {
        setState(parsePopupMessage(raw).state);
      } catch {
        // A malformed broadcast changes nothing on screen.
      }
      return undefined;
    };
    chrome.runtime.onMessage.addListener(onMessage);
    void ask({ target: 'background', type: 'get-state' });
    return () => chrome.runtime.onMessage.removeListener(onMessage);
  }, []);

  return (
    <main>
      <h1>Ferry</h1>
      {state === undefined ? (
        <p class="muted">Loading…</p>
      ) : (
        <>
          <ProxyMeSection state={state.proxyMe} onToggle={(on) => void ask({ target: 'background', type: 'set-proxy-me', on })} />
          <HelpOthersSection state={state.helpOthers} onToggle={(on) => void ask({ target: 'background', type: 'set-help-others', on })} />
        </>
      )}
      {problem !== '' && <p class="error">{problem}</p>}
      <footer>
        <a
          id="open-options"
          href="#"
          onClick={(event) => {
            event.preventDefault();
            void chrome.runtime.openOptionsPage();
          }}
        >
          Settings
        </a>
      </footer>
    </main>
  );
}

render(<Popup />, document.getElementById('app') as HTMLElement);
