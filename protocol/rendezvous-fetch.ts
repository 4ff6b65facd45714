/**
 * @module rendezvous-fetch
 * The rendezvous channels that web-standard fetch can carry: direct (POST the envelope) and cache (GET with the
 * envelope in the path, the reply armoured in an HTML page). Fronting needs a TLS name apart from the Host, which
 * fetch cannot give (Host is a forbidden header): this carrier refuses it with NEEDS_HELPER, and the helper's own
 * carrier (native-helper/rendezvous-carrier.ts) takes it.
 */

import { BodyTooLargeError, readBoundedText } from './bounded-body.ts';
import { ChannelError, type RendezvousCarrier } from './rendezvous.ts';
import { MAX_ENVELOPE_CHARS, RendezvousEnvelopeError, unarmorReplyPage } from './rendezvous-envelope.ts';
import { BrokerRoute } from './signaling.ts';

/** Largest reply read (bytes): the envelope, or its armoured page (line breaks and a little HTML around it). */
export const MAX_RENDEZVOUS_REPLY_BYTES = MAX_ENVELOPE_CHARS * 2;

/** A carrier for the direct and cache channels over `fetchFn`. */
export function fetchRendezvousCarrier(fetchFn: typeof fetch = fetch): RendezvousCarrier {
  return async (channel, envelope, signal) => {
    if (channel.kind === 'fronted') throw new ChannelError('NEEDS_HELPER', 'fronting needs the helper (a browser cannot set the TLS name apart from the Host)');
    let response: Response;
    try {
      response =
        channel.kind === 'direct'
          ? // text/plain keeps it a CORS "simple" request: no preflight, one round trip.
            await fetchFn(`${channel.url}${BrokerRoute.RENDEZVOUS}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: envelope, signal })
          : await fetchFn(`${channel.url}${BrokerRoute.RENDEZVOUS}/${envelope}`, { method: 'GET', signal });
    } catch (error) {
      if (signal.aborted) throw error;
      // fetch says only "fetch failed" (Node) or "Failed to fetch" (browsers); Node puts the reason in `cause`.
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      throw new ChannelError('UNREACHABLE', `cannot reach ${new URL(channel.url).host}${cause}`);
    }
    return readRendezvousReply(channel.kind, response.status, () => readBoundedText(response, MAX_RENDEZVOUS_REPLY_BYTES));
  };
}

/** The reply envelope from a channel's HTTP response, or a ChannelError with a stable code (HTTP_404, BAD_REPLY). */
export async function readRendezvousReply(kind: 'direct' | 'fronted' | 'cache', status: number, readText: () => Promise<string>): Promise<string> {
  let text: string;
  try {
    text = await readText();
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new ChannelError('BAD_REPLY', `the reply is larger than ${MAX_RENDEZVOUS_REPLY_BYTES} bytes`);
    throw error;
  }
  if (status !== 200)
    throw new ChannelError(
      `HTTP_${status}`,
      `it answered HTTP ${status}${status === 404 ? ' (not found: no broker behind it, or a cache hiding an error)' : ''}`,
    );
  try {
    return kind === 'cache' ? unarmorReplyPage(text) : text.trim();
  } catch (error) {
    if (error instanceof RendezvousEnvelopeError) throw new ChannelError('BAD_REPLY', error.message);
    throw error;
  }
}
