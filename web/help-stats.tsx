/**
 * @module help-stats
 * People helped today and this week, bytes relayed, and the 7-day chart: the same block in the extension's popup, the
 * tab and the widget's card. It shows a HistorySummary (relay-worker/help-history.ts) and reads nothing itself.
 */
import type { HistoryDay, HistorySummary } from '../relay-worker/help-history.ts';
import { formatBytes } from '../relay-worker/status.ts';
import { isolate } from './i18n.ts';
import { useTranslator } from './i18n-context.ts';
import './help-stats.css';

/** Bars of people helped per day, seven days, today last; each bar's title gives the day's figures. */
export function HistoryChart({ days }: { days: readonly HistoryDay[] }) {
  const translator = useTranslator();
  const weekday = new Intl.DateTimeFormat(translator.locale, { weekday: 'short' });
  const highest = Math.max(1, ...days.map((day) => day.peopleHelped));
  const width = 100 / Math.max(1, days.length);
  // Bars run in reading order: right to left in Persian and Arabic, as the labels under them do.
  const x = (index: number): number => (translator.dir === 'rtl' ? days.length - 1 - index : index) * width + width * 0.15;
  return (
    <figure class="history-chart" aria-label={translator.t('chartLabel')}>
      <svg viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-hidden="true">
        {days.map((day, index) => {
          const height = Math.max((day.peopleHelped / highest) * 38, 0.8);
          return (
            <rect key={day.dayStart} x={x(index)} y={40 - height} width={width * 0.7} height={height}>
              <title>
                {translator.plural('chartDay', day.peopleHelped, weekday.format(day.dayStart), isolate(formatBytes(day.bytesRelayed), translator.dir))}
              </title>
            </rect>
          );
        })}
      </svg>
      <figcaption>
        {days.map((day) => (
          <span key={day.dayStart}>{weekday.format(day.dayStart)}</span>
        ))}
      </figcaption>
    </figure>
  );
}

export function HelpStats({ summary }: { summary: HistorySummary | undefined }) {
  const translator = useTranslator();
  if (summary === undefined) return null;
  return (
    <section class="help-stats">
      <p id="helped-today">{translator.plural('helpedToday', summary.today.peopleHelped)}</p>
      <p id="helped-week">{translator.plural('helpedWeek', summary.week.peopleHelped)}</p>
      <p id="relayed-week" class="muted small">
        {translator.t('relayedWeek', isolate(formatBytes(summary.week.bytesRelayed), translator.dir))}
      </p>
      <HistoryChart days={summary.days} />
    </section>
  );
}
