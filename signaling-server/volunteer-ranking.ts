/**
 * @module volunteer-ranking
 * The broker's memory of how each connected volunteer handles offers (one AnswerRecord each), and the verdict after
 * each offer: the volunteer's new score, or that it is benched.
 *
 * Benching bounds what a volunteer that never answers can do. It loses each client's offer after
 * volunteerAnswerTimeoutMs (the client moves on to the next volunteer), drops far down the ranking after its first
 * failure (each failure in a row halves its score), and after maxConsecutiveAnswerFailures failures in a row it is benched: disconnected, never
 * offered again on that connection. So one connection sees at most maxConsecutiveAnswerFailures offers (plus
 * maxOffersPerVolunteerPending − 1 already in flight when the last failure lands) without answering one: it cannot
 * collect every client's SDP, with the addresses in its candidates, the way a trusted "32 free slots" once could.
 * benchedAddressCooldownMs keeps it from coming straight back on a new connection with a clean record.
 *
 * Records live in this broker instance's memory, next to the volunteer's socket, not in the VolunteerStore: every
 * offer to a volunteer goes out through the one instance holding its socket, so that instance sees its whole
 * record. Only the derived score goes to the store, so a shared store can still pick and reserve in one atomic step.
 */
import type { AnswerFailure } from './answer-record.ts';
import { AnswerRecord } from './answer-record.ts';

export interface VolunteerRankingOptions {
  /** BrokerConfig.volunteerAnswerTimeoutMs: what "quick" is measured against. */
  volunteerAnswerTimeoutMs: number;
  /** BrokerConfig.maxConsecutiveAnswerFailures: failures in a row that bench a volunteer. */
  maxConsecutiveAnswerFailures: number;
}

/** What the broker does with a volunteer after one of its offers settled. */
export type RankingVerdict = { benched: false; score: number } | { benched: true; consecutiveFailures: number };

export class VolunteerRanking {
  readonly #options: VolunteerRankingOptions;
  readonly #records = new Map<string, AnswerRecord>();

  constructor(options: VolunteerRankingOptions) {
    this.#options = options;
  }

  /** Volunteers with a record (connected and said hello). */
  get size(): number {
    return this.#records.size;
  }

  /** Starts a record for a volunteer that said hello; returns its starting score. */
  admit(volunteerId: string): number {
    const record = new AnswerRecord();
    this.#records.set(volunteerId, record);
    return record.score(this.#options.volunteerAnswerTimeoutMs);
  }

  /** The volunteer is gone; its record goes with it (a new connection starts afresh). */
  forget(volunteerId: string): void {
    this.#records.delete(volunteerId);
  }

  /** A read-only view of a volunteer's record, or undefined for an unknown volunteer. */
  recordOf(volunteerId: string): Readonly<AnswerRecord> | undefined {
    return this.#records.get(volunteerId);
  }

  /** The volunteer answered `answerMs` after its offer went out. Undefined for a volunteer already forgotten. */
  recordAnswer(volunteerId: string, answerMs: number): RankingVerdict | undefined {
    const record = this.#records.get(volunteerId);
    if (record === undefined) return undefined;
    record.recordAnswer(answerMs);
    return this.#verdict(record);
  }

  /** The volunteer let an offer time out or declined it. Undefined for a volunteer already forgotten. */
  recordFailure(volunteerId: string, failure: AnswerFailure): RankingVerdict | undefined {
    const record = this.#records.get(volunteerId);
    if (record === undefined) return undefined;
    record.recordFailure(failure);
    return this.#verdict(record);
  }

  #verdict(record: AnswerRecord): RankingVerdict {
    if (record.consecutiveFailures >= this.#options.maxConsecutiveAnswerFailures) {
      return { benched: true, consecutiveFailures: record.consecutiveFailures };
    }
    return { benched: false, score: record.score(this.#options.volunteerAnswerTimeoutMs) };
  }
}
