/**
 * @module nat-probe-client
 * The volunteer's side of the NAT probe (protocol/nat-probe.ts): offer a data channel to the probe peer, which sits
 * behind a symmetric NAT; if the channel opens in time this volunteer's NAT lets such peers in ('unrestricted'),
 * otherwise it does not ('restricted'). Standard RTCPeerConnection and fetch only, so it runs in every shell.
 */
import { NAT_PROBE_CHANNEL_LABEL, NAT_PROBE_CONNECT_TIMEOUT_MS, NAT_PROBE_GATHERING_TIMEOUT_MS, NAT_PROBE_REQUEST_TIMEOUT_MS } from '../protocol/nat-probe.ts';
import { parseSessionDescription } from '../protocol/signaling.ts';
import type { RelayEnvironment } from './environment.ts';

/** Largest probe server reply read (characters): an answer SDP is a few KB. */
const MAX_PROBE_REPLY_CHARS = 64 * 1024;

/** The probe could not be run (the server unreachable or answering nonsense): the class stays unknown. */
export class NatProbeError extends Error {
  override readonly name = 'NatProbeError';
  readonly code = 'NAT_PROBE_FAILED';
}

export interface NatProbeOptions {
  probeUrl: string;
  iceServers: RTCIceServer[];
  /** Overrides for tests; the protocol's constants otherwise. */
  connectTimeoutMs?: number;
}

/** 'unrestricted' when the probe peer's data channel opened in time, 'restricted' when not; NatProbeError otherwise. */
export async function probeNatClass(environment: RelayEnvironment, options: NatProbeOptions): Promise<'unrestricted' | 'restricted'> {
  const pc = environment.createPeerConnection({ iceServers: options.iceServers });
  try {
    const channel = pc.createDataChannel(NAT_PROBE_CHANNEL_LABEL);
    let markOpen = (): void => {};
    const opened = new Promise<void>((resolve) => {
      markOpen = resolve;
      channel.addEventListener('open', () => resolve(), { once: true });
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, NAT_PROBE_GATHERING_TIMEOUT_MS);
    const offer = pc.localDescription;
    if (offer === null) throw new NatProbeError('this runtime made no WebRTC offer for the NAT probe');
    const answer = await askProbe(environment, options.probeUrl, { type: 'offer', sdp: offer.sdp });
    await pc.setRemoteDescription(answer);
    // The wait starts once both sides have each other's candidates: ICE either gets through or never will.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timed-out'>((resolve) => {
      timer = setTimeout(() => resolve('timed-out'), options.connectTimeoutMs ?? NAT_PROBE_CONNECT_TIMEOUT_MS);
    });
    const outcome = await Promise.race([opened.then(() => 'open' as const), timedOut]);
    clearTimeout(timer);
    markOpen();
    return outcome === 'open' ? 'unrestricted' : 'restricted';
  } finally {
    pc.close();
  }
}

async function askProbe(environment: RelayEnvironment, probeUrl: string, offer: { type: 'offer'; sdp: string }): Promise<RTCSessionDescriptionInit> {
  let text: string;
  let status: number;
  try {
    const response = await environment.fetch(probeUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ offer }),
      signal: AbortSignal.timeout(NAT_PROBE_REQUEST_TIMEOUT_MS),
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    throw new NatProbeError(`cannot reach the NAT probe at ${probeUrl}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (status !== 200) throw new NatProbeError(`the NAT probe at ${probeUrl} answered HTTP ${status}`);
  if (text.length > MAX_PROBE_REPLY_CHARS) throw new NatProbeError('the NAT probe sent an oversize reply');
  try {
    return parseSessionDescription((JSON.parse(text) as { answer?: unknown }).answer, 'answer', 'answer');
  } catch {
    throw new NatProbeError('the NAT probe sent no usable answer');
  }
}

/** Resolves when ICE gathering completes or after `timeoutMs`, whichever comes first (candidates so far suffice). */
function gathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
