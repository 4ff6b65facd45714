/**
 * @module offer-desk
 * Hands one offer to one volunteer connected to this broker instance and waits for what it does with it, then keeps
 * the volunteer's record: its new score, or benched after maxConsecutiveAnswerFailures failures in a row (which
 * bounds how many clients' offers, and the addresses in them, a volunteer that never answers gets to see).
 *
 * Every offer to a volunteer goes through the desk of the instance holding its socket, whichever instance the client
 * asked: the matchmaker calls it directly for its own volunteers, and the broker mesh (broker-mesh.ts) for offers
 * from other instances. So one instance sees a volunteer's whole record.
 */
import type { BrokerOffer } from '../protocol/signaling.ts';
import type { AnswerFailure } from './answer-record.ts';
import type { BrokerCounters } from './metrics.ts';
import type { MatchDeadlines, MatchOutcome, PendingMatches } from './pending-matches.ts';
import type { VolunteerStore } from './store.ts';
import type { VolunteerHub } from './volunteer-hub.ts';
import type { RankingVerdict, VolunteerRanking } from './volunteer-ranking.ts';

export interface OfferDeskOptions {
  volunteerAnswerTimeoutMs: number;
  store: Pick<VolunteerStore, 'updateScore'>;
  hub: Pick<VolunteerHub, 'sendOffer' | 'bench'>;
  pendingMatches: PendingMatches;
  ranking: VolunteerRanking;
  counters: BrokerCounters;
}

export class OfferDesk {
  readonly #options: OfferDeskOptions;

  constructor(options: OfferDeskOptions) {
    this.#options = options;
  }

  /**
   * Sends `offer` to the volunteer and resolves with the outcome (never rejects): its answer or decline, its socket
   * closing, the end of its turn (deadlines.answerBy), the client's deadline, or `signal` (the client hung up).
   */
  async offer(volunteerId: string, offer: BrokerOffer, deadlines: MatchDeadlines, signal: AbortSignal): Promise<MatchOutcome> {
    const { hub, pendingMatches } = this.#options;
    const offeredAt = Date.now();
    const outcomePromise = pendingMatches.wait(offer.matchId, volunteerId, deadlines, signal);
    if (!hub.sendOffer(volunteerId, offer)) {
      // Its socket closed between the store's pick and now; the store forgets it shortly.
      pendingMatches.settleFromVolunteer(volunteerId, offer.matchId, { kind: 'volunteer-gone' });
    }
    const outcome = await outcomePromise;
    switch (outcome.kind) {
      case 'answered':
        await this.#apply(volunteerId, this.#options.ranking.recordAnswer(volunteerId, Date.now() - offeredAt));
        break;
      case 'declined':
        await this.#fail(volunteerId, 'declined');
        break;
      case 'volunteer-timed-out':
        // Its late answer, if any, finds no pending match: the volunteer hears MATCH_EXPIRED, the client nothing.
        this.#options.counters.volunteerAnswerTimeouts += 1;
        await this.#fail(volunteerId, 'timed-out');
        break;
      default:
        break;
    }
    return outcome;
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
}
