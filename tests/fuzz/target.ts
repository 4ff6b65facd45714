/**
 * @module fuzz/target
 * The shape of a fuzz target (tests/fuzz/targets/*.ts), shared by the bounded run in `npm test`
 * (tests/unit/fuzz.test.ts) and the long run of `npm run fuzz` (tests/fuzz/run.ts).
 *
 * A target names one real entry point of the product, the inputs a case is drawn from (a fast-check arbitrary) and
 * how to start it. The session it starts checks one input at a time: the case passes when check() resolves and fails
 * when it rejects, with an AssertionError naming the property that broke or with the product's own exception.
 */
import type fc from 'fast-check';

export interface FuzzTarget<Input> {
  /** Short kebab-case name; `npm run fuzz -- --target <name>` picks it. */
  readonly name: string;
  /** One sentence: the entry point driven and the property checked. */
  readonly description: string;
  /** What one case is drawn from. */
  readonly input: fc.Arbitrary<Input>;
  /** Starts what the cases run against: servers on 127.0.0.1 with ephemeral ports, decoders, validators. */
  start(): Promise<FuzzSession<Input>>;
}

export interface FuzzSession<Input> {
  /** Runs one case: resolves when the property holds, rejects when it does not. */
  check(input: Input): Promise<void>;
  /** Still serving: a well-formed request after all the cases so far gets its normal answer. Rejects if not. */
  checkStillServing(): Promise<void>;
  /** Ends every server, socket and timer the session started. */
  close(): Promise<void>;
  /** How often each known product bug was met and let pass (see KnownProductBug). Empty when none was met. */
  readonly toleratedBugs: ReadonlyMap<string, number>;
}

/**
 * A product bug a target found and that is reported but not fixed yet. The target recognises its exact symptom and
 * counts it instead of failing, so the rest of each case stays checked and the run shows how often it happened.
 * Remove the tolerance together with the fix; the target is then strict again.
 */
export interface KnownProductBug {
  /** Stable id, printed by the runner and listed in docs/fuzzing.md. */
  readonly id: string;
  /** What goes wrong, in one sentence. */
  readonly symptom: string;
}

/** Counts the known product bugs a session met, for FuzzSession.toleratedBugs. */
export class ToleratedBugCounter {
  readonly #counts = new Map<string, number>();

  note(bug: KnownProductBug): void {
    this.#counts.set(bug.id, (this.#counts.get(bug.id) ?? 0) + 1);
  }

  get counts(): ReadonlyMap<string, number> {
    return this.#counts;
  }
}
