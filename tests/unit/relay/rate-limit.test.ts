// The volunteer's bandwidth cap (relay-worker/rate-limit.ts) on a clock the test moves: the long-run rate is the cap,
// a record is never split and never waits forever, waiters are woken in turn, and a cancelled waiter is forgotten.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RateLimitClock, RelayRateLimit } from '../../../relay-worker/rate-limit.ts';

/** A clock that moves only when told to, running due timers in order. */
class ManualClock implements RateLimitClock {
  time = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();
  #nextId = 1;
  now(): number {
    return this.time;
  }
  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.time + delayMs, callback });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  get pendingTimers(): number {
    return this.#timers.size;
  }
  /** Moves to the next due timer (or by `ms` if none is due sooner) and runs what is due. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, timer]) => timer.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].callback();
    }
    this.time = until;
  }
}

/** A sender of `recordBytes` records through `limit` as fast as it lets them: counts what went. */
function greedySender(limit: RelayRateLimit, recordBytes: number): { sent: () => number; stop: () => void } {
  let sent = 0;
  let stopped = false;
  const pump = (): void => {
    while (!stopped) {
      if (!limit.tryTake(recordBytes)) {
        limit.whenAvailable(pump);
        return;
      }
      sent += recordBytes;
    }
  };
  pump();
  return {
    sent: () => sent,
    stop: () => {
      stopped = true;
      limit.cancel(pump);
    },
  };
}

test('a greedy sender gets the cap over time, within one burst and one record', () => {
  const clock = new ManualClock();
  const cap = 1_000_000;
  const limit = new RelayRateLimit(cap, clock);
  const sender = greedySender(limit, 65_536);
  clock.advance(10_000);
  const expected = cap * 10;
  const slack = limit.burstBytes + 65_536;
  assert.ok(Math.abs(sender.sent() - expected) <= slack, `sent ${sender.sent()} bytes in 10 s at a cap of ${cap}/s`);
  sender.stop();
  assert.equal(clock.pendingTimers, 0, 'a stopped sender leaves no timer behind');
});

test('a record larger than the bucket still passes, and the bucket pays it off before the next one', () => {
  const clock = new ManualClock();
  const limit = new RelayRateLimit(100_000, clock);
  assert.ok(limit.burstBytes < 256 * 1024);
  assert.equal(limit.tryTake(256 * 1024), true, 'a full tunnel record goes whole');
  assert.equal(limit.tryTake(1), false, 'in debt now');
  let woken = 0;
  limit.whenAvailable(() => woken++);
  clock.advance(2_000);
  assert.equal(woken, 0, 'still paying off 256 KiB at 100 kB/s');
  clock.advance(1_000);
  assert.equal(woken, 1);
  assert.equal(limit.tryTake(1), true);
});

test('two senders share the cap about evenly; a cancelled waiter is never called', () => {
  const clock = new ManualClock();
  const limit = new RelayRateLimit(500_000, clock);
  const first = greedySender(limit, 16_384);
  const second = greedySender(limit, 16_384);
  clock.advance(20_000);
  const total = first.sent() + second.sent();
  assert.ok(Math.abs(total - 10_000_000) <= limit.burstBytes + 2 * 16_384, `together ${total} bytes in 20 s`);
  const share = first.sent() / total;
  assert.ok(share > 0.4 && share < 0.6, `the first sender got ${(share * 100).toFixed(0)} %`);
  first.stop();
  second.stop();

  let called = false;
  const waiter = (): void => {
    called = true;
  };
  while (limit.tryTake(16_384)) {
    // empty the bucket
  }
  limit.whenAvailable(waiter);
  limit.cancel(waiter);
  clock.advance(5_000);
  assert.equal(called, false);
});
