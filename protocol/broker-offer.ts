/**
 * @module broker-offer
 * One rendezvous: POST {brokerUrl}/v1/client with our SDP offer, get a volunteer's answer or a typed PathError.
 */

import { BodyTooLargeError, readBoundedText } from './bounded-body.ts';
import { BrokerRoute, MAX_VOLUNTEER_NAME_CHARS, type NatClass, parseSessionDescription, type SessionDescription, SignalingFormatError } from './signaling.ts';

/** Largest broker reply read (bytes); an answer SDP is a few KB. */
export const MAX_BROKER_REPLY_BYTES = 64 * 1024;

/** Getting a path failed. `code` is the broker's (NO_VOLUNTEERS, TIMED_OUT, …) or one of ours (BROKER_UNREACHABLE, …). */
export class PathError extends Error {
  override readonly name = 'PathError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
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

export async function requestAnswer(request: OfferRequest, fetchFn: typeof fetch = fetch): Promise<BrokerAnswer> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  let response: Response;
  let text: string;
  try {
    response = await fetchFn(`${request.brokerUrl}${BrokerRoute.CLIENT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        offer: request.offer,
        exitId: request.exitId,
        nat: request.nat,
        ...(request.pairingToken === undefined ? {} : { pairing: request.pairingToken }),
        ...(request.avoid === undefined || request.avoid.length === 0 ? {} : { avoid: request.avoid }),
      }),
      signal: AbortSignal.any([request.signal, timeout]),
    });
    text = await readBoundedText(response, MAX_BROKER_REPLY_BYTES);
  } catch (error) {
    if (request.signal.aborted) throw new PathError('STOPPED', 'the client path was stopped');
    if (timeout.aborted) throw new PathError('BROKER_TIMEOUT', `the broker did not answer within ${request.timeoutMs / 1000} s`);
    if (error instanceof BodyTooLargeError) throw new PathError('BAD_ANSWER', `the broker's reply is too large: ${error.message}`);
    throw new PathError('BROKER_UNREACHABLE', `cannot reach the broker at ${request.brokerUrl} (${describe(error)})`);
  }
  if (!response.ok) throw parseBrokerError(text, response.status);
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
