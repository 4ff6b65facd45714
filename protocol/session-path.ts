/**
 * @module session-path
 * One path of a session (a volunteer's data channel, or the exit's WebSocket from it), as the session endpoint keeps
 * it: what it is for (carry or stand by), whether it may carry yet, when it was last heard, what it has in flight and
 * how fast it delivers. The scheduler (choosePath) sends each record where it should arrive first.
 */

import { PathRole } from './resume.ts';
import { SeenWindow } from './seen-window.ts';

/**
 * Sends one record over a path (pipe, data channel or WebSocket). A sink that can tell calls `onWritten` once the
 * path no longer reads the record's bytes (written out, or the path is gone), and never before: sealed records from
 * a RecordPool are reused after that. A sink that never calls it only forgoes the reuse.
 */
export type RecordSink = (record: Uint8Array, onWritten?: () => void) => void;

/**
 * - starting: the first path, carrying the handshake;
 * - joining / resuming (client): JOIN or RESUME sent, waiting for the exit's answer;
 * - live: carries records (or stands by, by its role);
 * - gone: removed; what still arrives on it is dropped.
 */
export type PathState = 'starting' | 'joining' | 'resuming' | 'live' | 'gone';

/** A delivery rate is sampled over at least this long (ms), so one ACK's burst does not read as a rate. */
export const RATE_SAMPLE_MS = 20;
/** A sample counts only if the path had at least this much in flight when it began: an idle path shows no rate. */
export const RATE_BUSY_BYTES = 32 * 1024;
/** Weight of a new rate sample (EWMA). */
const RATE_SAMPLE_WEIGHT = 0.25;
/** Weight of a new round-trip sample (EWMA, as TCP's SRTT). */
const RTT_SAMPLE_WEIGHT = 0.125;

let nextPathId = 1;

export class SessionPath {
  /** For logs and tests; local to this process, never on the wire. */
  readonly id = nextPathId++;
  state: PathState;
  role: PathRole;
  lastHeardAtMs: number;
  lastSentAtMs: number;
  readonly addedAtMs: number;
  /** Sequence numbers this path delivered (replay detection). */
  readonly seen = new SeenWindow();
  /** Bytes of records whose latest send was on this path and that the peer has not shown to have arrived. */
  inFlightBytes = 0;
  /** The latest send on this path that the peer has shown to have arrived (with all sent here before it). */
  arrivedUpToSendIndex = 0;
  /** Smoothed delivery rate (bytes per ms), 0 until measured. */
  deliveryRate = 0;
  /** Smoothed round trip (ms) from PATH_PING to PATH_PONG, 0 until measured. */
  smoothedRttMs = 0;
  /** The counter of the last PATH_PING sent here, when it went, and how many sends the session had made by then. */
  lastPingCounter = 0;
  lastPingSentAtMs = 0;
  lastPingSendIndex = 0;
  /** The highest PATH_PONG counter heard here (a pong must answer a ping sent here since). */
  lastPongCounter = 0;
  /** The highest PATH_PING counter heard here (a counter that does not grow is a replay). */
  lastPingHeard = 0;
  private deliveredBytes = 0;
  private sampleStartMs: number;
  private sampleStartDelivered = 0;
  private sampleBusy = false;

  constructor(
    readonly send: RecordSink,
    state: PathState,
    role: PathRole,
    nowMs: number,
  ) {
    this.state = state;
    this.role = role;
    this.lastHeardAtMs = nowMs;
    this.lastSentAtMs = nowMs;
    this.addedAtMs = nowMs;
    this.sampleStartMs = nowMs;
  }

  /** The peer acknowledged `bytes` whose latest send was on this path. */
  delivered(bytes: number): void {
    this.inFlightBytes -= bytes;
    this.deliveredBytes += bytes;
  }

  /** Closes a rate sample when it has lasted long enough; a sample begun while idle is not a rate and is skipped. */
  sampleRate(nowMs: number): void {
    const elapsed = nowMs - this.sampleStartMs;
    if (elapsed < RATE_SAMPLE_MS) return;
    if (this.sampleBusy) {
      const rate = (this.deliveredBytes - this.sampleStartDelivered) / elapsed;
      this.deliveryRate = this.deliveryRate === 0 ? rate : this.deliveryRate + RATE_SAMPLE_WEIGHT * (rate - this.deliveryRate);
    }
    this.sampleStartMs = nowMs;
    this.sampleStartDelivered = this.deliveredBytes;
    this.sampleBusy = this.inFlightBytes >= RATE_BUSY_BYTES;
  }

  /** A record was sent here; a path that was idle starts a fresh rate sample. */
  sent(bytes: number, nowMs: number): void {
    if (!this.sampleBusy && this.inFlightBytes + bytes >= RATE_BUSY_BYTES) {
      this.sampleStartMs = nowMs;
      this.sampleStartDelivered = this.deliveredBytes;
      this.sampleBusy = true;
    }
    this.inFlightBytes += bytes;
    this.lastSentAtMs = nowMs;
  }

  rttSample(rttMs: number): void {
    this.smoothedRttMs = this.smoothedRttMs === 0 ? rttMs : this.smoothedRttMs + RTT_SAMPLE_WEIGHT * (rttMs - this.smoothedRttMs);
  }
}

/** Rate assumed for a path not yet measured (bytes per ms): the best measured one's, or this when none is. */
export const UNMEASURED_RATE_BYTES_PER_MS = 1_000;

/**
 * The path a record of `bytes` should go on: among live paths that carry (or, when none does, the oldest live standby,
 * which is promoted), the one where it should arrive first: what is in flight there drained at its delivery rate,
 * plus half its round trip. Undefined when no path is live.
 */
export function choosePath(paths: readonly SessionPath[], bytes: number): SessionPath | undefined {
  let carriers = 0;
  let bestRate = 0;
  let oldestStandby: SessionPath | undefined;
  for (const path of paths) {
    if (path.state !== 'live') continue;
    if (path.role === PathRole.CARRY) carriers++;
    else oldestStandby ??= path;
    if (path.deliveryRate > bestRate) bestRate = path.deliveryRate;
  }
  if (carriers === 0) {
    if (oldestStandby === undefined) return undefined;
    oldestStandby.role = PathRole.CARRY;
    return oldestStandby;
  }
  const assumedRate = bestRate > 0 ? bestRate : UNMEASURED_RATE_BYTES_PER_MS;
  let chosen: SessionPath | undefined;
  let earliest = Number.POSITIVE_INFINITY;
  for (const path of paths) {
    if (path.state !== 'live' || path.role !== PathRole.CARRY) continue;
    const rate = path.deliveryRate > 0 ? path.deliveryRate : assumedRate;
    const arrival = (path.inFlightBytes + bytes) / rate + path.smoothedRttMs / 2;
    if (arrival < earliest) {
      earliest = arrival;
      chosen = path;
    }
  }
  return chosen;
}
