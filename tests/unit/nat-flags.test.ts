// The NAT class options of `ferry volunteer` and `ferry helper` (--stun, --nat) and the helper's `ready.nat` on the
// local channel. The measurement itself behind real NATs: tests/integration/nat-discovery.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalOperator } from '../../harness/operator.ts';
import { HelperUsageError, parseHelperArgs } from '../../native-helper/main.ts';
import { parseNativeToExtension } from '../../protocol/local-channel.ts';
import { runVolunteer, VolunteerUsageError } from '../../relay-worker/main.ts';

test('ferry helper: --stun (repeatable) and --nat go with --native and --install; bad values are usage errors', () => {
  const native = parseHelperArgs(['--native', '--stun', 'stun:203.0.113.1', '--stun=stun:[2001:db8::1]:3479', '--nat', 'symmetric']);
  assert.equal(native.kind, 'native');
  assert.deepEqual(native.kind === 'native' && [native.stunUrls, native.nat], [['stun:203.0.113.1', 'stun:[2001:db8::1]:3479'], 'symmetric']);
  const install = parseHelperArgs(['--install', '--stun', 'stun:stun.example.org:3478']);
  assert.deepEqual(install.kind === 'install' && install.stunUrls, ['stun:stun.example.org:3478']);
  assert.deepEqual(
    parseHelperArgs(['--native']),
    { kind: 'native', callerOrigin: null, exitListKeys: [], socksPort: 0, httpPort: 0, session: {} },
    'unchanged without them',
  );

  for (const [argv, why] of [
    [['--native', '--stun', 'turn:203.0.113.1'], /--stun: .*stun:host\[:port\]/],
    [['--native', '--stun', 'stun:x.org:99999'], /--stun/],
    [['--native', '--nat', 'cone'], /--nat must be one of unknown, .*symmetric, got cone/],
    [['--stun', 'stun:x.org'], /--stun does not apply here/],
    [['--uninstall', '--nat', 'full-cone'], /--nat does not apply with --uninstall/],
  ] as const) {
    assert.throws(
      () => parseHelperArgs(argv),
      (error: unknown) => error instanceof HelperUsageError && why.test(error.message),
      argv.join(' '),
    );
  }
});

test("the helper's ready may carry nat; a class this extension does not know reads as 'unknown', not as a bad message", () => {
  const ready = { type: 'ready', version: '0.1.0', pid: 1, socksPort: 1080, httpPort: 0, pipeUrl: 'ws://127.0.0.1:9/pipe', token: 't' };
  assert.equal(parseNativeToExtension(ready).type, 'ready');
  assert.ok(!('nat' in parseNativeToExtension(ready)), 'absent stays absent');
  assert.deepEqual(parseNativeToExtension({ ...ready, nat: 'port-restricted' }), { ...ready, nat: 'port-restricted' });
  assert.deepEqual(parseNativeToExtension({ ...ready, nat: 'fancy-new-class' }), { ...ready, nat: 'unknown' });
});

test('ferry volunteer: a bad --nat or --stun is a usage error, before any measurement or connection', async () => {
  const base = ['--broker', 'http://127.0.0.1:9', '--exit-list-key', new LocalOperator().exitListKey];
  await assert.rejects(
    runVolunteer([...base, '--nat', 'cone']),
    (error: unknown) => error instanceof VolunteerUsageError && /--nat must be one of/.test(error.message),
  );
  await assert.rejects(
    runVolunteer([...base, '--stun', 'stuns:x.org']),
    (error: unknown) => error instanceof VolunteerUsageError && /--stun: /.test(error.message),
  );
});
