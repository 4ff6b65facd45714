// The fuzz targets of tests/fuzz/ (docs/fuzzing.md), each for a bounded number of cases with a fixed seed, so that
// `npm test` checks every fuzz property on every run; `npm run fuzz` runs the same targets a million cases each.
// A failure names the seed and the failing case's path; `npm run fuzz -- --target NAME --seed SEED --path PATH`
// replays that case alone and shrinks it.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { FUZZ_TARGETS } from '../fuzz/all-targets.ts';
import { CASE_TIME_LIMIT_MS, hangMessage, runCaseWithin } from '../fuzz/case-limit.ts';

/** Fixed, so a failure here is the same failure on every machine. */
const SEED = 20_261_127;
/** Cases per target, sized so that the whole file takes a few seconds on 2 cores (the network targets cost most). */
const CASES: Readonly<Record<string, number>> = {
  'tunnel-records': 5_000,
  'mux-frames': 5_000,
  muxer: 3_000,
  'local-channel': 5_000,
  'native-messaging': 3_000,
  socks5: 2_000,
  'broker-http': 3_000,
  'broker-volunteer': 2_000,
};

test('every file in tests/fuzz/targets/ is one registered target, with its bounded case count here', () => {
  const files = readdirSync(join(import.meta.dirname, '..', 'fuzz', 'targets')).filter((name) => name.endsWith('.ts'));
  const names = FUZZ_TARGETS.map((target) => target.name);
  assert.equal(new Set(names).size, names.length, 'target names are unique');
  assert.deepEqual(files.map((file) => file.replace(/\.ts$/, '')).sort(), [...names].sort(), 'each target file is named after its target');
  assert.deepEqual(Object.keys(CASES).sort(), [...names].sort(), 'each target has its case count');
});

for (const target of FUZZ_TARGETS) {
  test(`fuzz ${target.name}: ${target.description}`, { timeout: 120_000 }, async (t) => {
    const session = await target.start();
    t.after(() => session.close());
    const property = fc.asyncProperty(target.input, async (input) => {
      const outcome = await runCaseWithin(CASE_TIME_LIMIT_MS, () => session.check(input));
      if (outcome.kind === 'failed') throw outcome.error;
      if (outcome.kind === 'hung') throw new Error(hangMessage(CASE_TIME_LIMIT_MS));
    });
    try {
      await fc.assert(property, { numRuns: CASES[target.name] ?? 500, seed: SEED });
    } catch (error) {
      const path = /path: "([^"]*)"/.exec(String(error))?.[1] ?? 'PATH';
      const replay = `npm run fuzz -- --target ${target.name} --seed ${SEED} --path ${path}`;
      throw new Error(
        `fuzz target ${target.name} failed with seed ${SEED} (replay and shrink: ${replay})\n${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
    await session.checkStillServing();
    for (const [id, count] of session.toleratedBugs) t.diagnostic(`known product bug ${id} met ${count} times and let pass (docs/fuzzing.md)`);
  });
}
