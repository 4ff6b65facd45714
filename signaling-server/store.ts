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
 * Matching: volunteers whose NAT class suits the client's (nat-matching.ts: never a pair known not to connect, the
 * least versatile class first), never one on the client's own network, then the higher score (set by the broker from
 * how the volunteer answered so far, answer-record.ts), then the least loaded (the clients it serves now, by its own
 * announcements: the most slots it ever announced minus those free now), then the one that has waited longest for an
 * offer: a volunteer never offered anyone first, then in the order they last became free. Announced slots are an upper bound
 * only, never a reason to prefer a volunteer: they cost nothing to claim.
 *
 * Pairing links (protocol/pairing.ts): a volunteer may also announce personal slots, which only a client holding one
 * of its pairing links is given; such a client is given only that volunteer (personal slots first, then common ones).
 *
 * A volunteer holds at most `maxReservedPerVolunteer` offers at once, both pools together
 * (BrokerConfig.maxOffersPerVolunteerPending), a setting of the store so it can keep an index of the volunteers that
 * can take an offer now.
 */
import type { NatClass, VolunteerKind } from '../protocol/signaling.ts';
import { SCORE_STEPS } from './answer-record.ts';

export interface NewVolunteer {
  id: string;
  /** The broker instance holding its socket: offers for it go through that instance. */
  ownerId: string;
  kind: VolunteerKind;
  nat: NatClass;
  /** Its network (network-key.ts), or undefined when it is exempt (loopback); never a full address. */
  network: string | undefined;
  /** Free slots announced in `hello`, for anyone. */
  slots: number;
  /** Free slots announced in `hello` for holders of its pairing links only. */
  personalSlots: number;
  /** Ids of its pairing links (protocol/pairing.ts). */
  pairingIds: readonly string[];
  /** Starting score (VolunteerRanking.admit). */
  score: number;
}

export interface VolunteerSnapshot {
  id: string;
  ownerId: string;
  kind: VolunteerKind;
  nat: NatClass;
  /** Free slots as last announced (lowered by one for each answered offer since). */
  announcedSlots: number;
  /** Offers sent and not yet answered, declined or timed out, on common slots. */
  reservedSlots: number;
  /** Personal slots as last announced (lowered by one for each answered offer on them since). */
  personalSlots: number;
  /** Offers in flight on personal slots. */
  reservedPersonalSlots: number;
  pairingIds: string[];
  /** Measured standing: higher is offered first among volunteers equally suited by NAT. */
  score: number;
  /** The network it connects from (network-key.ts); undefined when its address was not known. */
  network: string | undefined;
}

export interface SlotRequest {
  clientNat: NatClass;
  /** The client's network (network-key.ts): volunteers on it are never picked. Undefined: no such rule. */
  clientNetwork: string | undefined;
  /**
   * Volunteers never picked for this client: those it already tried (declined or vanished), and those it asked to
   * avoid because they carry its session already (a second path must go through a second volunteer).
   */
  excludeIds: ReadonlySet<string>;
  /** Networks never picked for this client: those of the volunteers it avoids (two paths, two addresses). */
  excludeNetworks: ReadonlySet<string>;
  /**
   * The id of the pairing link the client holds: only the volunteer(s) that registered it may be picked, personal
   * slots first, then their common slots. Undefined: common slots of anyone, never personal ones.
   */
  pairingId: string | undefined;
}

/** Which of a volunteer's slots a reservation holds. */
export type SlotPool = 'common' | 'personal';

/**
 * What reserveSlot found:
 * - 'reserved': a slot of `volunteerId` (connected to broker `ownerId`) is held for this client;
 * - 'busy': none can take an offer now, but a volunteer that suits this client has offers in flight (it settles them
 *   within the volunteer answer timeout), or serves clients with every common slot it has (it frees one when one of
 *   them leaves): worth waiting for, within the client's deadline;
 * - 'none': no connected volunteer suits this client now.
 */
export type SlotReservation = { kind: 'reserved'; volunteerId: string; ownerId: string; pool: SlotPool } | { kind: 'busy' } | { kind: 'none' };

export type SlotOutcome = 'used' | 'unused';

export interface VolunteerStoreCounts {
  /** Volunteers that said hello and are still connected. */
  volunteers: number;
  /** Sum of free slots (announced - reserved) over all volunteers. */
  freeSlots: number;
  /** Offers in flight. */
  reservedSlots: number;
}

/** One pool of volunteers: those of one kind and NAT class. */
export interface VolunteerPool extends VolunteerStoreCounts {
  kind: VolunteerKind;
  nat: NatClass;
}

export interface VolunteerStore {
  /** Adds a volunteer; an existing id is replaced. */
  addVolunteer(volunteer: NewVolunteer): Promise<void>;
  /** Forgets a volunteer and its reservations. Unknown ids are ignored. */
  removeVolunteer(id: string): Promise<void>;
  /** Replaces a volunteer's announced free slots (and personal ones, unless undefined). Unknown ids are ignored. */
  updateSlots(id: string, slots: number, personalSlots: number | undefined): Promise<void>;
  /** Replaces a volunteer's NAT class (it probed it after hello). Unknown ids are ignored. */
  updateNat(id: string, nat: NatClass): Promise<void>;
  /** Replaces a volunteer's pairing ids. Unknown ids are ignored. */
  updatePairings(id: string, pairingIds: readonly string[]): Promise<void>;
  /** Replaces a volunteer's score (VolunteerRanking's verdict after each offer). Unknown ids are ignored. */
  updateScore(id: string, score: number): Promise<void>;
  /** Picks the best volunteer for a client (see the module comment) and reserves one of its slots, in one atomic step. */
  reserveSlot(request: SlotRequest): Promise<SlotReservation>;
  /** Ends a reservation made by reserveSlot, from the pool it was made in. Unknown ids (volunteer gone) are ignored. */
  releaseSlot(id: string, outcome: SlotOutcome, pool: SlotPool): Promise<void>;
  getVolunteer(id: string): Promise<VolunteerSnapshot | undefined>;
  counts(): Promise<VolunteerStoreCounts>;
  /** Counts per kind and NAT class, for metrics; only pools with at least one volunteer. */
  pools(): Promise<VolunteerPool[]>;
  close(): Promise<void>;
}

/** Free slots of a volunteer: announced minus those held by offers in flight. */
export function freeSlotsOf(volunteer: Pick<VolunteerSnapshot, 'announcedSlots' | 'reservedSlots'>): number {
  return Math.max(0, volunteer.announcedSlots - volunteer.reservedSlots);
}

/** Scores are whole steps from 0 to SCORE_STEPS (answer-record.ts); anything else is pulled into range. */
export function clampScore(score: number): number {
  if (!Number.isFinite(score)) return 0;
  return Math.min(SCORE_STEPS, Math.max(0, Math.floor(score)));
}
