/**
 * @module harness/operator
 * The network operator of a network on this machine: a fresh Ed25519 key for each run (the demo's, and each test's),
 * which signs the exit list the broker serves. Volunteers, clients and the helper are given its public key to pin,
 * as an operator's users would be.
 */
import {
  type ExitInfo,
  generateOperatorKeyPair,
  type OperatorKeyPair,
  type SignExitListOptions,
  type SignedExitList,
  signExitList,
} from '../protocol/exit-list.ts';

export class LocalOperator {
  readonly #keys: OperatorKeyPair = generateOperatorKeyPair();

  /** The public key volunteers, clients and the helper pin (base64url). */
  get exitListKey(): string {
    return this.#keys.publicKey;
  }

  signExitList(exits: readonly ExitInfo[], options: SignExitListOptions = {}): SignedExitList {
    return signExitList(exits, this.#keys.secretKey, options);
  }
}
