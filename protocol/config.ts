/**
 * @module config
 * Tunables of a session endpoint, with defaults and a single up-front check. Each side announces its own receive
 * windows in the handshake, so the two ends need not share a config.
 */
import { MAX_DATA_PAYLOAD_BYTES, MAX_RECORD_BYTES } from './constants.ts';
import { InvalidConfigError } from './errors.ts';
import { requireIntegerFields } from './validate.ts';

/** The most paths any session may be configured for: each is a volunteer who sees the client's address. */
export const MAX_PATHS_PER_SESSION = 3;

export interface SessionConfig {
  /**
   * Bytes the peer may send on one stream before this side grants more credit. Bounds memory per stream and, with
   * the round trip, caps one stream's speed (window / RTT). Default 1 MiB.
   */
  streamReceiveWindowBytes: number;
  /** Bytes the peer may have in flight across all streams: bounds memory per session. Default 8 MiB. */
  sessionReceiveWindowBytes: number;
  /** Most streams open at once; further OPENs fail with GENERAL_FAILURE ("too many streams"). Default 256. */
  maxStreams: number;
  /** Bytes a stream queues locally while it has no send credit; `write()` returns false above it. Default 256 KiB. */
  streamSendHighWaterBytes: number;
  /** Frames queued before the handshake completes (OPENs and their first DATA). Default 1,024. */
  maxPreHandshakeFrames: number;
  /** The handshake must complete within this time or the session closes. Default 10 s. */
  handshakeTimeoutMs: number;
  /**
   * Bytes of sent, unacknowledged records kept for replay after a path breaks. Bounds what a session can lose track
   * of; the peer's session window is clamped below it, so honest traffic never fills it. Default 24 MiB.
   */
  maxReplayBufferBytes: number;
  /** Acknowledge after this many records received... Default 16. */
  ackEveryRecords: number;
  /** ...or this long after the first unacknowledged one. Default 50 ms. */
  ackDelayMs: number;
  /** Client: send a PATH_PING on every path this often; the exit answers on the same path. Default 500 ms. */
  heartbeatIntervalMs: number;
  /**
   * Client: nothing received on the only path for this long means it is dead: get another volunteer. A false alarm
   * costs a new match, so it waits long. Default 5 s.
   */
  pathSilenceTimeoutMs: number;
  /**
   * Client: the same, for a path while another one is live. A false alarm then costs only a switch, so it can act
   * sooner. Chosen from the longest gap between records on a healthy path on a loaded 2-core machine
   * (docs/benchmarks.md). Default 1.5 s.
   */
  standbySilenceTimeoutMs: number;
  /** Most paths a session has at once (live, joining or resuming); the exit refuses a JOIN beyond it. Default 3. */
  maxPathsPerSession: number;
  /**
   * Bytes of records that arrived ahead of a missing one (several paths deliver out of order). An honest peer stays
   * within the receive window it was given, so more is a violation. Default 16 MiB.
   */
  maxReorderBufferBytes: number;
  /** Both ends: a session without a path waits this long for a resume, then frees everything. Default 60 s. */
  detachedTimeoutMs: number;
}

export const defaultSessionConfig: Readonly<SessionConfig> = Object.freeze({
  streamReceiveWindowBytes: 1024 * 1024,
  sessionReceiveWindowBytes: 8 * 1024 * 1024,
  maxStreams: 256,
  streamSendHighWaterBytes: 256 * 1024,
  maxPreHandshakeFrames: 1_024,
  handshakeTimeoutMs: 10_000,
  maxReplayBufferBytes: 24 * 1024 * 1024,
  ackEveryRecords: 16,
  ackDelayMs: 50,
  heartbeatIntervalMs: 500,
  pathSilenceTimeoutMs: 5_000,
  standbySilenceTimeoutMs: 1_500,
  maxPathsPerSession: 3,
  maxReorderBufferBytes: 16 * 1024 * 1024,
  detachedTimeoutMs: 60_000,
});

/** Fills in defaults and validates every field, throwing InvalidConfigError with the field's name. */
export function verifySessionConfig(partial: Partial<SessionConfig> = {}): SessionConfig {
  const config: SessionConfig = { ...defaultSessionConfig, ...partial };
  if (partial.standbySilenceTimeoutMs === undefined) {
    // Unless set, it follows the other two: at least two heartbeats, never longer than the single-path wait.
    config.standbySilenceTimeoutMs = Math.min(Math.max(config.standbySilenceTimeoutMs, 2 * config.heartbeatIntervalMs), config.pathSilenceTimeoutMs);
  }
  requireIntegerFields(
    config,
    {
      // A window smaller than one DATA frame could never carry a full frame; u32 is the CREDIT field's width.
      streamReceiveWindowBytes: [MAX_DATA_PAYLOAD_BYTES, 0xffff_ffff],
      sessionReceiveWindowBytes: [config.streamReceiveWindowBytes, 0xffff_ffff],
      maxStreams: [1, 65_535],
      streamSendHighWaterBytes: [1, 64 * 1024 * 1024],
      maxPreHandshakeFrames: [1, 100_000],
      handshakeTimeoutMs: [100, 600_000],
      // The replay buffer must hold at least a few full records, or no DATA could ever be in flight.
      maxReplayBufferBytes: [4 * MAX_RECORD_BYTES, 1024 * 1024 * 1024],
      ackEveryRecords: [1, 10_000],
      ackDelayMs: [1, 10_000],
      heartbeatIntervalMs: [50, 600_000],
      // Silence is judged against the heartbeat: it must allow a few heartbeats to go missing first.
      pathSilenceTimeoutMs: [2 * config.heartbeatIntervalMs, 600_000],
      standbySilenceTimeoutMs: [2 * config.heartbeatIntervalMs, config.pathSilenceTimeoutMs],
      maxPathsPerSession: [1, MAX_PATHS_PER_SESSION],
      // Whatever the peer may have in flight ahead of one missing record: the whole session window, and frames.
      maxReorderBufferBytes: [config.sessionReceiveWindowBytes + 4 * MAX_RECORD_BYTES, 1024 * 1024 * 1024],
      detachedTimeoutMs: [config.pathSilenceTimeoutMs, 3_600_000],
    },
    (_field, message) => new InvalidConfigError(message),
  );
  return config;
}
