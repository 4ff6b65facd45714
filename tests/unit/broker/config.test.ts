import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalOperator } from '../../../harness/operator.ts';
import { MAX_SIGNALING_MESSAGE_BYTES } from '../../../protocol/signaling.ts';
import { type BrokerConfig, BrokerConfigError, DEFAULT_BROKER_CONFIG, verifyBrokerConfig } from '../../../signaling-server/config.ts';
import { TEST_EXIT, TEST_EXIT_LIST, TEST_OPERATOR } from './helpers.ts';

test('defaults: loopback, 5 s client wait, 64 KiB bodies, one pending offer per volunteer', () => {
  const config = verifyBrokerConfig();
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 8787);
  assert.equal(config.clientAnswerTimeoutMs, 5_000);
  assert.equal(config.maxBodyBytes, MAX_SIGNALING_MESSAGE_BYTES);
  assert.equal(config.volunteerHeartbeatMs, 20_000);
  assert.equal(config.maxOffersPerVolunteerPending, 1);
  assert.equal(config.volunteerAnswerTimeoutMs, 2_000);
  assert.equal(config.maxConsecutiveAnswerFailures, 3);
  assert.equal(config.benchedAddressCooldownMs, 60_000);
  assert.deepEqual(config.exits, []);
  assert.equal(config.log, undefined);
  assert.equal(DEFAULT_BROKER_CONFIG.maxVolunteers, 20_000);
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
    [{ volunteerAnswerTimeoutMs: 0 }, /"volunteerAnswerTimeoutMs"/],
    [{ maxConsecutiveAnswerFailures: 0 }, /"maxConsecutiveAnswerFailures"/],
    [{ benchedAddressCooldownMs: -1 }, /"benchedAddressCooldownMs"/],
  ];
  for (const [overrides, field] of cases) {
    assert.throws(
      () => verifyBrokerConfig(overrides),
      (error: unknown) => error instanceof BrokerConfigError && field.test(error.message) && error.code === 'BROKER_CONFIG_INVALID',
    );
  }
});

test('the exit list is read at start-up: its exits, and a malformed, expired or (with keys) foreign list refused', () => {
  assert.deepEqual(verifyBrokerConfig({ exitList: TEST_EXIT_LIST }).exits, [TEST_EXIT]);
  assert.deepEqual(verifyBrokerConfig({ exitList: TEST_EXIT_LIST, exitListKeys: [TEST_OPERATOR.exitListKey] }).exits, [TEST_EXIT]);
  assert.deepEqual(verifyBrokerConfig().exits, [], 'no list: no exits');
  const refused = (overrides: Partial<BrokerConfig>, message: RegExp): void => {
    assert.throws(
      () => verifyBrokerConfig(overrides),
      (error: unknown) => error instanceof BrokerConfigError && /"exitList"/.test(error.message) && message.test(error.message),
    );
  };
  refused({ exitList: { payload: 'bm90IGpzb24', signature: 'c2ln' } }, /BAD_EXIT_LIST|malformed/);
  refused({ exitList: { exits: [TEST_EXIT] } as never }, /malformed/);
  const longAgo = Date.now() - 10 * 24 * 60 * 60 * 1000;
  refused({ exitList: TEST_OPERATOR.signExitList([TEST_EXIT], { issuedAt: longAgo, validForMs: 1000 }) }, /EXIT_LIST_EXPIRED/);
  refused({ exitList: new LocalOperator().signExitList([TEST_EXIT]), exitListKeys: [TEST_OPERATOR.exitListKey] }, /EXIT_LIST_NOT_SIGNED/);
});

test('the per-volunteer answer timeout must be shorter than the client wait', () => {
  assert.throws(
    () => verifyBrokerConfig({ clientAnswerTimeoutMs: 2_000, volunteerAnswerTimeoutMs: 2_000 }),
    (error: unknown) =>
      error instanceof BrokerConfigError && /"volunteerAnswerTimeoutMs" \(2000 ms\) must be less than "clientAnswerTimeoutMs"/.test(error.message),
  );
  assert.throws(
    () => verifyBrokerConfig({ clientAnswerTimeoutMs: 300 }),
    /"volunteerAnswerTimeoutMs"/,
    'a short client wait needs a shorter volunteer turn too',
  );
  assert.equal(verifyBrokerConfig({ clientAnswerTimeoutMs: 300, volunteerAnswerTimeoutMs: 150 }).volunteerAnswerTimeoutMs, 150);
  assert.equal(verifyBrokerConfig({ benchedAddressCooldownMs: 0 }).benchedAddressCooldownMs, 0, '0 turns the cooldown off');
});
