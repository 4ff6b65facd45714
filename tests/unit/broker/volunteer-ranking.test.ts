// The score a volunteer is ranked by, and when it is benched: pure arithmetic, no sockets. The broker-level
// behaviour these numbers produce is in liar-volunteers.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AnswerRecord, SCORE_STEPS } from '../../../signaling-server/answer-record.ts';
import { VolunteerRanking } from '../../../signaling-server/volunteer-ranking.ts';

const TIMEOUT_MS = 2_000;

function recordOf(steps: Array<number | 'timed-out' | 'declined'>): AnswerRecord {
  const record = new AnswerRecord();
  for (const step of steps) {
    if (typeof step === 'number') record.recordAnswer(step);
    else record.recordFailure(step);
  }
  return record;
}

describe('AnswerRecord', () => {
  test('a newcomer starts with the top score a quick, perfect record can have, whatever the timeout', () => {
    assert.equal(recordOf([]).score(TIMEOUT_MS), 9);
    assert.equal(recordOf([]).score(200), 9);
    assert.equal(recordOf([10, 10, 10]).score(TIMEOUT_MS), 9, 'quick answers keep it there');
    assert.ok(recordOf([0]).score(TIMEOUT_MS) < SCORE_STEPS, 'an instant answer is not better than a quick one');
  });

  test('one failure from a newcomer drops it far down; two drop it to the bottom', () => {
    assert.equal(recordOf(['timed-out']).score(TIMEOUT_MS), 2);
    assert.equal(recordOf(['timed-out', 'timed-out']).score(TIMEOUT_MS), 0);
    assert.equal(recordOf(['declined']).score(TIMEOUT_MS), 2, 'a decline counts like a timeout');
  });

  test('a long good record softens one failure, and the next answer restores it', () => {
    const steps: Array<number | 'timed-out'> = Array.from({ length: 20 }, () => 20);
    const record = recordOf([...steps, 'timed-out']);
    assert.equal(record.score(TIMEOUT_MS), 4, 'well below a quick volunteer with no failure in a row');
    record.recordAnswer(20);
    assert.equal(record.score(TIMEOUT_MS), 9);
    assert.equal(record.consecutiveFailures, 0);
  });

  test('slow answers lower the score: answering at the timeout halves it', () => {
    assert.equal(recordOf([TIMEOUT_MS]).score(TIMEOUT_MS), 5);
    assert.equal(recordOf([TIMEOUT_MS / 2]).score(TIMEOUT_MS), 6);
  });

  test('answer time is smoothed, so one slow answer does not define a volunteer', () => {
    const record = recordOf([1_000, 0]);
    assert.equal(record.smoothedAnswerMs, 700);
  });

  test('counts every kind of outcome', () => {
    const record = recordOf([5, 'timed-out', 'declined', 'declined']);
    assert.deepEqual(
      { settled: record.offersSettled, answers: record.answers, timeouts: record.timeouts, declines: record.declines, inRow: record.consecutiveFailures },
      { settled: 4, answers: 1, timeouts: 1, declines: 2, inRow: 3 },
    );
  });
});

describe('VolunteerRanking', () => {
  test('benches after maxConsecutiveAnswerFailures failures in a row, never before', () => {
    const ranking = new VolunteerRanking({ volunteerAnswerTimeoutMs: TIMEOUT_MS, maxConsecutiveAnswerFailures: 3 });
    assert.equal(ranking.admit('liar'), 9);
    assert.deepEqual(ranking.recordFailure('liar', 'timed-out'), { benched: false, score: 2 });
    assert.deepEqual(ranking.recordFailure('liar', 'declined'), { benched: false, score: 0 });
    assert.deepEqual(ranking.recordFailure('liar', 'timed-out'), { benched: true, consecutiveFailures: 3 });
  });

  test('an answer in between starts the count again', () => {
    const ranking = new VolunteerRanking({ volunteerAnswerTimeoutMs: TIMEOUT_MS, maxConsecutiveAnswerFailures: 2 });
    ranking.admit('v');
    ranking.recordFailure('v', 'timed-out');
    assert.equal(ranking.recordAnswer('v', 30)?.benched, false);
    assert.equal(ranking.recordFailure('v', 'timed-out')?.benched, false);
    assert.equal(ranking.recordFailure('v', 'timed-out')?.benched, true);
  });

  test('a forgotten or unknown volunteer gets no verdict and no new record', () => {
    const ranking = new VolunteerRanking({ volunteerAnswerTimeoutMs: TIMEOUT_MS, maxConsecutiveAnswerFailures: 3 });
    ranking.admit('gone');
    ranking.forget('gone');
    assert.equal(ranking.recordAnswer('gone', 10), undefined);
    assert.equal(ranking.recordFailure('never-seen', 'declined'), undefined);
    assert.equal(ranking.recordOf('gone'), undefined);
    assert.equal(ranking.size, 0);
  });
});
