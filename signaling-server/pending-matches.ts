/**
 * @module pending-matches
 * Offers sent to volunteers and not yet settled. Each waits for exactly one outcome: the volunteer's answer or
 * decline, the volunteer's socket closing, the client's deadline, or the client going away. Whatever comes first
 * wins; anything after (a late answer) finds no entry and is dropped.
 */
import type { SessionDescription } from '../protocol/signaling.ts';

export type MatchOutcome =
  | { kind: 'answered'; answer: SessionDescription }
  | { kind: 'declined'; reason: string }
  | { kind: 'volunteer-gone' }
  | { kind: 'timed-out' }
  | { kind: 'client-gone' };

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
   * once the promise settles.
   */
  wait(matchId: string, volunteerId: string, deadline: number, signal: AbortSignal): Promise<MatchOutcome> {
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
      const timer = setTimeout(() => settle({ kind: 'timed-out' }), Math.max(0, deadline - Date.now()));
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
