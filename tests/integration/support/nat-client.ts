// Child-process entry for nat-matching.test.ts, run inside a NAT lab namespace: a client as the helper and extension
// are together. It measures its NAT class (RFC 5780), offers a data channel to the broker at argv BROKER_URL with
// that class, and prints one JSON line: the broker's status and error code, the class, and whether the data channel
// to the matched volunteer opened within CONNECT_TIMEOUT_MS.

import nodeDataChannel from 'node-datachannel';
import { RTCPeerConnection } from 'node-datachannel/polyfill';
import { discoverNatClassFromUrls } from '../../../protocol/adapters/nat-discovery.ts';
import { DATA_CHANNEL_LABEL } from '../../../protocol/signaling.ts';

/**
 * How long the matched pair gets to connect (ms): the extension's own client path waits this long for a data channel
 * (dataChannelOpenTimeoutMs). Through working NATs it usually takes well under a second here.
 */
const CONNECT_TIMEOUT_MS = 15_000;
const GATHERING_TIMEOUT_MS = 3_000;

const [brokerUrl = '', stunUrl = '', exitId = 'local'] = process.argv.slice(2);
const { natClass } = await discoverNatClassFromUrls([stunUrl]);
const pc = new RTCPeerConnection({ iceServers: [{ urls: stunUrl }] });
const channel = pc.createDataChannel(DATA_CHANNEL_LABEL);
const startedAt = Date.now();
/** Each ICE and connection state change, with ms since start: a failed connection tells when and how it failed. */
const stateChanges: string[] = [];
pc.oniceconnectionstatechange = () => stateChanges.push(`ice ${pc.iceConnectionState} ${Date.now() - startedAt}`);
pc.onconnectionstatechange = () => stateChanges.push(`pc ${pc.connectionState} ${Date.now() - startedAt}`);
const opened = new Promise<boolean>((resolve) => {
  channel.onopen = () => resolve(true);
  setTimeout(() => resolve(false), GATHERING_TIMEOUT_MS + 10_000 + CONNECT_TIMEOUT_MS).unref();
});
await pc.setLocalDescription(await pc.createOffer());
await new Promise<void>((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  const timer = setTimeout(resolve, GATHERING_TIMEOUT_MS);
  pc.onicegatheringstatechange = () => {
    if (pc.iceGatheringState === 'complete') {
      clearTimeout(timer);
      resolve();
    }
  };
});
const response = await fetch(`${brokerUrl}/v1/client`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ offer: { type: 'offer', sdp: pc.localDescription?.sdp ?? '' }, exitId, nat: natClass }),
  signal: AbortSignal.timeout(15_000),
});
const body = (await response.json()) as { answer?: RTCSessionDescriptionInit; error?: { code?: string } };
let connected = false;
let connectMs: number | undefined;
/**
 * This stand-in's own libdatachannel failing before it tries the volunteer (seen once under load in ten runs: "Got a
 * remote candidate without ICE transport" from setRemoteDescription). It says nothing of the match; the test runs
 * the client again, once.
 */
let localError: string | undefined;
if (response.status === 200 && body.answer) {
  const answeredAt = Date.now();
  try {
    await pc.setRemoteDescription(body.answer);
    connected = await Promise.race([opened, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), CONNECT_TIMEOUT_MS))]);
  } catch (error) {
    localError = error instanceof Error ? error.message : String(error);
  }
  connectMs = Date.now() - answeredAt;
}
// The ICE state and the answer's candidates tell a failed connection apart from a slow one.
const iceState = pc.iceConnectionState;
const answerCandidates = (body.answer?.sdp ?? '').split('\r\n').filter((line) => line.startsWith('a=candidate'));
const offerCandidates = (pc.localDescription?.sdp ?? '').split('\r\n').filter((line) => line.startsWith('a=candidate'));
process.stdout.write(
  `${JSON.stringify({ status: response.status, code: body.error?.code, nat: natClass, connected, connectMs, localError, iceState, answerCandidates, offerCandidates, stateChanges })}\n`,
);
pc.close();
nodeDataChannel.cleanup();
process.exit(0);
