// Child-process entry for dtls-fingerprint.test.ts, run in a lab namespace: the offering side of one data channel
// (node-datachannel), whose answerer sends the DTLS ClientHello the test captures. Modes:
//   page                      prints {"offer": SDP} and reads {"answer": SDP} from stdin (the test carries them)
//   broker BROKER_URL EXIT_ID offers through the broker, which matches a volunteer
// Then waits for the data channel to open and prints {"open": true|false}.
import nodeDataChannel from 'node-datachannel';
import { RTCPeerConnection } from 'node-datachannel/polyfill';
import { DATA_CHANNEL_LABEL } from '../../../protocol/signaling.ts';

const OPEN_TIMEOUT_MS = 15_000;
const [mode = 'page', brokerUrl = '', exitId = 'local'] = process.argv.slice(2);
const pc = new RTCPeerConnection({ iceServers: [] });
const channel = pc.createDataChannel(DATA_CHANNEL_LABEL);
const opened = new Promise<boolean>((resolve) => {
  channel.onopen = () => resolve(true);
  setTimeout(() => resolve(false), OPEN_TIMEOUT_MS + 10_000).unref();
});
await pc.setLocalDescription(await pc.createOffer());
await new Promise<void>((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  const timer = setTimeout(resolve, 3_000);
  pc.onicegatheringstatechange = () => {
    if (pc.iceGatheringState === 'complete') {
      clearTimeout(timer);
      resolve();
    }
  };
});
const offer = { type: 'offer' as const, sdp: pc.localDescription?.sdp ?? '' };
let answer: { type: 'answer'; sdp: string };
if (mode === 'page') {
  process.stdout.write(`${JSON.stringify({ offer })}\n`);
  const line = await new Promise<string>((resolve) => {
    let input = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      input += chunk;
      if (input.includes('\n')) resolve(input.slice(0, input.indexOf('\n')));
    });
  });
  answer = (JSON.parse(line) as { answer: { type: 'answer'; sdp: string } }).answer;
} else {
  const response = await fetch(`${brokerUrl}/v1/client`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ offer, exitId, nat: 'unknown' }),
  });
  answer = ((await response.json()) as { answer: { type: 'answer'; sdp: string } }).answer;
}
await pc.setRemoteDescription(answer);
process.stdout.write(`${JSON.stringify({ open: await opened })}\n`);
pc.close();
nodeDataChannel.cleanup();
process.exit(0);
