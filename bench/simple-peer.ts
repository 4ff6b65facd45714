/**
 * @module bench/simple-peer
 * simple-peer against the raw RTCPeerConnection API, same WebRTC stack (@roamhq/wrtc, in Node), same process, same
 * bytes: is simple-peer's stream wrapper worth it on the hot path?
 */
import { createRequire } from 'node:module';
import type { SimplePeerData, Instance as SimplePeerInstance } from 'simple-peer';

const require = createRequire(import.meta.url);
// Both are CommonJS packages without ESM entry points.
const wrtc = require('@roamhq/wrtc') as { RTCPeerConnection: typeof RTCPeerConnection };
const SimplePeer = require('simple-peer') as new (options: Record<string, unknown>) => SimplePeerInstance;

const MESSAGE_BYTES = 64 * 1024;
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

export interface PairResult {
  megabytesPerSecond: number;
}

/** Raw API: two RTCPeerConnections, one data channel, bufferedAmount backpressure. */
export async function measureRawWrtc(totalBytes: number): Promise<PairResult> {
  const a = new wrtc.RTCPeerConnection({ iceServers: [] });
  const b = new wrtc.RTCPeerConnection({ iceServers: [] });
  a.onicecandidate = (event) => event.candidate && void b.addIceCandidate(event.candidate);
  b.onicecandidate = (event) => event.candidate && void a.addIceCandidate(event.candidate);
  const channel = a.createDataChannel('bench', { ordered: true });
  channel.binaryType = 'arraybuffer';
  let received = 0;
  const done = new Promise<number>((resolve) => {
    b.ondatachannel = (event) => {
      event.channel.binaryType = 'arraybuffer';
      event.channel.onmessage = (message) => {
        received += (message.data as ArrayBuffer).byteLength;
        if (received >= totalBytes) resolve(performance.now());
      };
    };
  });
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription as RTCSessionDescriptionInit);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription as RTCSessionDescriptionInit);
  await new Promise<void>((resolve) => (channel.onopen = () => resolve()));
  const chunk = new Uint8Array(MESSAGE_BYTES);
  const started = performance.now();
  channel.bufferedAmountLowThreshold = HIGH_WATER_BYTES / 4;
  for (let sent = 0; sent < totalBytes; sent += MESSAGE_BYTES) {
    // @roamhq/wrtc does not fire bufferedamountlow reliably (measured): poll instead.
    while (channel.bufferedAmount > HIGH_WATER_BYTES) await new Promise((resolve) => setTimeout(resolve, 1));
    channel.send(chunk);
  }
  const finished = await done;
  a.close();
  b.close();
  return { megabytesPerSecond: totalBytes / 1e6 / ((finished - started) / 1000) };
}

/** simple-peer: the same transfer through its Duplex stream interface, with its own backpressure. */
export async function measureSimplePeer(totalBytes: number): Promise<PairResult> {
  const a = new SimplePeer({ initiator: true, wrtc, trickle: false, config: { iceServers: [] } });
  const b = new SimplePeer({ wrtc, trickle: false, config: { iceServers: [] } });
  a.on('signal', (data: unknown) => b.signal(data as never));
  b.on('signal', (data: unknown) => a.signal(data as never));
  await new Promise<void>((resolve) => a.once('connect', () => resolve()));
  let received = 0;
  const done = new Promise<number>((resolve) => {
    b.on('data', (data: SimplePeerData) => {
      received += (data as Uint8Array).length;
      if (received >= totalBytes) resolve(performance.now());
    });
  });
  const chunk = Buffer.alloc(MESSAGE_BYTES);
  const started = performance.now();
  for (let sent = 0; sent < totalBytes; sent += MESSAGE_BYTES) {
    if (!a.write(chunk)) await new Promise((resolve) => a.once('drain', resolve));
  }
  const finished = await done;
  a.destroy();
  b.destroy();
  return { megabytesPerSecond: totalBytes / 1e6 / ((finished - started) / 1000) };
}
