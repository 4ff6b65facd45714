// The whole-device commands' command line and the privileged service's request parser: what the root service is
// asked is checked before anything is built from it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTunCommand, parseTunCommand, TunCommandUsageError, tunServiceUnit } from '../../../native-helper/tun/tun-commands.ts';
import { MAX_BYPASS_ADDRESSES, parseTunServiceRequest, TunServiceRequestError } from '../../../native-helper/tun/tun-service-protocol.ts';

const uidOf = (user: string): number => (user === 'alice' ? 1000 : Number.NaN);

test('the three commands parse, each with its own flags only', () => {
  assert.equal(isTunCommand(['--native']), false);
  assert.equal(isTunCommand(['--tun-cleanup']), true);
  assert.deepEqual(parseTunCommand(['--tun-service', '--allow-user', 'alice', '--socket', '/tmp/s.sock', '--state-dir', '/tmp/st'], uidOf), {
    kind: 'service',
    allowedUid: 1000,
    socketPath: '/tmp/s.sock',
    stateDir: '/tmp/st',
  });
  assert.deepEqual(parseTunCommand(['--tun-cleanup'], uidOf), { kind: 'cleanup', stateDir: '/run/ferry' });
  assert.deepEqual(parseTunCommand(['--install-service', '--user', 'alice', '--unit-dir', '/tmp/units'], uidOf), {
    kind: 'install-service',
    user: 'alice',
    uid: 1000,
    unitDir: '/tmp/units',
  });
  for (const [argv, message] of [
    [['--tun-service'], /needs --allow-user USER/],
    [['--tun-cleanup', '--tun-service'], /cannot be combined/],
    [['--tun-cleanup', '--socket', '/x'], /--socket does not apply with --tun-cleanup/],
    [['--install-service'], /needs --user USER/],
    [['--tun-cleanup', '--bogus'], /Unknown option '--bogus'/],
  ] as const) {
    assert.throws(
      () => parseTunCommand(argv, uidOf),
      (error: unknown) => error instanceof TunCommandUsageError && message.test(error.message),
    );
  }
});

test('the unit cleans up before the service starts and after it ends, and serves the one user', () => {
  const unit = tunServiceUnit(1000, 'alice', '/opt/ferry/bin/ferry.js');
  assert.match(unit, /ExecStartPre=\S+ \/opt\/ferry\/bin\/ferry\.js helper --tun-cleanup/);
  assert.match(unit, /ExecStart=\S+ \/opt\/ferry\/bin\/ferry\.js helper --tun-service --allow-user 1000/);
  assert.match(unit, /ExecStopPost=\S+ \/opt\/ferry\/bin\/ferry\.js helper --tun-cleanup/);
});

test('requests: the four ops, addresses normalised; anything else refused with a code', () => {
  assert.deepEqual(parseTunServiceRequest('{"op":"up","bypass":["203.0.113.010"]}'), { op: 'up', bypass: ['203.0.113.10'] });
  assert.deepEqual(parseTunServiceRequest('{"op":"bypass","add":["1.2.3.4"]}'), { op: 'bypass', add: ['1.2.3.4'], remove: [] });
  assert.deepEqual(parseTunServiceRequest('{"op":"down"}'), { op: 'down' });
  assert.deepEqual(parseTunServiceRequest('{"op":"status"}'), { op: 'status' });
  const tooMany = JSON.stringify({ op: 'up', bypass: Array.from({ length: MAX_BYPASS_ADDRESSES + 1 }, () => '1.1.1.1') });
  for (const [line, code] of [
    ['nope', 'BAD_REQUEST'],
    ['[]', 'BAD_REQUEST'],
    ['{"op":"shell"}', 'UNKNOWN_OP'],
    ['{"op":"up"}', 'BAD_REQUEST'],
    ['{"op":"up","bypass":["::1"]}', 'BAD_REQUEST'],
    ['{"op":"up","bypass":["1.2.3.4/0"]}', 'BAD_REQUEST'],
    ['{"op":"down","all":true}', 'BAD_REQUEST'],
    [tooMany, 'BAD_REQUEST'],
    [`{"op":"status","pad":"${'x'.repeat(20_000)}"}`, 'TOO_LARGE'],
  ] as const) {
    assert.throws(
      () => parseTunServiceRequest(line),
      (error: unknown) => error instanceof TunServiceRequestError && error.code === code,
      line.slice(0, 40),
    );
  }
});
