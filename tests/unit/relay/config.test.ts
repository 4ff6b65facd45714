import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LocalOperator } from '../../../harness/operator.ts';
import {
  createRelayWorkerConfig,
  DEFAULT_RELAY_WORKER_CONFIG,
  RelayWorkerConfigError,
  type RelayWorkerOptions,
  volunteerSocketUrl,
} from '../../../relay-worker/config.ts';

const base: RelayWorkerOptions = { brokerUrl: 'https://broker.example.org', kind: 'extension', exitListKeys: [new LocalOperator().exitListKey] };

function rejects(options: Partial<RelayWorkerOptions>, field: string, message: RegExp): void {
  assert.throws(
    () => createRelayWorkerConfig({ ...base, ...options }),
    (error: unknown) => {
      assert.ok(error instanceof RelayWorkerConfigError);
      assert.equal(error.code, 'RELAY_CONFIG_INVALID');
      assert.equal(error.field, field);
      assert.match(error.message, message);
      return true;
    },
  );
}

describe('relay worker config', () => {
  test('fills in the documented defaults and freezes the result', () => {
    const config = createRelayWorkerConfig(base);
    assert.equal(config.maxClients, 2);
    assert.deepEqual(config.iceServers, []);
    assert.equal(config.nat, 'unknown');
    assert.equal(config.maxBufferedBytes, 16 * 1024 * 1024);
    assert.ok(config.answerTimeoutMs < config.dataChannelOpenTimeoutMs);
    assert.ok(Object.isFrozen(config));
    assert.equal(createRelayWorkerConfig({ ...base, maxClients: undefined }).maxClients, DEFAULT_RELAY_WORKER_CONFIG.maxClients);
  });

  test('derives the volunteer socket from the broker base URL', () => {
    assert.equal(volunteerSocketUrl('https://broker.example.org'), 'wss://broker.example.org/v1/volunteer');
    assert.equal(volunteerSocketUrl('http://127.0.0.1:8080/'), 'ws://127.0.0.1:8080/v1/volunteer');
    assert.equal(volunteerSocketUrl('https://broker.example.org/anything?x=1'), 'wss://broker.example.org/v1/volunteer');
  });

  test('refuses broker URLs that are not http(s)', () => {
    rejects({ brokerUrl: 'wss://broker.example.org' }, 'brokerUrl', /http:\/\/ or https:\/\//);
    rejects({ brokerUrl: 'broker.example.org' }, 'brokerUrl', /not a URL/);
  });

  test('refuses out-of-range limits with the accepted range in the message', () => {
    rejects({ maxClients: 0 }, 'maxClients', /from 1 to 32/);
    rejects({ maxClients: 33 }, 'maxClients', /from 1 to 32/);
    rejects({ maxClients: 1.5 }, 'maxClients', /integer/);
    rejects({ maxBufferedBytes: 1024 }, 'maxBufferedBytes', /from 262144/);
    rejects({ answerTimeoutMs: -1 }, 'answerTimeoutMs', /from 1/);
    rejects({ answerTimeoutMs: Number.NaN }, 'answerTimeoutMs', /integer/);
    rejects({ kind: 'phone' as never }, 'kind', /extension, tab, widget, headless/);
  });

  test('needs at least one well-formed exit-list key', () => {
    rejects({ exitListKeys: [] }, 'exitListKeys', /operator's exit-list key/);
    rejects({ exitListKeys: ['not a key'] }, 'exitListKeys', /base64url/);
    rejects({ exitListKeys: ['AAAA'] }, 'exitListKeys', /32 bytes/);
    rejects({ exitListKeys: Array.from({ length: 9 }, () => new LocalOperator().exitListKey) }, 'exitListKeys', /at most 8/);
  });

  test('checks how the limits depend on each other', () => {
    rejects({ answerTimeoutMs: 5_000, dataChannelOpenTimeoutMs: 5_000 }, 'dataChannelOpenTimeoutMs', /larger than answerTimeoutMs/);
    rejects({ brokerReconnectDelayMs: 5_000, brokerReconnectMaxDelayMs: 1_000 }, 'brokerReconnectMaxDelayMs', /at least/);
  });

  test('accepts STUN servers and refuses other ICE server URLs', () => {
    assert.equal(createRelayWorkerConfig({ ...base, iceServers: [{ urls: 'stun:stun.example.org:3478' }] }).iceServers.length, 1);
    rejects({ iceServers: [{ urls: 'https://stun.example.org' }] }, 'iceServers', /stun:/);
    rejects({ iceServers: [{ urls: [] }] }, 'iceServers', /stun:/);
  });
});
