/**
 * @module matchmaker
 * Finds an answer for one client offer: reserve the best volunteer for it, hand it the offer, wait. Each volunteer
 * gets at most volunteerAnswerTimeoutMs; a timeout, a decline or a vanished volunteer moves the offer on to the next
 * one while the client's time lasts. The whole search is bounded by one deadline (clientAnswerTimeoutMs), so a client
 * never waits longer than that, and a volunteer that never answers costs it one turn, not the whole wait.
 *
 * When no volunteer can take the offer right now:
 * - if one that suits the client is busy with another client's offer, or serves clients with all its slots, the
 *   client waits its turn in the queue of waiting clients (waiting-clients.ts) until a volunteer frees up (it settles
 *   the offer, or announces a slot when a client of its leaves) or its deadline passes (504 TIMED_OUT): a burst of
 *   clients is served as volunteers free up, not refused while capacity exists;
 * - if a volunteer let this client's offer time out, the client also keeps waiting until its deadline;
 * - otherwise (no volunteer suits it, or every one it went to declined or left) it gets 503 NO_VOLUNTEERS at once:
 *   it can try again sooner than its deadline.
 * A client whose volunteer failed it tries again at once, ahead of the queue: it has waited its turn already.
 *
 * A volunteer is offered each client at most once, and holds at most maxOffersPerVolunteerPending offers at once
 * (the store's own setting). The offer goes through the desk of the broker instance holding the volunteer's socket:
 * this instance's OfferDesk, or another instance's through the mesh.
 */
import { randomUUID } from 'node:crypto';
import { pairingIdOf } from '../protocol/pairing.ts';
import type { BrokerOffer, ClientOfferRequest, ClientOfferResponse, ExitInfo } from '../protocol/signaling.ts';
import type { CapacitySignal } from './capacity-signal.ts';
import { AnswerTimedOutError, ClientGoneError, NoVolunteersError } from './errors.ts';
import type { BrokerCounters } from './metrics.ts';
import type { OfferDesk } from './offer-desk.ts';
import type { MatchDeadlines, MatchOutcome } from './pending-matches.ts';
import type { SlotPool, SlotRequest, VolunteerStore } from './store.ts';
import { WaitingClients } from './waiting-clients.ts';

/** Hands an offer to a volunteer held by another broker instance (broker-mesh.ts); resolves with its outcome. */
export interface RemoteOffers {
  offer(ownerId: string, volunteerId: string, offer: BrokerOffer, deadlines: MatchDeadlines, signal: AbortSignal): Promise<MatchOutcome>;
}

export interface MatchmakerOptions {
  /** This broker instance's id, as the store records it for the volunteers it holds. */
  brokerId: string;
  clientAnswerTimeoutMs: number;
  volunteerAnswerTimeoutMs: number;
  store: VolunteerStore;
  desk: Pick<OfferDesk, 'offer'>;
  /** Offers to volunteers of other instances; undefined when this instance is alone (every volunteer is its own). */
  remote: RemoteOffers | undefined;
  capacity: CapacitySignal;
  counters: BrokerCounters;
  log: (message: string) => void;
}

/** Who the client is, as matching needs it. */
export interface ClientFacts {
  /** network-key.ts key of the client's address, or undefined (exempt). */
  network: string | undefined;
}

export class Matchmaker {
  readonly #options: MatchmakerOptions;
  readonly #waiting: WaitingClients;

  constructor(options: MatchmakerOptions) {
    this.#options = options;
    this.#waiting = new WaitingClients({
      store: options.store,
      onStoreError: (error) => options.log(`volunteer store failed while clients waited: ${error instanceof Error ? error.message : String(error)}`),
    });
    options.capacity.onChange(() => this.#waiting.capacityChanged());
  }

  /** Clients waiting in the queue for a volunteer to free up. */
  get clientsWaiting(): number {
    return this.#waiting.size;
  }

  /**
   * Resolves with a volunteer's answer, or rejects with NoVolunteersError (nobody suits the client now),
   * AnswerTimedOutError (deadline passed) or ClientGoneError (`signal` aborted: the client hung up).
   */
  async findAnswer(request: ClientOfferRequest, exit: ExitInfo, client: ClientFacts, signal: AbortSignal): Promise<ClientOfferResponse> {
    const { store, capacity, counters } = this.#options;
    const clientDeadline = Date.now() + this.#options.clientAnswerTimeoutMs;
    const triedVolunteerIds = new Set<string>();
    const pairingId = request.pairing === undefined ? undefined : pairingIdOf(request.pairing);
    // The volunteers already carrying this client's session, and their networks: a second path needs a second
    // volunteer elsewhere. A volunteer that left is avoided by its name alone (its network is no longer known).
    const avoidedIds = new Set(request.avoid ?? []);
    const excludeNetworks = new Set<string>();
    for (const id of avoidedIds) {
      const network = (await store.getVolunteer(id))?.network;
      if (network !== undefined) excludeNetworks.add(network);
    }
    let aVolunteerTimedOut = false;
    for (;;) {
      if (signal.aborted) throw new ClientGoneError('the client closed the connection');
      if (Date.now() >= clientDeadline) throw this.#timedOut();
      const slotRequest: SlotRequest = {
        clientNat: request.nat,
        clientNetwork: client.network,
        excludeIds: new Set([...triedVolunteerIds, ...avoidedIds]),
        excludeNetworks,
        pairingId,
      };
      const servedBefore = triedVolunteerIds.size > 0;
      const { volunteerId, ownerId, pool } = await this.#reserve(slotRequest, servedBefore, aVolunteerTimedOut, clientDeadline, signal);
      if (triedVolunteerIds.size > 0) counters.offerFallbacks += 1;
      triedVolunteerIds.add(volunteerId);
      const matchId = randomUUID();
      const deadlines = { answerBy: Math.min(clientDeadline, Date.now() + this.#options.volunteerAnswerTimeoutMs), clientDeadline };
      const offer: BrokerOffer = { type: 'offer', matchId, offer: request.offer, exit, ...(pool === 'personal' ? { pool } : {}) };
      const outcome =
        ownerId === this.#options.brokerId || this.#options.remote === undefined
          ? await this.#options.desk.offer(volunteerId, offer, deadlines, signal)
          : await this.#options.remote.offer(ownerId, volunteerId, offer, deadlines, signal);
      await store.releaseSlot(volunteerId, outcome.kind === 'answered' ? 'used' : 'unused', pool);
      capacity.changed();
      switch (outcome.kind) {
        case 'answered':
          counters.matches += 1;
          return { matchId, answer: outcome.answer, volunteer: volunteerId };
        case 'declined':
        case 'volunteer-gone':
          continue;
        case 'volunteer-timed-out':
          aVolunteerTimedOut = true;
          continue;
        case 'timed-out':
          throw this.#timedOut();
        case 'client-gone':
          throw new ClientGoneError('the client closed the connection');
      }
    }
  }

  /** Broker shutdown: waiting clients are let go as if their deadline passed. */
  close(): void {
    this.#waiting.close();
  }

  /** A slot for this client: at once when nobody is queued ahead (or it was served before), else in its turn. */
  async #reserve(
    request: SlotRequest,
    servedBefore: boolean,
    waitThroughNone: boolean,
    clientDeadline: number,
    signal: AbortSignal,
  ): Promise<{ volunteerId: string; ownerId: string; pool: SlotPool }> {
    const { store, counters } = this.#options;
    if (this.#waiting.size === 0 || servedBefore) {
      const reservation = await store.reserveSlot(request);
      if (reservation.kind === 'reserved') return reservation;
      if (reservation.kind === 'none' && !waitThroughNone) throw this.#noVolunteers(servedBefore, request.pairingId !== undefined);
    }
    counters.clientsQueued += 1;
    const turn = await this.#waiting.wait(request, waitThroughNone, clientDeadline, signal);
    switch (turn.kind) {
      case 'reserved':
        return turn;
      case 'none':
        throw this.#noVolunteers(servedBefore, request.pairingId !== undefined);
      case 'aborted':
        throw new ClientGoneError('the client closed the connection');
      case 'deadline':
      case 'closed':
        throw this.#timedOut();
    }
  }

  #noVolunteers(servedBefore: boolean, paired: boolean): NoVolunteersError {
    this.#options.counters.noVolunteers += 1;
    if (paired) {
      return new NoVolunteersError(
        servedBefore
          ? 'the volunteer of your pairing link declined or left; try again in a few seconds'
          : 'the volunteer of your pairing link is not online, has no free slot, cannot be reached from your network, or revoked the link; ask them, or remove the pairing to use any volunteer',
      );
    }
    return new NoVolunteersError(servedBefore ? 'every free volunteer declined or left; try again in a few seconds' : undefined);
  }

  #timedOut(): AnswerTimedOutError {
    this.#options.counters.timeouts += 1;
    return new AnswerTimedOutError(this.#options.clientAnswerTimeoutMs);
  }
}
