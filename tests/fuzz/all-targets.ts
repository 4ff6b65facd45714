/**
 * @module fuzz/all-targets
 * Every fuzz target, in the order the runs take them: the in-process decoders and validators first, then the real
 * servers on 127.0.0.1.
 */
import type { FuzzTarget } from './target.ts';
import { brokerHttpTarget } from './targets/broker-http.ts';
import { brokerVolunteerTarget } from './targets/broker-volunteer.ts';
import { localChannelTarget } from './targets/local-channel.ts';
import { muxFramesTarget } from './targets/mux-frames.ts';
import { muxerTarget } from './targets/muxer.ts';
import { nativeMessagingTarget } from './targets/native-messaging.ts';
import { socks5Target } from './targets/socks5.ts';
import { tunnelRecordsTarget } from './targets/tunnel-records.ts';

export const FUZZ_TARGETS: readonly FuzzTarget<unknown>[] = [
  tunnelRecordsTarget,
  muxFramesTarget,
  muxerTarget,
  localChannelTarget,
  nativeMessagingTarget,
  socks5Target,
  brokerHttpTarget,
  brokerVolunteerTarget,
];
