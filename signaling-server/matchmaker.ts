/**
 * @module matchmaker
 * Finds an answer for one client offer: reserve the best free volunteer, send it the offer, wait. Each volunteer gets
 * at most volunteerAnswerTimeoutMs; a timeout, a decline or a vanished volunteer moves the offer on to the next one
 * while the client's time lasts. The whole search is bounded by one deadline (clientAnswerTimeoutMs), so a client
 * never waits longer than that, and a volunteer that never answers costs it one turn, not the whole wait.
 *
 * After every settled offer the volunteer's record (volunteer-ranking.ts) gives its new score, which decides how
 * soon it is offered again, or benches it after maxConsecutiveAnswerFailures failures in a row: that bounds how
 * many clients' offers, and the addresses in them, a volunteer that never answers gets to see.
 *
 * When nobody else is free:
 * - if no volunteer has had this client's offer, or every one it went to declined or left, the client gets 503
 *   NO_VOLUNTEERS at once: they said no, and it can try again sooner than its deadline;
 * - if a volunteer let the offer time out, the client keeps waiting for a volunteer to free up until its deadline,
 *   then gets 504 TIMED_OUT.
 *
 * A volunteer is offered each client at most once, and holds at most maxOffersPerVolunteerPending offers at once.
 */
import { randomUUID } from 'node:crypto';
import type { ClientOfferRequest, ClientOfferResponse, ExitInfo } from '../protocol/signaling.ts';
import type { AnswerFailure } from './answer-record.ts';
import type { CapacitySignal } from './capacity-signal.ts';
import { AnswerTimedOutError, ClientGoneError, NoVolunteersError } from './errors.ts';
import type { BrokerCounters } from './metrics.ts';
import type { PendingMatches } from './pending-matches.ts';
import type { VolunteerStore } from './store.ts';
import type { VolunteerHub } from './volunteer-hub.ts';
import type { RankingVerdict, VolunteerRanking } from './volunteer-ranking.ts';

export interface MatchmakerOptions {
  clientAnswerTimeoutMs: number;
  volunteerAnswerTimeoutMs: number;
  maxOffersPerVolunteerPending: number;
  store: VolunteerStore;
  hub: Pick<VolunteerHub, 'sendOffer' | 'bench'>;
  pendingMatches: PendingMatches;
  ranking: VolunteerRanking;
  capacity: CapacitySignal;
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
    const { store, hub, pendingMatches, capacity, counters } = this.#options;
    const clientDeadline = Date.now() + this.#options.clientAnswerTimeoutMs;
    const triedVolunteerIds = new Set<string>();
    let aVolunteerTimedOut = false;
    for (;;) {
      if (signal.aborted) throw new ClientGoneError('the client closed the connection');
      if (Date.now() >= clientDeadline) throw this.#timedOut();
      const capacityVersion = capacity.version;
      const volunteerId = await store.reserveSlot({
        clientNat: request.nat,
        excludeIds: triedVolunteerIds,
        maxReservedPerVolunteer: this.#options.maxOffersPerVolunteerPending,
      });
      if (volunteerId === undefined) {
        if (!aVolunteerTimedOut) {
          counters.noVolunteers += 1;
          throw new NoVolunteersError(triedVolunteerIds.size === 0 ? undefined : 'every free volunteer declined or left; try again in a few seconds');
        }
        // The loop's first checks end the search on 'deadline' and 'aborted'.
        if ((await capacity.wait(capacityVersion, clientDeadline, signal)) === 'closed') throw this.#timedOut();
        continue;
      }
      if (triedVolunteerIds.size > 0) counters.offerFallbacks += 1;
      triedVolunteerIds.add(volunteerId);
      const matchId = randomUUID();
      const offeredAt = Date.now();
      const deadlines = { answerBy: Math.min(clientDeadline, offeredAt + this.#options.volunteerAnswerTimeoutMs), clientDeadline };
      const outcomePromise = pendingMatches.wait(matchId, volunteerId, deadlines, signal);
      if (!hub.sendOffer(volunteerId, { type: 'offer', matchId, offer: request.offer, exit })) {
        // Its socket closed between the store's pick and now; the store forgets it shortly.
        pendingMatches.settleFromVolunteer(volunteerId, matchId, { kind: 'volunteer-gone' });
      }
      const outcome = await outcomePromise;
      const answerMs = Date.now() - offeredAt;
      await store.releaseSlot(volunteerId, outcome.kind === 'answered' ? 'used' : 'unused');
      capacity.changed();
      switch (outcome.kind) {
        case 'answered':
          await this.#apply(volunteerId, this.#options.ranking.recordAnswer(volunteerId, answerMs));
          counters.matches += 1;
          return { matchId, answer: outcome.answer };
        case 'declined':
          await this.#fail(volunteerId, 'declined');
          continue;
        case 'volunteer-timed-out':
          // Its late answer, if any, finds no pending match: the volunteer hears MATCH_EXPIRED, the client nothing.
          counters.volunteerAnswerTimeouts += 1;
          aVolunteerTimedOut = true;
          await this.#fail(volunteerId, 'timed-out');
          continue;
        case 'volunteer-gone':
          continue;
        case 'timed-out':
          throw this.#timedOut();
        case 'client-gone':
          throw new ClientGoneError('the client closed the connection');
      }
    }
  }

  async #fail(volunteerId: string, failure: AnswerFailure): Promise<void> {
    await this.#apply(volunteerId, this.#options.ranking.recordFailure(volunteerId, failure));
  }

  /** Stores the volunteer's new score, or benches it. Nothing for a volunteer already gone. */
  async #apply(volunteerId: string, verdict: RankingVerdict | undefined): Promise<void> {
    if (verdict === undefined) return;
    if (!verdict.benched) {
      await this.#options.store.updateScore(volunteerId, verdict.score);
      return;
    }
    this.#options.counters.volunteersBenched += 1;
    const timeoutMs = this.#options.volunteerAnswerTimeoutMs;
    this.#options.hub.bench(
      volunteerId,
      `the last ${verdict.consecutiveFailures} offers to this volunteer were declined or not answered within ${timeoutMs} ms, so it gets no more on this connection; ` +
        `answer within ${timeoutMs} ms (keep ICE gathering shorter than that) and announce only the slots it can serve`,
    );
  }

  #timedOut(): AnswerTimedOutError {
    this.#options.counters.timeouts += 1;
    return new AnswerTimedOutError(this.#options.clientAnswerTimeoutMs);
  }
}
