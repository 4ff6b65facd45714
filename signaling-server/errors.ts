/**
 * @module broker-errors
 * Errors the broker answers a client request with. Each carries the HTTP status and the stable wire code of
 * BrokerErrorBody; its message is what the client is told, so it must say what to change or when to retry.
 */
import type { BrokerErrorCode } from '../protocol/signaling.ts';

/**
 * Wire codes of BrokerErrorBody, plus INTERNAL_ERROR for a broker fault (a failing store). That one code is not in
 * protocol/signaling.ts's BrokerErrorCode union; clients should treat any unknown code like a 5xx status.
 */
export type BrokerHttpErrorCode = BrokerErrorCode | 'INTERNAL_ERROR';

export class BrokerHttpError extends Error {
  override readonly name: string = 'BrokerHttpError';
  constructor(
    readonly status: number,
    readonly code: BrokerHttpErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class BadRequestError extends BrokerHttpError {
  override readonly name = 'BadRequestError';
  constructor(message: string) {
    super(400, 'BAD_REQUEST', message);
  }
}

export class BodyTooLargeError extends BrokerHttpError {
  override readonly name = 'BodyTooLargeError';
  constructor(maxBodyBytes: number) {
    super(413, 'BODY_TOO_LARGE', `the request body is larger than ${maxBodyBytes} bytes`);
  }
}

export class BodyReadTimeoutError extends BrokerHttpError {
  override readonly name = 'BodyReadTimeoutError';
  constructor(bodyReadTimeoutMs: number) {
    super(408, 'BAD_REQUEST', `the request body did not arrive within ${bodyReadTimeoutMs} ms`);
  }
}

export class UnknownExitError extends BrokerHttpError {
  override readonly name = 'UnknownExitError';
  constructor(exitId: string) {
    super(400, 'UNKNOWN_EXIT', `no exit "${exitId.slice(0, 128)}" is listed here; GET /v1/exits lists the exits`);
  }
}

export class NoVolunteersError extends BrokerHttpError {
  override readonly name = 'NoVolunteersError';
  constructor(message = 'no volunteer has a free slot right now; try again in a few seconds') {
    super(503, 'NO_VOLUNTEERS', message);
  }
}

/** One address asks too much or too fast; `retryAfterSeconds` says when it may ask again. */
export class TooManyRequestsError extends BrokerHttpError {
  override readonly name = 'TooManyRequestsError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(429, 'TOO_MANY_REQUESTS', message);
  }
}

export class AnswerTimedOutError extends BrokerHttpError {
  override readonly name = 'AnswerTimedOutError';
  constructor(clientAnswerTimeoutMs: number) {
    super(504, 'TIMED_OUT', `no volunteer answered within ${clientAnswerTimeoutMs} ms; try again`);
  }
}

/** The client went away before its request was complete; there is no one left to answer. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
  readonly code = 'CLIENT_GONE';
}
