/**
 * @module memory-store
 * The default VolunteerStore: plain maps in this process, for a single broker instance.
 * reserveSlot scans every volunteer (O(n)); at the default cap of 10,000 volunteers that is well under a millisecond.
 */

import type { NewVolunteer, SlotOutcome, SlotRequest, VolunteerSnapshot, VolunteerStore, VolunteerStoreCounts } from './store.ts';
import { freeSlotsOf, natPreferenceRank } from './store.ts';

interface VolunteerEntry extends VolunteerSnapshot {
  /** Order of the last reservation (0 = never); ties go to the volunteer left unused longest. */
  lastReservedOrder: number;
}

export class MemoryVolunteerStore implements VolunteerStore {
  readonly #volunteers = new Map<string, VolunteerEntry>();
  #reservationCounter = 0;

  async addVolunteer(volunteer: NewVolunteer): Promise<void> {
    this.#volunteers.set(volunteer.id, {
      id: volunteer.id,
      kind: volunteer.kind,
      nat: volunteer.nat,
      announcedSlots: volunteer.slots,
      reservedSlots: 0,
      score: volunteer.score,
      lastReservedOrder: 0,
    });
  }

  async removeVolunteer(id: string): Promise<void> {
    this.#volunteers.delete(id);
  }

  async updateSlots(id: string, slots: number): Promise<void> {
    const entry = this.#volunteers.get(id);
    if (entry) entry.announcedSlots = slots;
  }

  async updateScore(id: string, score: number): Promise<void> {
    const entry = this.#volunteers.get(id);
    if (entry) entry.score = score;
  }

  async reserveSlot(request: SlotRequest): Promise<string | undefined> {
    let best: VolunteerEntry | undefined;
    let bestRank = Number.POSITIVE_INFINITY;
    for (const entry of this.#volunteers.values()) {
      if (request.excludeIds.has(entry.id)) continue;
      if (entry.reservedSlots >= request.maxReservedPerVolunteer) continue;
      const free = freeSlotsOf(entry);
      if (free === 0) continue;
      const rank = natPreferenceRank(request.clientNat, entry.nat);
      if (rank === undefined) continue;
      if (best === undefined || rank < bestRank || (rank === bestRank && isBetterRanked(entry, best))) {
        best = entry;
        bestRank = rank;
      }
    }
    if (best === undefined) return undefined;
    best.reservedSlots += 1;
    this.#reservationCounter += 1;
    best.lastReservedOrder = this.#reservationCounter;
    return best.id;
  }

  async releaseSlot(id: string, outcome: SlotOutcome): Promise<void> {
    const entry = this.#volunteers.get(id);
    if (!entry || entry.reservedSlots === 0) return;
    entry.reservedSlots -= 1;
    if (outcome === 'used') entry.announcedSlots = Math.max(0, entry.announcedSlots - 1);
  }

  async getVolunteer(id: string): Promise<VolunteerSnapshot | undefined> {
    const entry = this.#volunteers.get(id);
    if (!entry) return undefined;
    return {
      id: entry.id,
      kind: entry.kind,
      nat: entry.nat,
      announcedSlots: entry.announcedSlots,
      reservedSlots: entry.reservedSlots,
      score: entry.score,
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

  async close(): Promise<void> {
    this.#volunteers.clear();
  }
}

/**
 * Higher score first; on a tie, the one reserved longest ago (a newcomer, never reserved, before all), which spreads
 * clients over equally good volunteers. Free slots are not compared: a volunteer may claim any number.
 */
function isBetterRanked(candidate: VolunteerEntry, current: VolunteerEntry): boolean {
  if (candidate.score !== current.score) return candidate.score > current.score;
  return candidate.lastReservedOrder < current.lastReservedOrder;
}
