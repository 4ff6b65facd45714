/**
 * @module volunteer-store
 * Where the broker keeps which volunteers exist and how many free slots each has. Async and free of sockets, so a
 * shared store (Redis, for several broker instances) can implement it; the live WebSockets stay in the broker.
 *
 * Slot accounting, which every implementation follows:
 * - A volunteer announces `slots`: how many more clients it will take now, not counting offers in flight. Each
 *   `hello` or `slots` message replaces the number.
 * - Sending an offer reserves one slot (reserveSlot). Free slots = announced - reserved, never below 0.
 * - releaseSlot(id, 'used') after an answer: the volunteer now serves that client, so the announced count drops by
 *   one until its next `slots` message. releaseSlot(id, 'unused') after a decline or timeout gives the slot back.
 *
 * Matching follows Snowflake for NAT classes (see natPreferenceRank): restricted and unknown-NAT clients only get
 * volunteers that are unrestricted or unknown; unrestricted clients get restricted volunteers first, saving the scarce
 * unrestricted ones. Among volunteers equally suited by NAT the higher score wins (set by the broker from how the
 * volunteer answered so far, answer-record.ts), then the one left unused the longest. Announced slots are an upper
 * bound only, never a reason to prefer a volunteer: they cost nothing to claim.
 */
import type { NatClass, VolunteerKind } from '../protocol/signaling.ts';

export interface NewVolunteer {
  id: string;
  kind: VolunteerKind;
  nat: NatClass;
  /** Free slots announced in `hello`. */
  slots: number;
  /** Starting score (VolunteerRanking.admit). */
  score: number;
}

export interface VolunteerSnapshot {
  id: string;
  kind: VolunteerKind;
  nat: NatClass;
  /** Free slots as last announced (lowered by one for each answered offer since). */
  announcedSlots: number;
  /** Offers sent and not yet answered, declined or timed out. */
  reservedSlots: number;
  /** Measured standing: higher is offered first among volunteers equally suited by NAT. */
  score: number;
}

export interface SlotRequest {
  clientNat: NatClass;
  /** Volunteers this client already tried (declined or vanished); never picked again for it. */
  excludeIds: ReadonlySet<string>;
  /** A volunteer holding this many reservations already is skipped (BrokerConfig.maxOffersPerVolunteerPending). */
  maxReservedPerVolunteer: number;
}

export type SlotOutcome = 'used' | 'unused';

export interface VolunteerStoreCounts {
  /** Volunteers that said hello and are still connected. */
  volunteers: number;
  /** Sum of free slots (announced - reserved) over all volunteers. */
  freeSlots: number;
  /** Offers in flight. */
  reservedSlots: number;
}

export interface VolunteerStore {
  /** Adds a volunteer; an existing id is replaced. */
  addVolunteer(volunteer: NewVolunteer): Promise<void>;
  /** Forgets a volunteer and its reservations. Unknown ids are ignored. */
  removeVolunteer(id: string): Promise<void>;
  /** Replaces a volunteer's announced free slots. Unknown ids are ignored. */
  updateSlots(id: string, slots: number): Promise<void>;
  /** Replaces a volunteer's score (VolunteerRanking's verdict after each offer). Unknown ids are ignored. */
  updateScore(id: string, score: number): Promise<void>;
  /** Picks the best volunteer for a client (NAT rules, then score, then least recently used) and reserves one of its slots, in one atomic step. */
  reserveSlot(request: SlotRequest): Promise<string | undefined>;
  /** Ends a reservation made by reserveSlot. Unknown ids (volunteer gone) are ignored. */
  releaseSlot(id: string, outcome: SlotOutcome): Promise<void>;
  getVolunteer(id: string): Promise<VolunteerSnapshot | undefined>;
  counts(): Promise<VolunteerStoreCounts>;
  close(): Promise<void>;
}

/**
 * How well a volunteer's NAT suits a client's: lower is better, undefined means never.
 *
 * Until NAT classes are measured, every volunteer reports 'unknown'. Refusing unknown volunteers to restricted
 * clients would then refuse everyone, so 'unknown' volunteers are usable by every client, ranked after the class
 * that is known to work.
 */
export function natPreferenceRank(clientNat: NatClass, volunteerNat: NatClass): number | undefined {
  if (clientNat === 'unrestricted') {
    if (volunteerNat === 'restricted') return 0;
    if (volunteerNat === 'unknown') return 1;
    return 2;
  }
  // restricted or unknown client: two restricted NATs usually cannot reach each other.
  if (volunteerNat === 'unrestricted') return 0;
  if (volunteerNat === 'unknown') return 1;
  return undefined;
}

/** Free slots of a volunteer: announced minus those held by offers in flight. */
export function freeSlotsOf(volunteer: Pick<VolunteerSnapshot, 'announcedSlots' | 'reservedSlots'>): number {
  return Math.max(0, volunteer.announcedSlots - volunteer.reservedSlots);
}
