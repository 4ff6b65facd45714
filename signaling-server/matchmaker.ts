/**
 * @module matchmaker
 * Finds an answer for one client offer: reserve the best free volunteer, send it the offer, wait. A decline or a
 * vanished volunteer moves on to the next one while the client's time lasts; the whole search is bounded by one
 * deadline (clientAnswerTimeoutMs), so a client never waits longer than that.
 *
 * A volunteer is offered each client at most once, and holds at most maxOffersPerVolunteerPending offers at once.
 */
import { randomUUID } from 'node:crypto';
import type { ClientOfferRequest, ClientOfferResponse, ExitInfo } from '../protocol/signaling.ts';
import { AnswerTimedOutError, ClientGoneError, NoVolunteersError } from './errors.ts';
import type { BrokerCounters } from './metrics.ts';
import type { PendingMatches } from './pending-matches.ts';
import type { VolunteerStore } from './store.ts';
import type { VolunteerHub } from './volunteer-hub.ts';

export interface MatchmakerOptions {
  clientAnswerTimeoutMs: number;
  maxOffersPerVolunteerPending: number;
  store: VolunteerStore;
  hub: Pick<VolunteerHub, 'sendOffer'>;
  pendingMatches: PendingMatches;
  counters: BrokerCounters;
}

export class Matchmaker {
  readonly #options: MatchmakerOptions;

  constructor(options: MatchmakerOptions) {
    this.#options = options;
  }

  /**
   * Resolves with a volunteer's answer, or rejects with NoVolunteersError (nobody free now), AnswerTimedOutError
   * (deadline passed) or ClientGoneError (`signal` aborted: the client hung up).
   */
  async findAnswer(request: ClientOfferRequest, exit: ExitInfo, signal: AbortSignal): Promise<ClientOfferResponse> {
    const { store, hub, pendingMatches, counters } = this.#options;
    const deadline = Date.now() + this.#options.clientAnswerTimeoutMs;
    const triedVolunteerIds = new Set<string>();
    for (;;) {
      if (signal.aborted) throw new ClientGoneError('the client closed the connection');
      if (Date.now() >= deadline) throw this.#timedOut();
      const volunteerId = await store.reserveSlot({
        clientNat: request.nat,
        excludeIds: triedVolunteerIds,
        maxReservedPerVolunteer: this.#options.maxOffersPerVolunteerPending,
      });
      if (volunteerId === undefined) {
        counters.noVolunteers += 1;
        throw new NoVolunteersError(triedVolunteerIds.size === 0 ? undefined : 'every free volunteer declined or left; try again in a few seconds');
      }
      triedVolunteerIds.add(volunteerId);
      const matchId = randomUUID();
      const outcomePromise = pendingMatches.wait(matchId, volunteerId, deadline, signal);
      if (!hub.sendOffer(volunteerId, { type: 'offer', matchId, offer: request.offer, exit })) {
        // Its socket closed between the store's pick and now; the store forgets it shortly.
        pendingMatches.settleFromVolunteer(volunteerId, matchId, { kind: 'volunteer-gone' });
      }
      const outcome = await outcomePromise;
      switch (outcome.kind) {
        case 'answered':
          await store.releaseSlot(volunteerId, 'used');
          counters.matches += 1;
          return { matchId, answer: outcome.answer };
        case 'declined':
        case 'volunteer-gone':
          await store.releaseSlot(volunteerId, 'unused');
          continue;
        case 'timed-out':
          await store.releaseSlot(volunteerId, 'unused');
          throw this.#timedOut();
        case 'client-gone':
          await store.releaseSlot(volunteerId, 'unused');
          throw new ClientGoneError('the client closed the connection');
      }
    }
  }

  #timedOut(): AnswerTimedOutError {
    this.#options.counters.timeouts += 1;
    return new AnswerTimedOutError(this.#options.clientAnswerTimeoutMs);
  }
}
