// The volunteer's week: hour buckets from the relay's running totals, summed into the chart's seven local days.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import type { RelayStatus } from '../../../protocol/relay-status.ts';
import {
  HelpHistoryRecorder,
  type HelpHistoryStore,
  HISTORY_DAYS,
  HISTORY_HOURS,
  HISTORY_SAVE_INTERVAL_MS,
  HOUR_MS,
  type HourBucket,
  hourOf,
  localDayStart,
  oldestKeptHour,
  summarizeHistory,
} from '../../../relay-worker/help-history.ts';

/** The same contract as the IndexedDB store (browser-history-store.ts), kept in a Map; `failNext` makes a write fail. */
class MapHistoryStore implements HelpHistoryStore {
  readonly buckets = new Map<number, HourBucket>();
  writes = 0;
  failNext = false;
  async add(additions: readonly HourBucket[], oldest: number): Promise<void> {
    this.writes += 1;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('quota exceeded');
    }
    for (const addition of additions) {
      const bucket = this.buckets.get(addition.hour) ?? { hour: addition.hour, peopleHelped: 0, bytesRelayed: 0 };
      bucket.peopleHelped += addition.peopleHelped;
      bucket.bytesRelayed += addition.bytesRelayed;
      this.buckets.set(addition.hour, bucket);
    }
    for (const hour of this.buckets.keys()) if (hour < oldest) this.buckets.delete(hour);
  }
  async read(fromHour: number): Promise<HourBucket[]> {
    return [...this.buckets.values()].filter((bucket) => bucket.hour >= fromHour).sort((a, b) => a.hour - b.hour);
  }
}

function status(clientsTotal: number, bytes: number): RelayStatus {
  return { state: 'relaying', clientsNow: 1, clientsTotal, bytesClientToExit: bytes, bytesExitToClient: 0 };
}

const NOON = new Date(2026, 10, 27, 12, 0, 0).getTime();

test('seven local days, today last; today and the week are their sums; hours outside the week or ahead are left out', () => {
  const buckets: HourBucket[] = [
    { hour: hourOf(NOON), peopleHelped: 2, bytesRelayed: 100 },
    { hour: hourOf(NOON) - 2 * HOUR_MS, peopleHelped: 1, bytesRelayed: 50 },
    { hour: hourOf(NOON) - 3 * 24 * HOUR_MS, peopleHelped: 4, bytesRelayed: 400 },
    { hour: hourOf(NOON) - 7 * 24 * HOUR_MS, peopleHelped: 9, bytesRelayed: 900 }, // eight days ago: not in the chart
    { hour: hourOf(NOON) + 3 * HOUR_MS, peopleHelped: 5, bytesRelayed: 500 }, // a clock that ran ahead
  ];
  const summary = summarizeHistory(buckets, NOON);
  assert.equal(summary.days.length, HISTORY_DAYS);
  assert.equal(summary.days.at(-1)?.dayStart, localDayStart(NOON));
  assert.deepEqual(summary.today, { peopleHelped: 3, bytesRelayed: 150 });
  assert.deepEqual(summary.week, { peopleHelped: 7, bytesRelayed: 550 });
  assert.deepEqual(
    summary.days.map((day) => day.peopleHelped),
    [0, 0, 0, 4, 0, 0, 3],
  );
});

test('a day of 25 hours (summer time ends) is one day of the chart, and days start at local midnight', () => {
  const zone = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
  try {
    assert.notEqual(new Date(2026, 9, 24).getTimezoneOffset(), new Date(2026, 9, 26).getTimezoneOffset(), 'the zone took effect');
    // 25 October 2026: clocks go back at 03:00 in Berlin. 23:30 that evening is 24.5 hours after midnight.
    const lateOnLongDay = new Date(2026, 9, 25, 23, 30).getTime();
    const now = new Date(2026, 9, 26, 9, 0).getTime();
    const summary = summarizeHistory([{ hour: hourOf(lateOnLongDay), peopleHelped: 1, bytesRelayed: 1 }], now);
    const days = summary.days.map((day) => new Date(day.dayStart));
    assert.ok(
      days.every((day) => day.getHours() === 0 && day.getMinutes() === 0),
      days.join(', '),
    );
    assert.equal(days.at(-2)?.getDate(), 25);
    assert.equal(summary.days.at(-2)?.peopleHelped, 1, 'the late hour of the long day counts for that day');
    assert.equal(summary.today.peopleHelped, 0);
  } finally {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  }
});

let now = NOON;
beforeEach(() => {
  now = NOON;
  mock.timers.enable({ apis: ['setTimeout'] });
});
afterEach(() => mock.timers.reset());

/** Lets the recorder's promise chain run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the recorder writes the growth of the running totals: the first at once, more within the interval together', async () => {
  const store = new MapHistoryStore();
  const recorder = new HelpHistoryRecorder({ store, now: () => now });
  recorder.record(status(0, 0));
  await settle();
  assert.equal(store.writes, 0, 'nothing grew, nothing written');

  recorder.record(status(1, 1_000));
  await settle();
  assert.equal(store.writes, 1, 'someone was helped: written at once');
  recorder.record(status(1, 3_000));
  recorder.record(status(2, 7_000));
  await settle();
  assert.equal(store.writes, 1, 'growth within the interval waits');
  mock.timers.tick(HISTORY_SAVE_INTERVAL_MS);
  await settle();
  assert.equal(store.writes, 2, 'and goes in one write at its end');
  assert.deepEqual(await store.read(0), [{ hour: hourOf(NOON), peopleHelped: 2, bytesRelayed: 7_000 }]);

  mock.timers.tick(HISTORY_SAVE_INTERVAL_MS);
  await settle();
  assert.equal(store.writes, 2, 'no growth, no write, and no timer left running');
  recorder.record(status(2, 8_000));
  await settle();
  assert.equal(store.writes, 3, 'after a quiet spell the next growth is written at once again');
});

test('a restarted worker (totals that fall) starts a new baseline: nothing lost, nothing counted twice', async () => {
  const store = new MapHistoryStore();
  const recorder = new HelpHistoryRecorder({ store, now: () => now });
  recorder.record(status(3, 3_000));
  recorder.record(status(1, 500)); // a new worker's first report
  await recorder.close();
  assert.deepEqual(await store.read(0), [{ hour: hourOf(NOON), peopleHelped: 4, bytesRelayed: 3_500 }]);
});

test('growth is filed under the hour it happened in, and a failed write is kept for the next', async () => {
  const store = new MapHistoryStore();
  const problems: unknown[] = [];
  const recorder = new HelpHistoryRecorder({ store, now: () => now, onError: (error) => problems.push(error) });
  store.failNext = true;
  recorder.record(status(1, 100));
  await settle();
  assert.equal(problems.length, 1);
  assert.equal(store.buckets.size, 0);
  now = NOON + HOUR_MS;
  recorder.record(status(2, 300));
  await recorder.close();
  assert.deepEqual(await store.read(0), [
    { hour: hourOf(NOON), peopleHelped: 1, bytesRelayed: 100 },
    { hour: hourOf(NOON) + HOUR_MS, peopleHelped: 1, bytesRelayed: 200 },
  ]);
});

test('the store keeps at most HISTORY_HOURS buckets however long the volunteer runs', async () => {
  const store = new MapHistoryStore();
  const recorder = new HelpHistoryRecorder({ store, now: () => now });
  for (let hour = 0; hour < HISTORY_HOURS * 2; hour += 1) {
    now = NOON + hour * HOUR_MS;
    recorder.record(status(hour + 1, (hour + 1) * 10));
    await recorder.flush();
  }
  assert.equal(store.buckets.size, HISTORY_HOURS);
  assert.equal(Math.min(...store.buckets.keys()), oldestKeptHour(now));
  await recorder.close();
});
