/**
 * @module broker-exits
 * Fetches the broker's signed exit list (GET {brokerUrl}/v1/exits), checks it against the pinned operator keys, and
 * picks the exit "Proxy me" uses. Web-standard fetch only, so it runs in the service worker and in node tests alike.
 */

import { BodyTooLargeError, readBoundedText } from '../protocol/bounded-body.ts';
import {
  type ExitListErrorCode as ExitListRefusalCode,
  ExitListError as ExitListRefusedError,
  MAX_SIGNED_EXIT_LIST_CHARS,
  type NetworkRendezvous,
  type SignedExitList,
  verifyExitList,
} from '../protocol/exit-list.ts';
import { BrokerRoute, type ExitInfo } from '../protocol/signaling.ts';

/** How long the exit list request may take (milliseconds). */
export const EXIT_LIST_TIMEOUT_MS = 10_000;
/** Largest exit list read (bytes of JSON; the document is ASCII): the largest list an operator can sign. */
export const MAX_EXIT_LIST_BYTES = MAX_SIGNED_EXIT_LIST_CHARS;

/** Why no exit could be had: the broker's side, or (ExitListRefusalCode) the list itself was refused. */
export type ExitListErrorCode = 'BROKER_UNREACHABLE' | 'BROKER_ERROR' | 'NO_EXITS' | 'UNKNOWN_EXIT' | ExitListRefusalCode;

export class ExitListError extends Error {
  override readonly name = 'ExitListError';
  constructor(
    readonly code: ExitListErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The broker's list as served (passed on to the helper, which checks it again) and its exits, once verified. */
export interface TrustedExitList {
  exitList: SignedExitList;
  exits: ExitInfo[];
  /** The network's sealed rendezvous, when its list names one. */
  rendezvous?: NetworkRendezvous;
}

/** Checks a fetched document against the pinned operator keys at time `now`; refusals become ExitListError. */
export function trustExitList(document: unknown, exitListKeys: readonly string[], now: number): TrustedExitList {
  try {
    const verified = verifyExitList(document, exitListKeys, now);
    return { exitList: verified.document, exits: verified.exits, ...(verified.rendezvous === undefined ? {} : { rendezvous: verified.rendezvous }) };
  } catch (error) {
    if (error instanceof ExitListRefusedError) throw new ExitListError(error.code, error.message);
    throw error;
  }
}

/** The exit with `exitId`, or the first one listed when `exitId` is empty. */
export function chooseExit(exits: readonly ExitInfo[], exitId: string): ExitInfo {
  if (exits.length === 0) throw new ExitListError('NO_EXITS', 'The broker lists no exits yet; try again later.');
  if (exitId === '') return exits[0] as ExitInfo;
  const exit = exits.find((candidate) => candidate.id === exitId);
  if (exit === undefined) {
    const known = exits.map((candidate) => candidate.id).join(', ');
    throw new ExitListError('UNKNOWN_EXIT', `The broker has no exit "${exitId}" (it lists: ${known}). Fix the exit id in the options.`);
  }
  return exit;
}

export async function fetchExitList(brokerUrl: string, exitListKeys: readonly string[], signal?: AbortSignal): Promise<TrustedExitList> {
  const timeout = AbortSignal.timeout(EXIT_LIST_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(`${brokerUrl}${BrokerRoute.EXITS}`, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (error) {
    if (signal?.aborted) throw error;
    const why = timeout.aborted ? `no answer within ${EXIT_LIST_TIMEOUT_MS / 1000} s` : describe(error);
    throw new ExitListError('BROKER_UNREACHABLE', `Cannot reach the broker at ${brokerUrl} (${why}).`);
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new ExitListError('BROKER_ERROR', `The broker answered ${response.status} to GET /v1/exits.`);
  }
  let body: string;
  try {
    body = await readBoundedText(response, MAX_EXIT_LIST_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new ExitListError('BAD_EXIT_LIST', `The broker's exit list is larger than ${MAX_EXIT_LIST_BYTES} bytes.`);
    throw new ExitListError('BROKER_UNREACHABLE', `The broker at ${brokerUrl} stopped answering (${describe(error)}).`);
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ExitListError('BAD_EXIT_LIST', "The broker's exit list is not JSON.");
  }
  return trustExitList(json, exitListKeys, Date.now());
}
