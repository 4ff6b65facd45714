/**
 * @module memory-store
 * The default VolunteerStore: plain maps in this process, for a single broker instance.
 *
 * Picking must stay cheap with tens of thousands of volunteers and thousands of matches a second, so the store keeps
 * an index of the volunteers that can take an offer now (free slots, fewer than maxReservedPerVolunteer offers in
 * flight): one queue per NAT class and score, in the order the module comment of store.ts gives. A pick walks the
 * client's NAT classes best first and the scores high to low, and takes the first volunteer it may have; it skips
 * only volunteers excluded for this client, so a pick costs O(classes × scores + excluded), not O(volunteers).
 */

import { MAX_VOLUNTEER_SLOTS, type NatClass } from '../protocol/signaling.ts';
import { SCORE_STEPS } from './answer-record.ts';
import { natsConnect, volunteerClassesFor } from './nat-matching.ts';
import type {
  NewVolunteer,
  SlotOutcome,
  SlotPool,
  SlotRequest,
  SlotReservation,
  VolunteerPool,
  VolunteerSnapshot,
  VolunteerStore,
  VolunteerStoreCounts,
} from './store.ts';
import { clampScore, freeSlotsOf } from './store.ts';

const NO_PAIRINGS: ReadonlySet<string> = new Set<string>();

export interface MemoryVolunteerStoreOptions {
  /** Offers one volunteer may hold at once (BrokerConfig.maxOffersPerVolunteerPending). Default 1. */
  maxReservedPerVolunteer: number;
}

interface VolunteerEntry extends Omit<VolunteerSnapshot, 'pairingIds'> {
  network: string | undefined;
  pairingIds: ReadonlySet<string>;
  /** True until its first reservation: volunteers never offered anyone go first. */
  neverOffered: boolean;
  /** The most common slots it ever announced: what it can serve at once, so its load is that minus what is free. */
  capacity: number;
  /** The queue it sits in while it can take an offer, and that queue's score and load; undefined while it cannot. */
  queue: Map<string, VolunteerEntry> | undefined;
  queuedScore: number;
  queuedLoad: number;
}

/** Volunteers of one NAT class, one score and one load that can take an offer now, in offer order. */
interface OfferQueues {
  /** Never offered anyone, in arrival order. */
  newcomers: Map<string, VolunteerEntry>;
  /** Offered before, in the order they last became able to take an offer. */
  returning: Map<string, VolunteerEntry>;
}

/** Per score (index = score), per load (index = clients served, sparse): the queues. */
type ClassQueues = Array<Array<OfferQueues | undefined>>;

export class MemoryVolunteerStore implements VolunteerStore {
  readonly #maxReservedPerVolunteer: number;
  readonly #volunteers = new Map<string, VolunteerEntry>();
  /** Per NAT class, per score, per load: the index of volunteers that can take an offer now. */
  readonly #available = new Map<NatClass, ClassQueues>();
  /** Volunteers holding at least one reservation: the ones a waiting client may get once they settle. */
  readonly #withOffersInFlight = new Set<VolunteerEntry>();
  /**
   * Per NAT class: volunteers whose common slots are all taken by clients they serve. Each frees a slot when one of
   * them leaves (and says so in a `slots` message), so a client that suits one waits for it instead of being refused.
   */
  readonly #servingFull = new Map<NatClass, Set<VolunteerEntry>>();
  /** Volunteers by the ids of their pairing links. */
  readonly #byPairingId = new Map<string, Set<VolunteerEntry>>();

  constructor(options: Partial<MemoryVolunteerStoreOptions> = {}) {
    this.#maxReservedPerVolunteer = options.maxReservedPerVolunteer ?? 1;
  }

  async addVolunteer(volunteer: NewVolunteer): Promise<void> {
    this.#delete(volunteer.id);
    const entry: VolunteerEntry = {
      id: volunteer.id,
      ownerId: volunteer.ownerId,
      kind: volunteer.kind,
      nat: volunteer.nat,
      network: volunteer.network,
      announcedSlots: volunteer.slots,
      reservedSlots: 0,
      personalSlots: volunteer.personalSlots,
      reservedPersonalSlots: 0,
      pairingIds: NO_PAIRINGS,
      score: clampScore(volunteer.score),
      neverOffered: true,
      capacity: volunteer.slots,
      queue: undefined,
      queuedScore: 0,
      queuedLoad: 0,
    };
    this.#volunteers.set(entry.id, entry);
    this.#setPairings(entry, volunteer.pairingIds);
    this.#reindex(entry);
  }

  async removeVolunteer(id: string): Promise<void> {
    this.#delete(id);
  }

  async updateSlots(id: string, slots: number, personalSlots: number | undefined): Promise<void> {
    const entry = this.#volunteers.get(id);
    if (!entry) return;
    entry.announcedSlots = slots;
    entry.capacity = Math.max(entry.capacity, slots);
    if (personalSlots !== undefined) entry.personalSlots = personalSlots;
    this.#reindex(entry);
  }

  async updateNat(id: string, nat: NatClass): Promise<void> {
    const entry = this.#volunteers.get(id);
    if (!entry || entry.nat === nat) return;
    this.#leaveQueue(entry);
    this.#servingFull.get(entry.nat)?.delete(entry);
    entry.nat = nat;
    this.#reindex(entry);
  }

  async updatePairings(id: string, pairingIds: readonly string[]): Promise<void> {
    const entry = this.#volunteers.get(id);
    if (entry) this.#setPairings(entry, pairingIds);
  }

  async updateScore(id: string, score: number): Promise<void> {
    const entry = this.#volunteers.get(id);
    if (!entry || entry.score === clampScore(score)) return;
    this.#leaveQueue(entry);
    entry.score = clampScore(score);
    this.#reindex(entry);
  }

  async reserveSlot(request: SlotRequest): Promise<SlotReservation> {
    if (request.pairingId !== undefined) return this.#reservePaired(request, request.pairingId);
    const picked = this.#pick(request);
    if (picked === undefined) return this.#worthWaitingFor(request) ? { kind: 'busy' } : { kind: 'none' };
    return this.#reserve(picked, 'common');
  }

  async releaseSlot(id: string, outcome: SlotOutcome, pool: SlotPool): Promise<void> {
    const entry = this.#volunteers.get(id);
    if (!entry) return;
    if (pool === 'personal') {
      if (entry.reservedPersonalSlots === 0) return;
      entry.reservedPersonalSlots -= 1;
      if (outcome === 'used') entry.personalSlots = Math.max(0, entry.personalSlots - 1);
    } else {
      if (entry.reservedSlots === 0) return;
      entry.reservedSlots -= 1;
      if (outcome === 'used') entry.announcedSlots = Math.max(0, entry.announcedSlots - 1);
    }
    if (reservedOf(entry) === 0) this.#withOffersInFlight.delete(entry);
    this.#reindex(entry);
  }

  async getVolunteer(id: string): Promise<VolunteerSnapshot | undefined> {
    const entry = this.#volunteers.get(id);
    if (!entry) return undefined;
    return {
      id: entry.id,
      ownerId: entry.ownerId,
      kind: entry.kind,
      nat: entry.nat,
      announcedSlots: entry.announcedSlots,
      reservedSlots: entry.reservedSlots,
      personalSlots: entry.personalSlots,
      reservedPersonalSlots: entry.reservedPersonalSlots,
      pairingIds: [...entry.pairingIds],
      score: entry.score,
      network: entry.network,
    };
  }

  async counts(): Promise<VolunteerStoreCounts> {
    let freeSlots = 0;
    let reservedSlots = 0;
    for (const entry of this.#volunteers.values()) {
      freeSlots += freeSlotsOf(entry);
      reservedSlots += entry.reservedSlots;
    }
    return { volunteers: this.#volunteers.size, freeSlots, reservedSlots };
  }

  async pools(): Promise<VolunteerPool[]> {
    const byPool = new Map<string, VolunteerPool>();
    for (const entry of this.#volunteers.values()) {
      const key = `${entry.kind}\n${entry.nat}`;
      let pool = byPool.get(key);
      if (pool === undefined) {
        pool = { kind: entry.kind, nat: entry.nat, volunteers: 0, freeSlots: 0, reservedSlots: 0 };
        byPool.set(key, pool);
      }
      pool.volunteers += 1;
      pool.freeSlots += freeSlotsOf(entry);
      pool.reservedSlots += entry.reservedSlots;
    }
    return [...byPool.values()];
  }

  async close(): Promise<void> {
    this.#volunteers.clear();
    this.#available.clear();
    this.#withOffersInFlight.clear();
    this.#byPairingId.clear();
  }

  #reserve(entry: VolunteerEntry, pool: SlotPool): SlotReservation {
    if (pool === 'personal') entry.reservedPersonalSlots += 1;
    else entry.reservedSlots += 1;
    entry.neverOffered = false;
    this.#withOffersInFlight.add(entry);
    // Out of its queue, and back at the end of one if it can still take another offer.
    this.#leaveQueue(entry);
    this.#reindex(entry);
    return { kind: 'reserved', volunteerId: entry.id, ownerId: entry.ownerId, pool };
  }

  /** A pairing link's holder: only the volunteers that registered it, personal slots first. */
  #reservePaired(request: SlotRequest, pairingId: string): SlotReservation {
    let worthWaiting = false;
    for (const entry of this.#byPairingId.get(pairingId) ?? []) {
      if (!isAllowed(entry, request) || natsConnect(request.clientNat, entry.nat) === false) continue;
      if (reservedOf(entry) < this.#maxReservedPerVolunteer) {
        if (entry.personalSlots - entry.reservedPersonalSlots > 0) return this.#reserve(entry, 'personal');
        if (freeSlotsOf(entry) > 0) return this.#reserve(entry, 'common');
      }
      if (reservedOf(entry) > 0 && entry.personalSlots + entry.announcedSlots > 0) worthWaiting = true;
    }
    return worthWaiting ? { kind: 'busy' } : { kind: 'none' };
  }

  #setPairings(entry: VolunteerEntry, pairingIds: readonly string[]): void {
    for (const id of entry.pairingIds) {
      const holders = this.#byPairingId.get(id);
      holders?.delete(entry);
      if (holders?.size === 0) this.#byPairingId.delete(id);
    }
    // Most volunteers have no pairing link: they share one empty set instead of holding a Set each.
    entry.pairingIds = pairingIds.length === 0 ? NO_PAIRINGS : new Set(pairingIds);
    for (const id of entry.pairingIds) {
      let holders = this.#byPairingId.get(id);
      if (holders === undefined) {
        holders = new Set();
        this.#byPairingId.set(id, holders);
      }
      holders.add(entry);
    }
  }

  #pick(request: SlotRequest): VolunteerEntry | undefined {
    for (const nat of volunteerClassesFor(request.clientNat)) {
      const byScore = this.#available.get(nat);
      if (byScore === undefined) continue;
      for (let score = SCORE_STEPS; score >= 0; score -= 1) {
        const byLoad = byScore[score] ?? [];
        for (const queues of byLoad) {
          if (queues === undefined) continue;
          const picked = firstAllowed(queues.newcomers, request) ?? firstAllowed(queues.returning, request);
          if (picked !== undefined) return picked;
        }
      }
    }
    return undefined;
  }

  /** A volunteer that suits the client holds offers now: when they settle it may take this client. */
  /** A volunteer that suits this client will be able to take it soon: it settles an offer, or a client of its leaves. */
  #worthWaitingFor(request: SlotRequest): boolean {
    const classes = volunteerClassesFor(request.clientNat);
    for (const entry of this.#withOffersInFlight) {
      if (entry.announcedSlots > 0 && isAllowed(entry, request) && classes.includes(entry.nat)) return true;
    }
    for (const nat of classes) {
      // Stops at the first one allowed: only excluded and same-network volunteers are skipped.
      for (const entry of this.#servingFull.get(nat) ?? []) if (isAllowed(entry, request)) return true;
    }
    return false;
  }

  /** Puts the volunteer in the right queue if it can take an offer now, and takes it out of every queue if not. */
  #reindex(entry: VolunteerEntry): void {
    this.#trackServingFull(entry);
    const canTakeOffer = freeSlotsOf(entry) > 0 && reservedOf(entry) < this.#maxReservedPerVolunteer;
    if (!canTakeOffer) {
      this.#leaveQueue(entry);
      return;
    }
    const load = loadOf(entry);
    if (entry.queue !== undefined) {
      if (entry.queuedScore === entry.score && entry.queuedLoad === load) return; // keeps its place
      this.#leaveQueue(entry);
    }
    const queues = this.#queuesFor(entry.nat, entry.score, load);
    entry.queue = entry.neverOffered ? queues.newcomers : queues.returning;
    entry.queuedScore = entry.score;
    entry.queuedLoad = load;
    entry.queue.set(entry.id, entry);
  }

  #trackServingFull(entry: VolunteerEntry): void {
    let full = this.#servingFull.get(entry.nat);
    if (entry.announcedSlots === 0 && entry.capacity > 0) {
      if (full === undefined) {
        full = new Set();
        this.#servingFull.set(entry.nat, full);
      }
      full.add(entry);
    } else {
      full?.delete(entry);
    }
  }

  #leaveQueue(entry: VolunteerEntry): void {
    entry.queue?.delete(entry.id);
    entry.queue = undefined;
  }

  #queuesFor(nat: NatClass, score: number, load: number): OfferQueues {
    let byScore = this.#available.get(nat);
    if (byScore === undefined) {
      byScore = Array.from({ length: SCORE_STEPS + 1 }, () => []);
      this.#available.set(nat, byScore);
    }
    // clampScore keeps the score in range; loadOf keeps the load from 0 to MAX_VOLUNTEER_SLOTS.
    const byLoad = byScore[score] as Array<OfferQueues | undefined>;
    let queues = byLoad[load];
    if (queues === undefined) {
      queues = { newcomers: new Map(), returning: new Map() };
      byLoad[load] = queues;
    }
    return queues;
  }

  #delete(id: string): void {
    const entry = this.#volunteers.get(id);
    if (!entry) return;
    this.#leaveQueue(entry);
    this.#withOffersInFlight.delete(entry);
    this.#servingFull.get(entry.nat)?.delete(entry);
    this.#setPairings(entry, []);
    this.#volunteers.delete(id);
  }
}

/**
 * How many clients a volunteer serves now, as its own announcements tell: the most slots it ever announced minus the
 * slots free now. Among volunteers equally good by NAT and score, the least loaded is offered first.
 */
function loadOf(entry: VolunteerEntry): number {
  return Math.min(MAX_VOLUNTEER_SLOTS, Math.max(0, entry.capacity - entry.announcedSlots));
}

/** Offers in flight to a volunteer, both pools together. */
function reservedOf(entry: VolunteerEntry): number {
  return entry.reservedSlots + entry.reservedPersonalSlots;
}

function isAllowed(entry: VolunteerEntry, request: SlotRequest): boolean {
  if (request.excludeIds.has(entry.id)) return false;
  if (entry.network !== undefined && request.excludeNetworks.has(entry.network)) return false;
  return request.clientNetwork === undefined || entry.network !== request.clientNetwork;
}

function firstAllowed(queue: Map<string, VolunteerEntry>, request: SlotRequest): VolunteerEntry | undefined {
  for (const entry of queue.values()) if (isAllowed(entry, request)) return entry;
  return undefined;
}
