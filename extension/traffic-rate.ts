/**
 * @module traffic-rate
 * Current throughput from the helper's cumulative byte counters. The helper reports them about once a second, and
 * only when they changed, so the counters are a step function of time: the bytes at time t are those of the latest
 * sample taken at or before t. The rate over the last `windowMs` is then (bytes now - bytes windowMs ago) / windowMs,
 * which falls to zero by itself once traffic stops (no new samples), with no timer of its own.
 *
 * Pure: samples carry their own time; callers pass the clock.
 */

export interface TrafficSample {
  /** When the sample was taken (milliseconds since the epoch). */
  atMs: number;
  bytesUp: number;
  bytesDown: number;
}

export interface Throughput {
  upBytesPerSecond: number;
  downBytesPerSecond: number;
}

/** The rate is averaged over this many milliseconds. */
export const THROUGHPUT_WINDOW_MS = 3_000;
/** A rate over a shorter span than this (just after connecting) is too noisy to show (milliseconds). */
export const MIN_THROUGHPUT_SPAN_MS = 1_000;
/** Most samples kept; at one sample a second the window needs about four. */
export const MAX_TRAFFIC_SAMPLES = 16;

/**
 * Adds a sample and drops those the window no longer needs: everything older than the latest sample taken at or
 * before `sample.atMs - windowMs`. Returns `samples` itself when the counters did not move (the step function is
 * unchanged), and starts afresh when they went backwards (a new helper counts from zero).
 */
export function addTrafficSample(samples: readonly TrafficSample[], sample: TrafficSample, windowMs = THROUGHPUT_WINDOW_MS): TrafficSample[] {
  const last = samples.at(-1);
  if (last !== undefined && last.bytesUp === sample.bytesUp && last.bytesDown === sample.bytesDown) return samples as TrafficSample[];
  if (last !== undefined && (sample.bytesUp < last.bytesUp || sample.bytesDown < last.bytesDown || sample.atMs < last.atMs)) return [sample];
  const next = [...samples, sample];
  const cutoff = sample.atMs - windowMs;
  let base = 0;
  for (let index = 0; index < next.length; index += 1) {
    if ((next[index] as TrafficSample).atMs <= cutoff) base = index;
  }
  return next.slice(Math.max(base, next.length - MAX_TRAFFIC_SAMPLES));
}

/** Bytes per second over the last `windowMs`, or undefined while there is too little history to say. */
export function currentThroughput(samples: readonly TrafficSample[], nowMs: number, windowMs = THROUGHPUT_WINDOW_MS): Throughput | undefined {
  const newest = samples.at(-1);
  const oldest = samples[0];
  if (newest === undefined || oldest === undefined) return undefined;
  const now = Math.max(nowMs, newest.atMs);
  const target = now - windowMs;
  let base: TrafficSample | undefined;
  for (const sample of samples) {
    if (sample.atMs <= target) base = sample;
  }
  let spanMs = windowMs;
  if (base === undefined) {
    base = oldest;
    spanMs = now - oldest.atMs;
    if (spanMs < MIN_THROUGHPUT_SPAN_MS) return undefined;
  }
  return {
    upBytesPerSecond: ((newest.bytesUp - base.bytesUp) * 1000) / spanMs,
    downBytesPerSecond: ((newest.bytesDown - base.bytesDown) * 1000) / spanMs,
  };
}
