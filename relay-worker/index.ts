/**
 * @module relay-worker
 * The volunteer core: one RelayWorker, given a config and a RelayEnvironment. Runtime adapters are imported from
 * their own files (./browser.ts, ./node.ts) so that a browser bundle never pulls in Node modules.
 */
export {
  DEFAULT_RELAY_WORKER_CONFIG,
  MAX_TUNNEL_RECORD_BYTES,
  VOLUNTEER_SOCKET_PATH,
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
export { AnswerError, FERRY_DATA_CHANNEL_LABEL, RelayPair, type RelayDirection, type RelayPairCloseReason } from './relay-pair.ts';
export { RelayWorker, TRAFFIC_STATUS_INTERVAL_MS, type RelayWorkerInit } from './relay-worker.ts';
export { RELAY_STATE_WORDING, type RelayState, type RelayStatus } from './status.ts';
