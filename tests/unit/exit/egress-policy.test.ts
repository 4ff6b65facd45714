import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { EgressPolicy } from '../../../exit-server/egress-policy.ts';
import { InvalidConfigError } from '../../../protocol/errors.ts';

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

test('IPv6 addresses that carry an IPv4 address are judged by it too: NAT64, SIIT, mapped, compatible, 6to4', () => {
  const policy = new EgressPolicy({ allowLoopback: false, blockedPorts: [], ownAddresses: [] });
  const refused: Array<[string, RegExp]> = [
    ['64:ff9b::a00:1', /NAT64 \(64:ff9b::\/96\) for 10\.0\.0\.1: .*private/],
    ['64:ff9b::7f00:1', /NAT64 .* for 127\.0\.0\.1/],
    ['64:ff9b::169.254.169.254', /for 169\.254\.169\.254: .*metadata/],
    ['::ffff:0:a00:1', /IPv4-translated .* for 10\.0\.0\.1/],
    // (node's BlockList already matches IPv4-mapped addresses against the IPv4 ranges)
    ['::ffff:7f00:1', /loopback address/],
    ['::ffff:10.0.0.1', /private address/],
    ['::a00:1', /IPv4-compatible .* for 10\.0\.0\.1/],
    ['::127.0.0.1', /IPv4-compatible .* for 127\.0\.0\.1/],
    ['2002:c0a8:101::1', /6to4 \(2002::\/16\) for 192\.168\.1\.1/],
    ['2002:a9fe:a9fe::', /6to4 .* for 169\.254\.169\.254/],
    ['192.88.99.1', /6to4 relay anycast/],
    ['fec0::1', /site-local/],
  ];
  for (const [address, reason] of refused) {
    const decision = policy.checkAddress(address);
    assert.equal(decision.allowed, false, address);
    assert.match(decision.allowed ? '' : decision.reason, reason, address);
  }
  for (const address of ['64:ff9b::808:808', '::ffff:8.8.8.8', '2002:808:808::1', '2606:4700:4700::1111', '::ffff:0:808:808']) {
    assert.equal(policy.checkAddress(address).allowed, true, `${address} carries a public address`);
  }
});

test("the exit's own addresses are refused (loopback ones stay allowed with the flag), and so are the operator's ranges", () => {
  const strict = new EgressPolicy({ allowLoopback: false, blockedPorts: [], ownAddresses: ['93.184.216.34', '2606:4700::1', '127.0.0.1'] });
  for (const address of ['93.184.216.34', '2606:4700::1', '::ffff:93.184.216.34']) {
    const decision = strict.checkAddress(address);
    assert.equal(decision.allowed, false, address);
    assert.match(decision.allowed ? '' : decision.reason, /this exit's own addresses/, address);
  }
  const demo = new EgressPolicy({ allowLoopback: true, blockedPorts: [], ownAddresses: ['93.184.216.34', '127.0.0.1', '::1'] });
  assert.equal(demo.checkAddress('127.0.0.1').allowed, true, 'loopback, allowed by the flag, is not refused as an own address');
  assert.equal(demo.checkAddress('93.184.216.34').allowed, false);
  // By default the machine's real interfaces are read: their addresses are refused.
  const byDefault = new EgressPolicy({ allowLoopback: false, blockedPorts: [] });
  for (const address of Object.values(networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address))) {
    assert.equal(byDefault.checkAddress(address).allowed, false, address);
  }

  const operator = new EgressPolicy({ allowLoopback: false, blockedPorts: [], ownAddresses: [], deniedRanges: ['8.8.8.0/24', '2606:4700::/32'] });
  const denied = operator.checkAddress('8.8.8.8');
  assert.ok(!denied.allowed && /denied by this exit's operator \(8\.8\.8\.0\/24\)/.test(denied.reason));
  assert.equal(operator.checkAddress('2606:4700:4700::1111').allowed, false);
  assert.equal(operator.checkAddress('64:ff9b::808:808').allowed, false, 'the operator range applies to what NAT64 carries');
  assert.equal(operator.checkAddress('1.1.1.1').allowed, true);
  for (const bad of ['8.8.8.8', '8.8.8.0/33', 'example.org/24', '::/129']) {
    assert.throws(() => new EgressPolicy({ allowLoopback: false, blockedPorts: [], deniedRanges: [bad] }), InvalidConfigError, bad);
  }
});

test("allowed ranges are taken out of the built-in refusals only: the operator's denials and the exit's own addresses still hold", () => {
  const lab = new EgressPolicy({
    allowLoopback: false,
    blockedPorts: [],
    ownAddresses: ['203.0.113.10'],
    allowedRanges: ['203.0.113.0/24'],
    deniedRanges: ['203.0.113.66/32'],
  });
  assert.equal(lab.checkAddress('203.0.113.20').allowed, true, 'a lab address, allowed');
  assert.equal(lab.checkAddress('198.51.100.1').allowed, false, 'another documentation range stays refused');
  assert.equal(lab.checkAddress('10.0.0.1').allowed, false, 'private addresses stay refused');
  assert.equal(lab.checkAddress('203.0.113.66').allowed, false, "the operator's own denial wins");
  assert.equal(lab.checkAddress('203.0.113.10').allowed, false, "the exit's own address stays refused");
  assert.throws(() => new EgressPolicy({ allowLoopback: false, blockedPorts: [], allowedRanges: ['lab'] }), InvalidConfigError);
});
