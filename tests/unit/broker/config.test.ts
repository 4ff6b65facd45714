import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SIGNALING_MESSAGE_BYTES } from '../../../protocol/signaling.ts';
import { BrokerConfigError, DEFAULT_BROKER_CONFIG, verifyBrokerConfig } from '../../../signaling-server/config.ts';
import { TEST_EXIT } from './helpers.ts';

test('defaults: loopback, 5 s client wait, 64 KiB bodies, one pending offer per volunteer', () => {
  const config = verifyBrokerConfig();
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 8787);
  assert.equal(config.clientAnswerTimeoutMs, 5_000);
  assert.equal(config.maxBodyBytes, MAX_SIGNALING_MESSAGE_BYTES);
  assert.equal(config.volunteerHeartbeatMs, 20_000);
  assert.equal(config.maxOffersPerVolunteerPending, 1);
  assert.deepEqual(config.exits, []);
  assert.equal(config.log, undefined);
  assert.equal(DEFAULT_BROKER_CONFIG.maxVolunteers, 10_000);
});

test('bad numbers are refused with the field named', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ port: 70_000 }, /"port"/],
    [{ port: 1.5 }, /"port"/],
    [{ clientAnswerTimeoutMs: 0 }, /"clientAnswerTimeoutMs"/],
    [{ clientAnswerTimeoutMs: 2 ** 31 }, /"clientAnswerTimeoutMs"/],
    [{ maxBodyBytes: Number.NaN }, /"maxBodyBytes"/],
    [{ maxPendingClients: -1 }, /"maxPendingClients"/],
    [{ maxOffersPerVolunteerPending: 0 }, /"maxOffersPerVolunteerPending"/],
    [{ volunteerHeartbeatMs: '20000' }, /"volunteerHeartbeatMs"/],
    [{ host: '' }, /"host"/],
  ];
  for (const [overrides, field] of cases) {
    assert.throws(
      () => verifyBrokerConfig(overrides),
      (error: unknown) => error instanceof BrokerConfigError && field.test(error.message) && error.code === 'BROKER_CONFIG_INVALID',
    );
  }
});

test('exits are checked: ws/wss URL, 32-byte base64url key, unique ids', () => {
  assert.deepEqual(verifyBrokerConfig({ exits: [TEST_EXIT] }).exits, [TEST_EXIT]);
  assert.throws(() => verifyBrokerConfig({ exits: [{ ...TEST_EXIT, url: 'https://exit.example/relay' }] }), /ws:\/\/ or wss:\/\//);
  assert.throws(() => verifyBrokerConfig({ exits: [{ ...TEST_EXIT, url: 'not a url' }] }), /not a valid URL/);
  assert.throws(() => verifyBrokerConfig({ exits: [{ ...TEST_EXIT, publicKey: 'c2hvcnQ' }] }), /32-byte/);
  assert.throws(() => verifyBrokerConfig({ exits: [TEST_EXIT, { ...TEST_EXIT }] }), /twice/);
  assert.throws(() => verifyBrokerConfig({ exits: [{ id: 'x' }] as never }), BrokerConfigError);
});
