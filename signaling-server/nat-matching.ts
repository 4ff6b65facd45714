/**
 * @module nat-matching
 * Which volunteers a client may be matched to, by NAT class, and in which order.
 *
 * The rules follow what was measured on real NATs built with nftables (node-datachannel peers with host and
 * server-reflexive candidates, no TURN):
 * - full cone ↔ anything connects; port-restricted ↔ port-restricted connects;
 * - port-restricted ↔ symmetric and symmetric ↔ symmetric never connect, and ICE does not even report "failed".
 * Address-restricted NATs keep one mapping for every destination and open it to any port of an address they have
 * sent to, so they reach symmetric peers too (the symmetric side's new port comes from an address they already
 * contacted). The coarse probe classes of browser volunteers map onto these: 'unrestricted' is full cone or
 * address-restricted (a symmetric peer reached it), 'restricted' is port-restricted or symmetric.
 *
 * A pair is refused only when it is known not to connect. A pair involving 'unknown' is a guess: allowed, but only
 * after every pair known to work, so an unmeasured network still matches while a measured one never wastes a client's
 * wait on a pair that cannot connect.
 *
 * Order: the scarce volunteers that can serve anyone (full cone) are saved for the clients that need them. Among the
 * volunteers that can serve a client, the least versatile goes first: a symmetric volunteer, which only full-cone
 * and address-restricted clients can use, is offered to them before a full-cone volunteer is.
 */
import type { NatClass } from '../protocol/signaling.ts';

/** Whether a peer of this class can be reached by a peer that might be behind a symmetric NAT. */
function acceptsSymmetricPeers(nat: NatClass): boolean {
  return nat === 'full-cone' || nat === 'address-restricted' || nat === 'unrestricted';
}

/** Whether a peer of this class might be symmetric (so only peers that accept symmetric ones are safe for it). */
function mightBeSymmetric(nat: NatClass): boolean {
  return nat === 'symmetric' || nat === 'restricted';
}

/**
 * True when a peer of class `a` and one of class `b` can establish a data channel without TURN, false when they are
 * known not to, undefined when it is a guess (an 'unknown' is involved and nothing settles it).
 */
export function natsConnect(a: NatClass, b: NatClass): boolean | undefined {
  if (acceptsSymmetricPeers(a) || acceptsSymmetricPeers(b)) return true;
  if (a === 'unknown' || b === 'unknown') return undefined;
  // Both are port-restricted, symmetric or 'restricted' (one of those two).
  if (mightBeSymmetric(a) || mightBeSymmetric(b)) return false;
  return true; // port-restricted ↔ port-restricted
}

/**
 * How many kinds of client a volunteer of this class can serve, lowest first: the order in which volunteers are
 * offered, so the versatile ones stay free for the clients only they can serve. 'unknown' comes last: it is a guess.
 */
const VERSATILITY_ORDER: readonly NatClass[] = ['symmetric', 'restricted', 'port-restricted', 'unrestricted', 'address-restricted', 'full-cone', 'unknown'];

/**
 * The volunteer classes a client of class `clientNat` may be matched to, best first: known-good pairs from the least
 * versatile volunteer class up, then the guesses, most versatile first. Pairs known not to connect are absent.
 */
export function volunteerClassesFor(clientNat: NatClass): readonly NatClass[] {
  return PREFERENCES.get(clientNat) ?? [];
}

const PREFERENCES: ReadonlyMap<NatClass, readonly NatClass[]> = new Map(
  VERSATILITY_ORDER.map((client): [NatClass, NatClass[]] => {
    const known = VERSATILITY_ORDER.filter((volunteer) => natsConnect(client, volunteer) === true);
    // Guesses go most versatile first: the likelier to connect whatever the client really is.
    const guesses = [...VERSATILITY_ORDER].reverse().filter((volunteer) => natsConnect(client, volunteer) === undefined);
    return [client, [...known, ...guesses]];
  }),
);

/** Position of `volunteerNat` in `clientNat`'s preference: lower is better, undefined means never. */
export function natPreferenceRank(clientNat: NatClass, volunteerNat: NatClass): number | undefined {
  const index = volunteerClassesFor(clientNat).indexOf(volunteerNat);
  return index === -1 ? undefined : index;
}
