/**
 * @module relay-worker
 * The volunteer core: one RelayWorker, given a config and a RelayEnvironment. Runtime adapters are imported from
 * their own files (./browser.ts, ./node.ts) so that a browser bundle never pulls in Node modules.
 */

export type { RelayState, RelayStatus } from '../protocol/relay-status.ts';
export { BrokerConnection, type BrokerConnectionState } from './broker-connection.ts';
export {
  createRelayWorkerConfig,
  DEFAULT_RELAY_WORKER_CONFIG,
  type RelayWorkerConfig,
  RelayWorkerConfigError,
  type RelayWorkerOptions,
  verifyRelayWorkerConfig,
  volunteerSocketUrl,
} from './config.ts';
export { type RelayEnvironment, RelayEnvironmentError } from './environment.ts';
export { type ExitRefusalCode, ExitRefusedError, verifyOfferedExit } from './exit-allowlist.ts';
export { AnswerError, type RelayDirection, RelayPair, type RelayPairCloseReason } from './relay-pair.ts';
export { RelayWorker, type RelayWorkerInit, TRAFFIC_STATUS_INTERVAL_MS } from './relay-worker.ts';
export { SELF_CHECK_LIMITS, type SelfCheckResult, type SelfCheckStep } from './self-check.ts';
export { RELAY_STATE_WORDING } from './status.ts';
