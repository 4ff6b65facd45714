/**
 * @module help-history
 * What a volunteer has done over the last week, for the "helped today / this week" lines and the 7-day chart of the
 * extension's popup, the Ferry tab and the widget: people helped and bytes relayed per hour. The relay core reports
 * running totals since it started (RelayStatus); HelpHistoryRecorder turns their growth into per-hour additions and
 * hands them to a HelpHistoryStore (IndexedDB in browsers: browser-history-store.ts) at most every
 * HISTORY_SAVE_INTERVAL_MS, and at once when the shell stops it. The store keeps at most HISTORY_HOURS buckets, so
 * the history has a fixed bound however long a volunteer runs. Runtime-neutral.
 */
import type { RelayStatus } from '../protocol/relay-status.ts';

export const HOUR_MS = 60 * 60_000;
export const DAY_MS = 24 * HOUR_MS;
/** Days the chart shows. */
export const HISTORY_DAYS = 7;
/** Hour buckets kept: the chart's seven days plus one, so the oldest shown day is whole in every time zone. */
export const HISTORY_HOURS = (HISTORY_DAYS + 1) * 24;
/**
 * Least time between two writes while the volunteer works (ms). A closed tab or a killed browser loses at most this
 * much; a write each second would cost a database transaction each second.
 */
export const HISTORY_SAVE_INTERVAL_MS = 5_000;

/** One hour of a volunteer's work. `hour` is the hour's first millisecond since the epoch (a multiple of HOUR_MS). */
export interface HourBucket {
  hour: number;
  peopleHelped: number;
  bytesRelayed: number;
}

/** Where the buckets live. add() adds to a bucket (creating it) and drops buckets older than `oldestKeptHour`. */
export interface HelpHistoryStore {
  add(additions: readonly HourBucket[], oldestKeptHour: number): Promise<void>;
  /** Every bucket from `fromHour` on, oldest first. */
  read(fromHour: number): Promise<HourBucket[]>;
}

/** The first millisecond of the hour `time` falls in. */
export function hourOf(time: number): number {
  return Math.floor(time / HOUR_MS) * HOUR_MS;
}

/** The oldest hour a store keeps when it is `now`. */
export function oldestKeptHour(now: number): number {
  return hourOf(now) - (HISTORY_HOURS - 1) * HOUR_MS;
}

/** One day of the chart: local midnight (ms since the epoch) and that day's sums. */
export interface HistoryDay {
  dayStart: number;
  peopleHelped: number;
  bytesRelayed: number;
}

export interface HistorySummary {
  /** Seven days, oldest first; the last is today (local time). Days with nothing are there with zeros. */
  days: HistoryDay[];
  today: { peopleHelped: number; bytesRelayed: number };
  week: { peopleHelped: number; bytesRelayed: number };
}

/** Local midnight of the day `time` falls in (the volunteer's own calendar, not UTC). */
export function localDayStart(time: number): number {
  const date = new Date(time);
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** Sums buckets into the chart's seven local days ending today; buckets outside those days are left out. */
export function summarizeHistory(buckets: readonly HourBucket[], now: number): HistorySummary {
  const days: HistoryDay[] = [];
  let dayStart = localDayStart(now);
  for (let index = 0; index < HISTORY_DAYS; index += 1) {
    days.unshift({ dayStart, peopleHelped: 0, bytesRelayed: 0 });
    // Back one local day: noon of the previous day, then its midnight (days are 23 or 25 hours around DST changes).
    dayStart = localDayStart(dayStart - 12 * HOUR_MS);
  }
  for (const bucket of buckets) {
    if (bucket.hour > now) continue;
    let day: HistoryDay | undefined;
    for (const candidate of days) if (candidate.dayStart <= bucket.hour) day = candidate;
    if (day === undefined) continue;
    day.peopleHelped += bucket.peopleHelped;
    day.bytesRelayed += bucket.bytesRelayed;
  }
  const last = days[days.length - 1] as HistoryDay;
  return {
    days,
    today: { peopleHelped: last.peopleHelped, bytesRelayed: last.bytesRelayed },
    week: {
      peopleHelped: days.reduce((sum, day) => sum + day.peopleHelped, 0),
      bytesRelayed: days.reduce((sum, day) => sum + day.bytesRelayed, 0),
    },
  };
}

/** Reads the store's week and sums it. */
export async function readHistorySummary(store: HelpHistoryStore, now: number): Promise<HistorySummary> {
  return summarizeHistory(await store.read(oldestKeptHour(now)), now);
}

export interface HelpHistoryRecorderInit {
  store: HelpHistoryStore;
  /** ms since the epoch; tests move it. */
  now?: () => number;
  /** A write failed (quota, a closed database); the additions stay pending and go with the next write. */
  onError?: (error: unknown) => void;
}

/**
 * Follows one RelayWorker's status reports and records their growth. A new worker (totals that fall) starts a new
 * baseline, so a restart neither loses nor counts anything twice.
 */
export class HelpHistoryRecorder {
  readonly #store: HelpHistoryStore;
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  #lastPeople = 0;
  #lastBytes = 0;
  /** Additions not yet written, by hour: at most two entries in practice (the hour and the one before). */
  readonly #pending = new Map<number, HourBucket>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(init: HelpHistoryRecorderInit) {
    this.#store = init.store;
    this.#now = init.now ?? (() => Date.now());
    this.#onError = init.onError ?? (() => undefined);
  }

  /** Feed it every status report of the worker. */
  record(status: RelayStatus): void {
    const bytes = status.bytesClientToExit + status.bytesExitToClient;
    if (status.clientsTotal < this.#lastPeople || bytes < this.#lastBytes) {
      this.#lastPeople = 0;
      this.#lastBytes = 0;
    }
    const people = status.clientsTotal - this.#lastPeople;
    const relayed = bytes - this.#lastBytes;
    this.#lastPeople = status.clientsTotal;
    this.#lastBytes = bytes;
    if (people === 0 && relayed === 0) return;
    this.#merge({ hour: hourOf(this.#now()), peopleHelped: people, bytesRelayed: relayed });
    // The first growth after a quiet spell writes at once (someone was just helped: the popup should say so); more
    // growth within HISTORY_SAVE_INTERVAL_MS waits for the end of it.
    if (this.#timer === undefined) {
      void this.flush();
      this.#startQuietSpell();
    }
  }

  /** Writes what is pending now (a shell calls it when it stops); resolves when written or failed. */
  flush(): Promise<void> {
    if (this.#pending.size === 0) return this.#writing;
    const additions = [...this.#pending.values()];
    this.#pending.clear();
    const write = this.#writing.then(() =>
      this.#store.add(additions, oldestKeptHour(this.#now())).catch((error: unknown) => {
        for (const addition of additions) this.#merge(addition);
        this.#onError(error);
      }),
    );
    this.#writing = write;
    return write;
  }

  /** Stops the timer and writes what is pending. */
  close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    return this.flush();
  }

  #startQuietSpell(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#pending.size === 0) return;
      void this.flush();
      this.#startQuietSpell();
    }, HISTORY_SAVE_INTERVAL_MS);
  }

  #merge(addition: HourBucket): void {
    const bucket = this.#pending.get(addition.hour) ?? { hour: addition.hour, peopleHelped: 0, bytesRelayed: 0 };
    bucket.peopleHelped += addition.peopleHelped;
    bucket.bytesRelayed += addition.bytesRelayed;
    this.#pending.set(addition.hour, bucket);
  }
}
