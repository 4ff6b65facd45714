/**
 * @module pending-matches
 * Offers sent to volunteers and not yet settled. Each waits for exactly one outcome: the volunteer's answer or
 * decline, the volunteer's socket closing, the volunteer's own answer deadline, the client's deadline, or the client
 * going away. Whatever comes first wins; anything after (a late answer) finds no entry and is dropped, so a client
 * never gets two answers.
 */
import type { SessionDescription } from '../protocol/signaling.ts';

export type MatchOutcome =
  | { kind: 'answered'; answer: SessionDescription }
  | { kind: 'declined'; reason: string }
  | { kind: 'volunteer-gone' }
  /** The volunteer had its whole volunteerAnswerTimeoutMs and did not answer; the client may still try another. */
  | { kind: 'volunteer-timed-out' }
  /** The client's deadline passed (or the broker is shutting down): the search is over. */
  | { kind: 'timed-out' }
  | { kind: 'client-gone' };

export interface MatchDeadlines {
  /** When the volunteer's turn ends (Date.now() ms): its offer then goes to the next volunteer. */
  answerBy: number;
  /** When the client's whole wait ends (Date.now() ms). */
  clientDeadline: number;
}

interface PendingMatch {
  volunteerId: string;
  settle(outcome: MatchOutcome): void;
}

export class PendingMatches {
  readonly #byMatchId = new Map<string, PendingMatch>();

  get size(): number {
    return this.#byMatchId.size;
  }

  /**
   * Registers `matchId` (offered to `volunteerId`) and resolves with its outcome. Never rejects. The entry is gone
   * once the promise settles. Whichever deadline comes first ends the wait: 'volunteer-timed-out' if it is the
   * volunteer's answerBy, 'timed-out' if it is the client's (also when the two coincide: the volunteer did not get
   * its full turn, so its silence is not held against it).
   */
  wait(matchId: string, volunteerId: string, deadlines: MatchDeadlines, signal: AbortSignal): Promise<MatchOutcome> {
    return new Promise<MatchOutcome>((resolve) => {
      const settle = (outcome: MatchOutcome): void => {
        if (this.#byMatchId.get(matchId) !== entry) return;
        this.#byMatchId.delete(matchId);
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const onAbort = (): void => settle({ kind: 'client-gone' });
      const entry: PendingMatch = { volunteerId, settle };
      this.#byMatchId.set(matchId, entry);
      const volunteerFirst = deadlines.answerBy < deadlines.clientDeadline;
      const timer = setTimeout(
        () => settle(volunteerFirst ? { kind: 'volunteer-timed-out' } : { kind: 'timed-out' }),
        Math.max(0, (volunteerFirst ? deadlines.answerBy : deadlines.clientDeadline) - Date.now()),
      );
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Settles a match with the volunteer's reply. False when the match is unknown, over, or not this volunteer's. */
  settleFromVolunteer(volunteerId: string, matchId: string, outcome: MatchOutcome): boolean {
    const entry = this.#byMatchId.get(matchId);
    if (!entry || entry.volunteerId !== volunteerId) return false;
    entry.settle(outcome);
    return true;
  }

  /** The volunteer's socket closed: every match offered to it fails at once. */
  failVolunteer(volunteerId: string): void {
    for (const entry of [...this.#byMatchId.values()]) {
      if (entry.volunteerId === volunteerId) entry.settle({ kind: 'volunteer-gone' });
    }
  }

  /** Broker shutdown: every waiting client is let go as if its deadline passed. */
  expireAll(): void {
    for (const entry of [...this.#byMatchId.values()]) entry.settle({ kind: 'timed-out' });
  }
}
