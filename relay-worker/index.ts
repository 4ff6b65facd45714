/**
 * @module relay-worker
 * The volunteer core: one RelayWorker, given a config and a RelayEnvironment. Runtime adapters are imported from
 * their own files (./browser.ts, ./node.ts) so that a browser bundle never pulls in Node modules.
 */
export {
  DEFAULT_RELAY_WORKER_CONFIG,
  RelayWorkerConfigError,
  createRelayWorkerConfig,
  verifyRelayWorkerConfig,
  volunteerSocketUrl,
  type RelayWorkerConfig,
  type RelayWorkerOptions,
} from './config.ts';
export { RelayEnvironmentError, type RelayEnvironment } from './environment.ts';
export { ExitRefusedError, verifyOfferedExit, type ExitRefusalCode } from './exit-allowlist.ts';
export { BrokerConnection, type BrokerConnectionState } from './broker-connection.ts';
export { AnswerError, RelayPair, type RelayDirection, type RelayPairCloseReason } from './relay-pair.ts';
export { RelayWorker, TRAFFIC_STATUS_INTERVAL_MS, type RelayWorkerInit } from './relay-worker.ts';
export { RELAY_STATE_WORDING } from './status.ts';
export type { RelayState, RelayStatus } from '../protocol/relay-status.ts';
