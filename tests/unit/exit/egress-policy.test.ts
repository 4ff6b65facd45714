import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EgressPolicy } from '../../../exit-server/egress-policy.ts';

test('the default policy refuses loopback, private, link-local, metadata, CGNAT and multicast addresses', () => {
  const policy = new EgressPolicy({ allowLoopback: false, blockedPorts: [25] });
  for (const address of [
    '127.0.0.1',
    '127.5.5.5',
    '::1',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '224.0.0.1',
    '255.255.255.255',
    '0.0.0.0',
    'fd00::2',
    'fe80::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::',
  ]) {
    const decision = policy.checkAddress(address);
    assert.equal(decision.allowed, false, address);
    assert.ok(!decision.allowed && decision.reason.includes(address), `${address}: the reason names the address`);
  }
});

test('public addresses are allowed; loopback only with the flag', () => {
  const strict = new EgressPolicy({ allowLoopback: false, blockedPorts: [] });
  for (const address of ['1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '172.32.0.1', '::ffff:8.8.8.8']) {
    assert.equal(strict.checkAddress(address).allowed, true, address);
  }
  const permissive = new EgressPolicy({ allowLoopback: true, blockedPorts: [] });
  assert.equal(permissive.checkAddress('127.0.0.1').allowed, true);
  assert.equal(permissive.checkAddress('::1').allowed, true);
  assert.equal(permissive.checkAddress('10.0.0.1').allowed, false, 'the loopback flag opens loopback only');
});

test('blocked ports and non-addresses are refused with a reason', () => {
  const policy = new EgressPolicy({ allowLoopback: false, blockedPorts: [25] });
  const port = policy.checkPort(25);
  assert.ok(!port.allowed && /port 25/.test(port.reason));
  assert.equal(policy.checkPort(443).allowed, true);
  assert.equal(policy.checkAddress('example.org').allowed, false);
});
