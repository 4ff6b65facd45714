/**
 * @module widget
 * The embeddable widget's frame, served from Ferry's origin (web/embed.ts puts it on a host page). Nothing relays
 * until the visitor clicks to opt in; the choice is remembered for this visitor (consent.ts) and withdrawn with one
 * click. The frame tells its host page only whether it is on and how many people it helps (protocol/widget-events.ts)
 * and listens to no message: the host can neither drive the relay nor read anything else of it.
 */
import type { ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { SiteConfig } from '../../protocol/site-config.ts';
import { WIDGET_EVENT_TYPE, type WidgetEvent } from '../../protocol/widget-events.ts';
import type { HistorySummary } from '../../relay-worker/help-history.ts';
import type { RelayStatus } from '../../relay-worker/index.ts';
import { HelpStats } from '../help-stats.tsx';
import type { Translator } from '../i18n.ts';
import { useTranslator } from '../i18n-context.ts';
import { loadTranslator } from '../load-catalog.ts';
import { PageVolunteer } from '../page-volunteer.ts';
import { renderTranslated } from '../render.tsx';
import { loadSiteConfig } from '../site.ts';
import { pageStatusText } from '../status-words.ts';
import { useNow } from '../use-now.ts';
import { giveConsent, hasConsent, withdrawConsent } from './consent.ts';
import '../web.css';
import './widget.css';

/** People one widget helps at once: it shares a visitor's tab with the site they came to read. */
const WIDGET_MAX_CLIENTS = 1;

const query = new URLSearchParams(location.search);
const THEMES = ['light', 'dark', 'auto'] as const;
const LAYOUTS = ['badge', 'card'] as const;
const theme = THEMES.find((name) => name === query.get('theme')) ?? 'auto';
const layout = LAYOUTS.find((name) => name === query.get('layout')) ?? 'badge';
if (theme !== 'auto') document.documentElement.dataset.theme = theme;
document.documentElement.dataset.layout = layout;

/** Tells the embedding page, if any, the two things it may know. */
function announce(event: Omit<WidgetEvent, 'type'>): void {
  if (window.parent === window) return;
  const message: WidgetEvent = { type: WIDGET_EVENT_TYPE, ...event };
  // '*': the host page is whoever embedded the widget, and these two figures are meant for it whoever it is.
  window.parent.postMessage(message, '*');
}

function Widget({ site }: { site: SiteConfig }) {
  const translator = useTranslator();
  const { t } = translator;
  const [consented, setConsented] = useState(hasConsent);
  const [status, setStatus] = useState<RelayStatus | undefined>(undefined);
  const [summary, setSummary] = useState<HistorySummary | undefined>(undefined);
  const [problem, setProblem] = useState('');
  const volunteer = useRef<PageVolunteer | undefined>(undefined);
  const now = useNow(status?.state === 'broker-unreachable');

  useEffect(() => {
    const created = new PageVolunteer({
      site,
      kind: 'widget',
      maxClients: WIDGET_MAX_CLIENTS,
      onStatus: setStatus,
      onHistory: setSummary,
      onProblem: setProblem,
    });
    volunteer.current = created;
    void created.refreshHistory();
    const flush = () => void created.stop();
    window.addEventListener('pagehide', flush);
    return () => window.removeEventListener('pagehide', flush);
  }, [site]);

  useEffect(() => {
    const current = volunteer.current;
    if (current === undefined) return;
    if (!consented) {
      if (current.running) void current.stop();
      return;
    }
    try {
      current.start();
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  }, [consented]);

  const on = consented && status !== undefined && status.state !== 'stopped';
  const helping = on ? (status?.clientsNow ?? 0) : 0;
  useEffect(() => announce({ on, helping }), [on, helping]);

  if (!consented) {
    return (
      <main class="widget">
        <p class="title">{t('widgetTitle')}</p>
        <p class="muted small">{t('widgetExplain')}</p>
        <button
          type="button"
          id="widget-opt-in"
          onClick={(event) => {
            // Only a person's click opts in; a script's synthetic click does not.
            if (!event.isTrusted) return;
            giveConsent();
            setConsented(true);
          }}
        >
          {t('widgetOptIn')}
        </button>
      </main>
    );
  }
  return (
    <main class="widget">
      <p id="widget-status" class="title">
        {pageStatusText(status, translator, now)}
      </p>
      {layout === 'card' && <HelpStats summary={summary} />}
      {layout === 'badge' && summary !== undefined && (
        <p id="widget-helped-week" class="muted small">
          {translator.plural('widgetHelpedWeek', summary.week.peopleHelped)}
        </p>
      )}
      <button
        type="button"
        id="widget-opt-out"
        class="secondary"
        onClick={() => {
          withdrawConsent();
          setConsented(false);
        }}
      >
        {t('stopHelping')}
      </button>
      {problem !== '' && (
        <p id="widget-problem" class="error small">
          {problem}
        </p>
      )}
    </main>
  );
}

const app = document.getElementById('app') as HTMLElement;
const show = (translator: Translator, page: ComponentChild): void => renderTranslated(translator, page, app);

// The host page's data-lang (passed by embed.js as ?lang=), else the visitor's browser language.
void loadTranslator(query.get('lang') ?? navigator.language).then((translator) => {
  loadSiteConfig(new URL('..', location.href)).then(
    (site) => show(translator, <Widget site={site} />),
    (error: unknown) =>
      show(
        translator,
        <main class="widget">
          <p id="widget-problem" class="error small">
            {translator.t('cannotStartHere', error instanceof Error ? error.message : String(error))}
          </p>
        </main>,
      ),
  );
});
