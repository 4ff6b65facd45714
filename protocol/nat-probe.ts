/**
 * @module nat-probe
 * How a browser volunteer learns its NAT class without RFC 5780 (a browser cannot send raw STUN): it opens a data
 * channel to a probe peer that sits behind a symmetric NAT. Only a volunteer whose NAT lets a symmetric peer in (full
 * cone or address-restricted) can connect, so: connected in time means 'unrestricted', not connected means
 * 'restricted'. Snowflake's proxies learn their class the same way.
 *
 * Wire: `POST <probe URL>` with `{offer: {type: 'offer', sdp}}` (non-trickle, like every rendezvous here) answers
 * `{answer: {type: 'answer', sdp}}`; the volunteer then waits NAT_PROBE_CONNECT_TIMEOUT_MS for the channel to open.
 */

/** The data channel label the probe peer accepts. */
export const NAT_PROBE_CHANNEL_LABEL = 'ferry-probe';
/** Path of the probe endpoint on the probe server. */
export const NAT_PROBE_PATH = '/v1/probe';
/** How long the volunteer waits for the probe's data channel to open before calling itself restricted (ms). */
export const NAT_PROBE_CONNECT_TIMEOUT_MS = 6_000;
/** How long the probe peer keeps a connection it answered (ms): long enough for the volunteer's wait. */
export const NAT_PROBE_PEER_LIFETIME_MS = 10_000;
/** Longest the volunteer waits for the probe server's HTTP answer (ms). */
export const NAT_PROBE_REQUEST_TIMEOUT_MS = 5_000;
/** Longest ICE gathering before the volunteer sends its offer (ms): STUN answers in well under a second. */
export const NAT_PROBE_GATHERING_TIMEOUT_MS = 3_000;
/** How long a volunteer trusts a probe result before probing again on its next connection (ms). */
export const NAT_PROBE_RESULT_LIFETIME_MS = 60 * 60_000;
