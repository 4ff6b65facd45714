/**
 * @module self-check
 * "Am I helping?": the volunteer checks itself end to end, as a client would reach it. It makes a one-off pairing
 * link for itself (so the broker offers the check to this volunteer and no other), asks the broker for a path with
 * that link like any client, opens a data channel to itself through real WebRTC, and sends the exit a HELLO through
 * it: the exit's authenticated answer proves the whole path. Each failure names the step, for words a person can act
 * on. RelayWorker.selfCheck wires it (the check's pair is not counted as someone helped). Runtime-neutral.
 */
import { PathError, requestAnswer } from '../protocol/broker-offer.ts';
import { fromBase64Url } from '../protocol/bytes.ts';
import { ClientSession } from '../protocol/client-session.ts';
import { DATA_CHANNEL_LABEL, type ExitInfo, type NatClass } from '../protocol/signaling.ts';
import type { RelayEnvironment } from './environment.ts';
import { iceUfragOf } from './ice-ufrag.ts';

/** Where a check failed: the broker, the data channel through this volunteer, or the exit behind it. */
export type SelfCheckStep = 'broker' | 'data-channel' | 'exit';
export type SelfCheckResult = { ok: true } | { ok: false; failed: SelfCheckStep; detail: string };

/** How long each step may take (ms), and how often a just-registered link is tried again. */
export const SELF_CHECK_LIMITS = Object.freeze({
  iceGatheringMs: 3_000,
  brokerAnswerMs: 10_000,
  dataChannelOpenMs: 15_000,
  exitAnswerMs: 10_000,
  /** The link reaches the broker over the volunteer's socket, the check's request over HTTP: the request may win. */
  unknownLinkRetries: 4,
  unknownLinkRetryDelayMs: 300,
  /**
   * Whole attempts when no data channel opened: a first failure may be the WebRTC stack's own (libdatachannel, under
   * `ferry volunteer`, now and then refuses an answer's candidates), which a client's path would also just retry.
   */
  channelAttempts: 3,
  channelRetryDelayMs: 300,
});

export interface SelfCheckInit {
  environment: RelayEnvironment;
  brokerUrl: string;
  exit: ExitInfo;
  iceServers: RTCIceServer[];
  nat: NatClass;
  /** The one-off link's token, already registered with the broker by the worker. */
  pairingToken: string;
  /** Tells the worker which offer is the check's (by its ICE username fragment), before the broker sends it. */
  expectOffer(iceUfrag: string): void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Resolves true when `ready` resolves in time, false when `ms` pass first. */
function within(ms: number, ready: Promise<void>): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    ready.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}

export async function runSelfCheck(init: SelfCheckInit): Promise<SelfCheckResult> {
  let result = await attemptSelfCheck(init);
  for (let attempt = 1; attempt < SELF_CHECK_LIMITS.channelAttempts && !result.ok && result.failed === 'data-channel'; attempt += 1) {
    await sleep(SELF_CHECK_LIMITS.channelRetryDelayMs);
    result = await attemptSelfCheck(init);
  }
  return result;
}

async function attemptSelfCheck(init: SelfCheckInit): Promise<SelfCheckResult> {
  const pc = init.environment.createPeerConnection({ iceServers: init.iceServers });
  const channel = pc.createDataChannel(DATA_CHANNEL_LABEL, { ordered: true });
  channel.binaryType = 'arraybuffer';
  let session: ClientSession | undefined;
  /** Once the channel is open, whatever fails is past the volunteer: it closes the channel when its exit fails. */
  let channelOpened = false;
  const abort = new AbortController();
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await within(
      SELF_CHECK_LIMITS.iceGatheringMs,
      new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') resolve();
        });
      }),
    );
    const local = pc.localDescription;
    const ufrag = local === null ? undefined : iceUfragOf(local.sdp);
    if (local === null || ufrag === undefined) return { ok: false, failed: 'data-channel', detail: 'this browser made no WebRTC offer' };
    init.expectOffer(ufrag);

    let answer: Awaited<ReturnType<typeof requestAnswer>>['answer'] | undefined;
    for (let attempt = 0; answer === undefined; attempt += 1) {
      try {
        ({ answer } = await requestAnswer(
          {
            brokerUrl: init.brokerUrl,
            offer: { type: 'offer', sdp: local.sdp },
            exitId: init.exit.id,
            pairingToken: init.pairingToken,
            nat: init.nat,
            timeoutMs: SELF_CHECK_LIMITS.brokerAnswerMs,
            signal: abort.signal,
          },
          init.environment.fetch,
        ));
      } catch (error) {
        const code = error instanceof PathError ? error.code : '';
        if (code === 'NO_VOLUNTEERS' && attempt < SELF_CHECK_LIMITS.unknownLinkRetries) {
          await sleep(SELF_CHECK_LIMITS.unknownLinkRetryDelayMs);
          continue;
        }
        const brokerDown = code === 'BROKER_UNREACHABLE' || code === 'BROKER_TIMEOUT' || code === 'BROKER_ERROR';
        return { ok: false, failed: brokerDown ? 'broker' : 'data-channel', detail: describe(error) };
      }
    }

    await pc.setRemoteDescription(answer);
    const opened = await within(
      SELF_CHECK_LIMITS.dataChannelOpenMs,
      new Promise<void>((resolve, reject) => {
        if (channel.readyState === 'open') resolve();
        channel.addEventListener('open', () => resolve());
        channel.addEventListener('close', () => reject(new Error('closed')));
      }),
    );
    if (!opened) {
      return {
        ok: false,
        failed: 'data-channel',
        detail: `no data channel opened within ${SELF_CHECK_LIMITS.dataChannelOpenMs / 1000} s (connection ${pc.connectionState})`,
      };
    }

    channelOpened = true;
    let closedBy: string | undefined;
    const answered = new Promise<void>((resolve, reject) => {
      session = new ClientSession({
        exitPublicKey: fromBase64Url(init.exit.publicKey),
        sendRecord: (record) => channel.send(record as Uint8Array<ArrayBuffer>),
        onOpen: resolve,
        onClose: (error) => {
          closedBy = error?.message ?? 'closed';
          reject(new Error(closedBy));
        },
      });
    });
    // Closing the session at the end rejects it too, when nothing waits on it any more: never an unhandled rejection.
    answered.catch(() => undefined);
    channel.addEventListener('message', (event: MessageEvent) => {
      if (event.data instanceof ArrayBuffer) session?.receiveRecord(new Uint8Array(event.data));
    });
    session?.start();
    if (!(await within(SELF_CHECK_LIMITS.exitAnswerMs, answered))) {
      return { ok: false, failed: 'exit', detail: closedBy ?? `the exit did not answer within ${SELF_CHECK_LIMITS.exitAnswerMs / 1000} s` };
    }
    return { ok: true };
  } catch (error) {
    if (channelOpened) {
      const detail = channel.readyState === 'open' ? describe(error) : 'the volunteer closed the path before the exit answered: it could not reach the exit';
      return { ok: false, failed: 'exit', detail };
    }
    return { ok: false, failed: 'data-channel', detail: describe(error) };
  } finally {
    abort.abort();
    session?.close('self-check done');
    try {
      channel.close();
    } finally {
      pc.close();
    }
  }
}
