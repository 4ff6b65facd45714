/**
 * @module tab
 * The Ferry tab: a page that relays for people behind censorship while it is open. Opening it is the choice to
 * help (a person came here on purpose), so it starts at once, says what it does, counts the week, and asks before
 * the tab closes while someone depends on it. Inside another site's frame it refuses to start: only the widget,
 * with its own opt-in click, may relay from a frame.
 */
import type { ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { SiteConfig } from '../../protocol/site-config.ts';
import type { HistorySummary } from '../../relay-worker/help-history.ts';
import type { RelayStatus } from '../../relay-worker/index.ts';
import { HelpStats } from '../help-stats.tsx';
import type { Translator } from '../i18n.ts';
import { useTranslator } from '../i18n-context.ts';
import { loadTranslator } from '../load-catalog.ts';
import { PageVolunteer } from '../page-volunteer.ts';
import { renderTranslated } from '../render.tsx';
import { selfCheckText } from '../self-check-words.ts';
import { loadSiteConfig } from '../site.ts';
import { pageStatusText } from '../status-words.ts';
import { useNow } from '../use-now.ts';
import '../web.css';
import './tab.css';

/** People one tab helps at once. */
const TAB_MAX_CLIENTS = 2;

const framed = window.top !== window.self;

function Tab({ site }: { site: SiteConfig }) {
  const translator = useTranslator();
  const { t } = translator;
  const [status, setStatus] = useState<RelayStatus | undefined>(undefined);
  const [summary, setSummary] = useState<HistorySummary | undefined>(undefined);
  const [problem, setProblem] = useState('');
  const [check, setCheck] = useState<{ text: string; ok: boolean } | 'running' | undefined>(undefined);
  const volunteer = useRef<PageVolunteer | undefined>(undefined);
  const now = useNow(status?.state === 'broker-unreachable');

  useEffect(() => {
    const created = new PageVolunteer({ site, kind: 'tab', maxClients: TAB_MAX_CLIENTS, onStatus: setStatus, onHistory: setSummary, onProblem: setProblem });
    volunteer.current = created;
    void created.refreshHistory();
    try {
      created.start();
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
    const flush = () => void created.stop();
    window.addEventListener('pagehide', flush);
    return () => window.removeEventListener('pagehide', flush);
  }, [site]);

  // Closing the tab drops the people it carries: ask first (browsers show their own words).
  useEffect(() => {
    const helping = (status?.clientsNow ?? 0) > 0;
    if (!helping) return undefined;
    const warn = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = '';
    };
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [status?.clientsNow]);

  const running = status !== undefined && status.state !== 'stopped';
  const toggle = () => {
    const current = volunteer.current;
    if (current === undefined) return;
    if (current.running) void current.stop();
    else {
      setProblem('');
      try {
        current.start();
      } catch (error) {
        setProblem(error instanceof Error ? error.message : String(error));
      }
    }
  };
  return (
    <main>
      <h1>{t('extName')}</h1>
      <p class="muted">{t('tabIntro')}</p>
      <p id="tab-status" class={status?.state === 'broker-unreachable' ? 'status error' : 'status'}>
        {pageStatusText(status, translator, now)}
      </p>
      {status?.lastError !== undefined && status.state !== 'relaying' && (
        <p id="tab-detail" class="muted small">
          {status.lastError}
        </p>
      )}
      <p>
        <button type="button" id="tab-toggle" class={running ? 'secondary' : ''} onClick={toggle}>
          {running ? t('stopHelping') : t('startHelping')}
        </button>
      </p>
      <p>
        <button
          type="button"
          class="secondary"
          id="am-i-helping"
          disabled={check === 'running'}
          onClick={() => {
            const current = volunteer.current;
            if (current === undefined || !current.running) {
              setCheck({ text: t('checkNotOn'), ok: false });
              return;
            }
            setCheck('running');
            void current.selfCheck().then((result) => setCheck({ text: selfCheckText(result, translator), ok: result.ok }));
          }}
        >
          {check === 'running' ? t('checkRunning') : t('amIHelping')}
        </button>
      </p>
      {check !== undefined && check !== 'running' && (
        <p id="check-result" class={check.ok ? 'small' : 'small error'} role="status">
          {check.text}
        </p>
      )}
      <HelpStats summary={summary} />
      {problem !== '' && (
        <p id="tab-problem" class="error small">
          {problem}
        </p>
      )}
    </main>
  );
}

function Refusal({ message }: { message: string }) {
  return (
    <main>
      <h1>{useTranslator().t('extName')}</h1>
      <p id="tab-status" class="status error">
        {message}
      </p>
    </main>
  );
}

const app = document.getElementById('app') as HTMLElement;
const show = (translator: Translator, page: ComponentChild): void => renderTranslated(translator, page, app);

// ?lang= picks a language (a link can carry it); the browser's otherwise.
void loadTranslator(new URLSearchParams(location.search).get('lang') ?? navigator.language).then((translator) => {
  document.title = translator.t('tabTitle');
  if (framed) {
    show(translator, <Refusal message={translator.t('tabFramed')} />);
    return;
  }
  loadSiteConfig(new URL('..', location.href)).then(
    (site) => show(translator, <Tab site={site} />),
    (error: unknown) => show(translator, <Refusal message={translator.t('cannotStartHere', error instanceof Error ? error.message : String(error))} />),
  );
});
