/**
 * @module rendezvous
 * How a client reaches the broker when the broker's own address may be blocked: several rendezvous channels, tried
 * in a configured order (the one that worked last time first), each with its own timeout, each carrying the same
 * sealed envelope (rendezvous-envelope.ts), so no channel's carrier reads the offer.
 *
 *   direct   POST {url}/v1/rendezvous, the envelope as the body: today's path, to the broker's own address.
 *   fronted  the same POST, but the TLS connection goes to `front` (a CDN's name, which the censor will not block)
 *            and the HTTP Host is the broker's: the CDN routes it by Host. Needs control of the TLS name apart from
 *            the Host, which a browser extension does not have (Host is a forbidden header): the helper does it.
 *   cache    GET {url}/v1/rendezvous/{envelope}: the offer in the URL path, the answer in a cacheable HTML page
 *            (armorReplyPage), in the manner of Snowflake's AMP cache rendezvous. `url` is the broker's routes as
 *            seen through the cache. Every URL is unique (a fresh envelope each time), so no cached page is reused.
 *
 * The channel list comes with the network's signed configuration (exit-list.ts `rendezvous`), or from settings.
 * Runtime-neutral: the carrying itself is each runtime's (RendezvousCarrier).
 */

import { type Fail, isRecord, requireText } from './validate.ts';

export const RENDEZVOUS_CHANNEL_KINDS = ['direct', 'fronted', 'cache'] as const;
export type RendezvousChannelKind = (typeof RENDEZVOUS_CHANNEL_KINDS)[number];

/**
 * How long one channel may take, from the first byte sent to the sealed answer (ms). Each is above the broker's own
 * wait for a volunteer (5 s by default), so its NO_VOLUNTEERS or TIMED_OUT comes back through the channel; the
 * fronted and cache channels cross one more hop. With all three blocked, a client knows within their sum.
 */
export const DEFAULT_RENDEZVOUS_TIMEOUTS_MS: Readonly<Record<RendezvousChannelKind, number>> = Object.freeze({
  direct: 8_000,
  fronted: 10_000,
  cache: 12_000,
});
/** Most channels one configuration may list. */
export const MAX_RENDEZVOUS_CHANNELS = 8;
const MAX_CHANNEL_URL_CHARS = 2048;
const MAX_FRONT_CHARS = 253 + 6;

export interface RendezvousChannel {
  kind: RendezvousChannelKind;
  /** direct and fronted: the broker's base URL (its Host). cache: the broker's base URL as seen through the cache. */
  url: string;
  /** fronted only: the name (host, or host:port) the TLS connection goes to and names; the CDN's, not the broker's. */
  front?: string;
  /** This channel's timeout (ms); DEFAULT_RENDEZVOUS_TIMEOUTS_MS[kind] when absent. */
  timeoutMs?: number;
}

/** A rendezvous channel description is unusable; the message names the field. */
export class RendezvousConfigError extends Error {
  override readonly name = 'RendezvousConfigError';
  readonly code = 'BAD_RENDEZVOUS_CHANNEL';
}

const badChannel: Fail = (message) => new RendezvousConfigError(`a rendezvous channel is malformed: ${message}`);

/** Checks one channel as configuration or a signed list gives it. */
export function parseRendezvousChannel(value: unknown, fail: Fail = badChannel): RendezvousChannel {
  if (!isRecord(value)) throw fail('a channel must be an object {kind, url, front?, timeoutMs?}');
  const kind = value.kind;
  if (typeof kind !== 'string' || !(RENDEZVOUS_CHANNEL_KINDS as readonly string[]).includes(kind)) {
    throw fail(`"kind" must be one of ${RENDEZVOUS_CHANNEL_KINDS.join(', ')}`);
  }
  const url = requireText(value.url, `the ${kind} channel's "url"`, MAX_CHANNEL_URL_CHARS, fail);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw fail(`the ${kind} channel's "url" is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw fail(`the ${kind} channel's "url" must be https:// (or http:// on a test network)`);
  if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '' || parsed.hash !== '') {
    throw fail(`the ${kind} channel's "url" may carry no user name, password, query or fragment`);
  }
  const channel: RendezvousChannel = { kind: kind as RendezvousChannelKind, url: url.replace(/\/+$/, '') };
  if (kind === 'fronted') {
    const front = requireText(value.front, 'the fronted channel\'s "front"', MAX_FRONT_CHARS, fail);
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(front)) throw fail('the fronted channel\'s "front" must be a host name, with an optional :port');
    if (parsed.protocol !== 'https:') throw fail('a fronted channel must use https:// (fronting is a TLS name apart from the Host)');
    channel.front = front;
  } else if (value.front !== undefined) {
    throw fail(`only a fronted channel has a "front", not ${kind}`);
  }
  if (value.timeoutMs !== undefined) {
    const timeoutMs = value.timeoutMs;
    if (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1_000 || timeoutMs > 120_000) {
      throw fail(`the ${kind} channel's "timeoutMs" must be a whole number of milliseconds from 1000 to 120000`);
    }
    channel.timeoutMs = timeoutMs;
  }
  return channel;
}

/** Checks a list of channels (1 to MAX_RENDEZVOUS_CHANNELS). */
export function parseRendezvousChannels(value: unknown, fail: Fail = badChannel): RendezvousChannel[] {
  if (!Array.isArray(value) || value.length === 0) throw fail('"channels" must be a non-empty array');
  if (value.length > MAX_RENDEZVOUS_CHANNELS) throw fail(`at most ${MAX_RENDEZVOUS_CHANNELS} channels may be listed, not ${value.length}`);
  return value.map((channel) => parseRendezvousChannel(channel, fail));
}

/** A short, stable name for a channel, for the popup, logs and "which worked last": kind, then where it goes. */
export function channelName(channel: RendezvousChannel): string {
  const host = new URL(channel.url).host;
  if (channel.kind === 'fronted') return `fronted via ${channel.front} to ${host}`;
  if (channel.kind === 'cache') return `cache ${host}`;
  return `direct ${host}`;
}

/** Carries one sealed envelope over one channel and returns the broker's sealed reply (base64url text). */
export type RendezvousCarrier = (channel: RendezvousChannel, envelope: string, signal: AbortSignal) => Promise<string>;

/** Why one channel failed: `code` is short and stable (TIMEOUT, UNREACHABLE, HTTP_404, BAD_REPLY, ...). */
export interface ChannelFailure {
  channel: string;
  code: string;
  message: string;
}

/** A carrier's failure with a stable code; anything else a carrier throws counts as UNREACHABLE. */
export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Every channel failed; `failures` says why each did, in the order tried. */
export class RendezvousFailedError extends Error {
  override readonly name = 'RendezvousFailedError';
  readonly code = 'BROKER_UNREACHABLE';
  constructor(readonly failures: readonly ChannelFailure[]) {
    super(
      failures.length === 0
        ? 'no rendezvous channel is configured'
        : `the broker could not be reached through any channel: ${failures.map((failure) => `${failure.channel}: ${failure.message}`).join('; ')}`,
    );
  }
}

/** The rendezvous was stopped from outside (the client path stopped). */
export class RendezvousStoppedError extends Error {
  override readonly name = 'RendezvousStoppedError';
  readonly code = 'STOPPED';
  constructor() {
    super('the rendezvous was stopped');
  }
}

/** `channels` in the order to try them: the one named `lastWorked` first, the others as configured. */
export function orderChannels(channels: readonly RendezvousChannel[], lastWorked: string | undefined): RendezvousChannel[] {
  const first = channels.find((channel) => channelName(channel) === lastWorked);
  return first === undefined ? [...channels] : [first, ...channels.filter((channel) => channel !== first)];
}

export interface RendezvousResult<T> {
  /** What `open` made of the reply. */
  value: T;
  /** channelName() of the channel that carried it: to show, and to try first next time. */
  channel: string;
  /** Channels that failed before it, in the order tried. */
  failures: ChannelFailure[];
}

/** One sealed request: its envelope, and the one way to read the reply to it (throws when the reply is not that). */
export interface RendezvousAttempt<T> {
  envelope: string;
  open(reply: string): T;
}

/**
 * Tries each channel in turn (orderChannels) until one brings a reply that opens. Each channel carries a request
 * sealed anew by `seal` (a fresh ephemeral key: an observer of two channels cannot link the two, and a forged reply
 * on one channel spoils nothing for the next), within its own timeout. A stop from `signal` ends the whole attempt
 * with RendezvousStoppedError; when every channel fails, throws RendezvousFailedError naming each failure.
 */
export async function carryOverChannels<T>(
  channels: readonly RendezvousChannel[],
  carrier: RendezvousCarrier,
  seal: () => RendezvousAttempt<T>,
  options: { signal: AbortSignal; lastWorked?: string | undefined; onTrying?: (channel: string) => void },
): Promise<RendezvousResult<T>> {
  const failures: ChannelFailure[] = [];
  for (const channel of orderChannels(channels, options.lastWorked)) {
    if (options.signal.aborted) throw new RendezvousStoppedError();
    const name = channelName(channel);
    options.onTrying?.(name);
    const timeoutMs = channel.timeoutMs ?? DEFAULT_RENDEZVOUS_TIMEOUTS_MS[channel.kind];
    // A timer of our own, cleared when the channel is done (AbortSignal.timeout's is never cleared, and is unref'd).
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const attempt = seal();
    let reply: string;
    try {
      reply = await carrier(channel, attempt.envelope, AbortSignal.any([options.signal, timeout.signal]));
    } catch (error) {
      if (options.signal.aborted) throw new RendezvousStoppedError();
      if (timeout.signal.aborted) failures.push({ channel: name, code: 'TIMEOUT', message: `no answer within ${timeoutMs / 1000} s` });
      else if (error instanceof ChannelError) failures.push({ channel: name, code: error.code, message: error.message });
      else failures.push({ channel: name, code: 'UNREACHABLE', message: error instanceof Error ? error.message : String(error) });
      continue;
    } finally {
      clearTimeout(timer);
    }
    try {
      return { value: attempt.open(reply), channel: name, failures };
    } catch (error) {
      failures.push({ channel: name, code: 'BAD_REPLY', message: `its reply is not the broker's: ${error instanceof Error ? error.message : String(error)}` });
    }
  }
  throw new RendezvousFailedError(failures);
}
