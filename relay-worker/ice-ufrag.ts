/**
 * @module ice-ufrag
 * The ICE username fragment of an SDP, which names one side of one connection: how the relay core knows the offer of
 * its own self-check (self-check.ts) without loading the check's code. Runtime-neutral.
 */
export function iceUfragOf(sdp: string): string | undefined {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
}
