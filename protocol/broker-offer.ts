/**
 * @module broker-offer
 * One rendezvous: our SDP offer to the broker, a volunteer's answer (or a typed PathError) back. Either plainly,
 * POST {brokerUrl}/v1/client, or sealed to the broker's key and carried over rendezvous channels (rendezvous.ts),
 * where the sealed request is the same JSON body and the sealed reply is {status, body} with the same body.
 */

import { BodyTooLargeError, readBoundedText } from './bounded-body.ts';
import { fromUtf8, utf8 } from './bytes.ts';
import type { AeadFactory } from './crypto.ts';
import {
  type ChannelFailure,
  carryOverChannels,
  type RendezvousCarrier,
  type RendezvousChannel,
  RendezvousFailedError,
  RendezvousStoppedError,
} from './rendezvous.ts';
import { sealRendezvousRequest } from './rendezvous-envelope.ts';
import { BrokerRoute, MAX_VOLUNTEER_NAME_CHARS, type NatClass, parseSessionDescription, type SessionDescription, SignalingFormatError } from './signaling.ts';

/** Largest broker reply read (bytes); an answer SDP is a few KB. */
export const MAX_BROKER_REPLY_BYTES = 64 * 1024;

/** Getting a path failed. `code` is the broker's (NO_VOLUNTEERS, TIMED_OUT, …) or one of ours (BROKER_UNREACHABLE, …). */
export class PathError extends Error {
  override readonly name = 'PathError';
  /** BROKER_UNREACHABLE over rendezvous channels: each channel tried, and why it failed. */
  readonly channelFailures: readonly ChannelFailure[];
  /** A refusal that came back sealed: the channel that reached the broker (channelName). */
  readonly reachedVia: string | undefined;

  constructor(
    readonly code: string,
    message: string,
    details: { channelFailures?: readonly ChannelFailure[]; reachedVia?: string } = {},
  ) {
    super(message);
    this.channelFailures = details.channelFailures ?? [];
    this.reachedVia = details.reachedVia;
  }
}

export interface OfferRequest {
  brokerUrl: string;
  offer: SessionDescription;
  exitId: string;
  /** A pairing link's token: the broker then matches only the volunteer that made the link. */
  pairingToken?: string;
  /** This device's NAT class, which the broker matches on. */
  nat: NatClass;
  /** Volunteers (names from earlier answers) not to be matched with: those already carrying this session. */
  avoid?: readonly string[];
  timeoutMs: number;
  /** Aborts when the client path stops. */
  signal: AbortSignal;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function parseBrokerError(text: string, status: number): PathError {
  try {
    const body: unknown = JSON.parse(text);
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (typeof error?.code === 'string' && typeof error.message === 'string') {
      return new PathError(error.code.slice(0, 64), error.message.slice(0, 500));
    }
  } catch {
    // Not JSON: described by the status below.
  }
  return new PathError('BROKER_ERROR', `the broker answered HTTP ${status}`);
}

/** A volunteer's answer, and its name for a later request's `avoid` (absent from brokers that do not give one). */
export interface BrokerAnswer {
  answer: SessionDescription;
  volunteer: string | undefined;
}

/** The body of a client's offer request (POST /v1/client, or inside a sealed envelope). */
function offerRequestBody(request: Omit<OfferRequest, 'brokerUrl' | 'timeoutMs' | 'signal'>): string {
  return JSON.stringify({
    offer: request.offer,
    exitId: request.exitId,
    nat: request.nat,
    ...(request.pairingToken === undefined ? {} : { pairing: request.pairingToken }),
    ...(request.avoid === undefined || request.avoid.length === 0 ? {} : { avoid: request.avoid }),
  });
}

/** The broker's reply to an offer (its HTTP status and body): the answer, or the PathError it stands for. */
function parseBrokerReply(status: number, text: string): BrokerAnswer {
  if (status < 200 || status > 299) throw parseBrokerError(text, status);
  try {
    const body = JSON.parse(text) as { answer?: unknown; volunteer?: unknown };
    const answer = parseSessionDescription(body?.answer, 'answer', 'answer');
    const volunteer = typeof body?.volunteer === 'string' && body.volunteer.length <= MAX_VOLUNTEER_NAME_CHARS ? body.volunteer : undefined;
    return { answer, volunteer };
  } catch (error) {
    const why = error instanceof SignalingFormatError ? error.message : 'the reply is not JSON';
    throw new PathError('BAD_ANSWER', `the broker's answer is unusable: ${why}`);
  }
}

export async function requestAnswer(request: OfferRequest, fetchFn: typeof fetch = fetch): Promise<BrokerAnswer> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  let response: Response;
  let text: string;
  try {
    response = await fetchFn(`${request.brokerUrl}${BrokerRoute.CLIENT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: offerRequestBody(request),
      signal: AbortSignal.any([request.signal, timeout]),
    });
    text = await readBoundedText(response, MAX_BROKER_REPLY_BYTES);
  } catch (error) {
    if (request.signal.aborted) throw new PathError('STOPPED', 'the client path was stopped');
    if (timeout.aborted) throw new PathError('BROKER_TIMEOUT', `the broker did not answer within ${request.timeoutMs / 1000} s`);
    if (error instanceof BodyTooLargeError) throw new PathError('BAD_ANSWER', `the broker's reply is too large: ${error.message}`);
    throw new PathError('BROKER_UNREACHABLE', `cannot reach the broker at ${request.brokerUrl} (${describe(error)})`);
  }
  return parseBrokerReply(response.status, text);
}

/** What a sealed rendezvous needs beyond the offer: the broker's key, the channels and who carries over them. */
export interface SealedRendezvous {
  /** The broker's static X25519 public key (from the signed configuration). */
  brokerKey: Uint8Array;
  channels: readonly RendezvousChannel[];
  carrier: RendezvousCarrier;
  /** The channel that worked last time (channelName), tried first. */
  lastWorked?: string | undefined;
  /** Told before each channel is tried (the popup says which one it is trying). */
  onTrying?: (channel: string) => void;
  aead?: AeadFactory;
}

/** A sealed rendezvous's answer, with the channel that carried it and the ones that failed before. */
export interface SealedBrokerAnswer extends BrokerAnswer {
  channel: string;
  channelFailures: ChannelFailure[];
}

/** The reply inside a sealed envelope: the HTTP status and body the plain route would have answered with. */
export interface SealedBrokerReply {
  status: number;
  body: unknown;
}

/**
 * The offer sealed to the broker's key and carried over the rendezvous channels in turn. The broker's own refusals
 * (NO_VOLUNTEERS, TIMED_OUT, ...) come back sealed and throw their PathError, as from requestAnswer; when no channel
 * brings a reply, PathError BROKER_UNREACHABLE names each channel's failure.
 */
export async function requestAnswerSealed(request: Omit<OfferRequest, 'brokerUrl' | 'timeoutMs'>, rendezvous: SealedRendezvous): Promise<SealedBrokerAnswer> {
  const body = utf8(offerRequestBody(request));
  try {
    const { value, channel, failures } = await carryOverChannels(
      rendezvous.channels,
      rendezvous.carrier,
      () => {
        const sealed = sealRendezvousRequest(rendezvous.brokerKey, body, rendezvous.aead);
        return { envelope: sealed.envelope, open: (reply: string) => parseSealedReply(fromUtf8(sealed.openReply(reply))) };
      },
      { signal: request.signal, lastWorked: rendezvous.lastWorked, ...(rendezvous.onTrying ? { onTrying: rendezvous.onTrying } : {}) },
    );
    try {
      return { ...parseBrokerReply(value.status, JSON.stringify(value.body)), channel, channelFailures: failures };
    } catch (error) {
      // The broker's own refusal: the channel worked, and the caller may want to try it first next time.
      if (error instanceof PathError) throw new PathError(error.code, error.message, { channelFailures: failures, reachedVia: channel });
      throw error;
    }
  } catch (error) {
    if (error instanceof RendezvousStoppedError) throw new PathError('STOPPED', 'the client path was stopped');
    if (error instanceof RendezvousFailedError) throw new PathError('BROKER_UNREACHABLE', error.message, { channelFailures: error.failures });
    throw error;
  }
}

function parseSealedReply(text: string): SealedBrokerReply {
  const reply = JSON.parse(text) as Partial<SealedBrokerReply> | null;
  if (reply === null || typeof reply.status !== 'number' || !Number.isInteger(reply.status))
    throw new SignalingFormatError('the sealed reply has no HTTP status');
  return { status: reply.status, body: reply.body };
}
