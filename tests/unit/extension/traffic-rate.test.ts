import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addTrafficSample, currentThroughput, MAX_TRAFFIC_SAMPLES, THROUGHPUT_WINDOW_MS } from '../../../extension/traffic-rate.ts';
import type { TrafficSample } from '../../../protocol/extension-state.ts';

const T0 = 1_700_000_000_000;
const KIB = 1024;

/** The helper's once-a-second reports of `downPerSecond` bytes, starting at T0 + offsetMs. */
function steady(seconds: number, downPerSecond: number, offsetMs = 0): TrafficSample[] {
  let samples: TrafficSample[] = [];
  for (let second = 0; second <= seconds; second += 1) {
    samples = addTrafficSample(samples, { atMs: T0 + offsetMs + second * 1000, bytesUp: second * 100, bytesDown: second * downPerSecond });
  }
  return samples;
}

describe('current throughput', () => {
  test('steady traffic reads its own rate, whenever within the second the popup looks', () => {
    const samples = steady(10, 500 * KIB, 0);
    for (const lookAtMs of [10_000, 10_300, 10_999]) {
      const rate = currentThroughput(samples, T0 + lookAtMs);
      assert.deepEqual(rate, { downBytesPerSecond: 500 * KIB, upBytesPerSecond: 100 }, `at ${lookAtMs}`);
    }
  });

  test('falls to zero once the counters stop moving, without any new report', () => {
    const samples = steady(10, 500 * KIB);
    assert.ok((currentThroughput(samples, T0 + 11_500)?.downBytesPerSecond ?? 0) > 0, 'still averaging the last seconds');
    assert.deepEqual(currentThroughput(samples, T0 + 10_000 + THROUGHPUT_WINDOW_MS), { downBytesPerSecond: 0, upBytesPerSecond: 0 });
    assert.deepEqual(currentThroughput(samples, T0 + 60_000), { downBytesPerSecond: 0, upBytesPerSecond: 0 });
  });

  test('a burst after a long idle time is averaged over the window, not over the idle time', () => {
    let samples = addTrafficSample([], { atMs: T0, bytesUp: 0, bytesDown: 0 });
    samples = addTrafficSample(samples, { atMs: T0 + 60_000, bytesUp: 0, bytesDown: 3 * 1024 * KIB });
    assert.equal(currentThroughput(samples, T0 + 60_100)?.downBytesPerSecond, 1024 * KIB);
  });

  test('says nothing with no history or less than a second of it', () => {
    assert.equal(currentThroughput([], T0), undefined);
    const one = addTrafficSample([], { atMs: T0, bytesUp: 5, bytesDown: 5 });
    assert.equal(currentThroughput(one, T0 + 500), undefined);
    assert.deepEqual(currentThroughput(one, T0 + 2000), { downBytesPerSecond: 0, upBytesPerSecond: 0 });
  });

  test('a clock behind the newest sample is not a negative span', () => {
    const samples = steady(5, 1000);
    assert.deepEqual(currentThroughput(samples, T0), { downBytesPerSecond: 1000, upBytesPerSecond: 100 });
  });
});

describe('samples kept', () => {
  test('only what the window needs, and never more than the bound', () => {
    const samples = steady(100, 1000);
    assert.ok(samples.length <= THROUGHPUT_WINDOW_MS / 1000 + 1, `kept ${samples.length}`);
    assert.equal(samples.at(-1)?.atMs, T0 + 100_000);
    let dense: TrafficSample[] = [];
    for (let index = 1; index <= 100; index += 1) dense = addTrafficSample(dense, { atMs: T0 + index, bytesUp: index, bytesDown: index });
    assert.equal(dense.length, MAX_TRAFFIC_SAMPLES);
  });

  test('unchanged counters return the same list; counters going backwards start afresh', () => {
    const samples = steady(3, 1000);
    assert.equal(addTrafficSample(samples, { atMs: T0 + 9000, bytesUp: 300, bytesDown: 3000 }), samples);
    assert.deepEqual(addTrafficSample(samples, { atMs: T0 + 9000, bytesUp: 0, bytesDown: 10 }), [{ atMs: T0 + 9000, bytesUp: 0, bytesDown: 10 }]);
  });
});
