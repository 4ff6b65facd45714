/**
 * @module help-stats
 * People helped today and this week, bytes relayed, and the 7-day chart: the same block in the extension's popup, the
 * tab and the widget's card. It shows a HistorySummary (relay-worker/help-history.ts) and reads nothing itself.
 */
import type { HistoryDay, HistorySummary } from '../relay-worker/help-history.ts';
import { formatBytes } from '../relay-worker/status.ts';
import './help-stats.css';

function people(count: number): string {
  return count === 1 ? '1 person' : `${count} people`;
}

/** Bars of people helped per day, seven days, today last; each bar's title gives the day's figures. */
export function HistoryChart({ days, locale }: { days: readonly HistoryDay[]; locale?: string }) {
  const weekday = new Intl.DateTimeFormat(locale, { weekday: 'short' });
  const highest = Math.max(1, ...days.map((day) => day.peopleHelped));
  const width = 100 / Math.max(1, days.length);
  return (
    <figure class="history-chart" aria-label="People helped each day, the last seven days">
      <svg viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-hidden="true">
        {days.map((day, index) => {
          const height = (day.peopleHelped / highest) * 38;
          return (
            <rect key={day.dayStart} x={index * width + width * 0.15} y={40 - Math.max(height, 0.8)} width={width * 0.7} height={Math.max(height, 0.8)}>
              <title>{`${weekday.format(day.dayStart)}: ${people(day.peopleHelped)}, ${formatBytes(day.bytesRelayed)}`}</title>
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

export function HelpStats({ summary, locale }: { summary: HistorySummary | undefined; locale?: string }) {
  if (summary === undefined) return null;
  return (
    <section class="help-stats">
      <p id="helped-today">
        Helped today: <strong>{people(summary.today.peopleHelped)}</strong>; this week: <strong id="helped-week">{people(summary.week.peopleHelped)}</strong>
      </p>
      <p id="relayed-week" class="muted small">
        Relayed this week: {formatBytes(summary.week.bytesRelayed)}
      </p>
      <HistoryChart days={summary.days} {...(locale === undefined ? {} : { locale })} />
    </section>
  );
}
