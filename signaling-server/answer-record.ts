/**
 * @module answer-record
 * What one volunteer did with the offers it was sent, and the score the broker ranks it by. A score rests only on
 * measured behaviour (answers given, how fast, failures in a row), never on the slots a volunteer announces: those
 * cost nothing to claim, and a volunteer that claimed 32 and never answered used to be picked first every time.
 *
 * score = floor(SCORE_STEPS × successRatio × speed ÷ 2^consecutiveFailures), an integer from 0 to SCORE_STEPS:
 * - successRatio = (answers + 1) / (offers settled + 1): one imagined answer, so a newcomer starts like a perfect
 *   record and is tried at once, while a volunteer with one failure and no answer drops to half.
 * - speed = T / (T + max(smoothed answer time, T / 20)), T = volunteerAnswerTimeoutMs: answering within a twentieth
 *   of the timeout counts as quick, a newcomer is assumed quick, and a volunteer answering at T scores half.
 * - each failure in a row halves the score, so a volunteer that just failed waits behind every volunteer that did not.
 * Cutting the score to whole steps makes volunteers that are about equally good tie; the store then gives the client
 * to the one left unused longest, so clients spread over the good volunteers (newcomers included) instead of piling
 * onto the one that answers a millisecond faster.
 */

/** Steps a score is cut to: scores run from 0 to SCORE_STEPS, higher is offered first. */
export const SCORE_STEPS = 10;
/** Answers credited to every volunteer before its first offer, out of as many offers. */
const PRIOR_ANSWERS = 1;
/** Answer times up to this fraction of volunteerAnswerTimeoutMs all count as quick; a newcomer is assumed this quick. */
const QUICK_ANSWER_FRACTION = 1 / 20;
/** Weight of the newest answer time in the smoothed answer time (an exponentially weighted moving average). */
const ANSWER_TIME_SMOOTHING = 0.3;

/** Why an offer counts against a volunteer: no answer within volunteerAnswerTimeoutMs, or an explicit decline. */
export type AnswerFailure = 'timed-out' | 'declined';

export class AnswerRecord {
  /** Offers that ended in an answer, a timeout or a decline (not those cut short by the client or the broker). */
  offersSettled = 0;
  answers = 0;
  timeouts = 0;
  declines = 0;
  /** Timeouts and declines since the last answer. */
  consecutiveFailures = 0;
  /** Smoothed time from sending an offer to receiving its answer (ms); undefined until the first answer. */
  smoothedAnswerMs: number | undefined;

  recordAnswer(answerMs: number): void {
    this.offersSettled += 1;
    this.answers += 1;
    this.consecutiveFailures = 0;
    const sample = Math.max(0, answerMs);
    this.smoothedAnswerMs = this.smoothedAnswerMs === undefined ? sample : this.smoothedAnswerMs + ANSWER_TIME_SMOOTHING * (sample - this.smoothedAnswerMs);
  }

  recordFailure(failure: AnswerFailure): void {
    this.offersSettled += 1;
    this.consecutiveFailures += 1;
    if (failure === 'timed-out') this.timeouts += 1;
    else this.declines += 1;
  }

  /** The score described in the module comment, for a broker whose volunteerAnswerTimeoutMs is `answerTimeoutMs`. */
  score(answerTimeoutMs: number): number {
    const successRatio = (this.answers + PRIOR_ANSWERS) / (this.offersSettled + PRIOR_ANSWERS);
    const quickMs = answerTimeoutMs * QUICK_ANSWER_FRACTION;
    const answerMs = Math.max(this.smoothedAnswerMs ?? quickMs, quickMs);
    const speed = answerTimeoutMs / (answerTimeoutMs + answerMs);
    const raw = (successRatio * speed) / 2 ** this.consecutiveFailures;
    return Math.min(SCORE_STEPS, Math.max(0, Math.floor(raw * SCORE_STEPS)));
  }
}
