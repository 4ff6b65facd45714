import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressCooldown } from '../../../signaling-server/address-cooldown.ts';
import { CapacitySignal } from '../../../signaling-server/capacity-signal.ts';

test('CapacitySignal: a change wakes waiters; a change made before the wait is not missed', async () => {
  const capacity = new CapacitySignal();
  const never = new AbortController().signal;
  const version = capacity.version;
  const waiting = capacity.wait(version, Date.now() + 5_000, never);
  capacity.changed();
  assert.equal(await waiting, 'changed');
  assert.equal(await capacity.wait(version, Date.now() + 5_000, never), 'changed', 'the version moved since it was read');
});

test('CapacitySignal: deadline, abort and close end a wait', async () => {
  const capacity = new CapacitySignal();
  const never = new AbortController().signal;
  assert.equal(await capacity.wait(capacity.version, Date.now() + 10, never), 'deadline');
  const client = new AbortController();
  const waiting = capacity.wait(capacity.version, Date.now() + 5_000, client.signal);
  client.abort();
  assert.equal(await waiting, 'aborted');
  const closing = capacity.wait(capacity.version, Date.now() + 5_000, never);
  capacity.close();
  assert.equal(await closing, 'closed');
  assert.equal(await capacity.wait(capacity.version, Date.now() + 5_000, never), 'closed', 'no waiting once closed');
});

test('AddressCooldown: an address waits out its cooldown; others are free; 0 turns it off', () => {
  let now = 1_000_000;
  const cooldown = new AddressCooldown({ cooldownMs: 60_000, maxTrackedAddresses: 2 }, () => now);
  cooldown.start('a');
  assert.equal(cooldown.secondsLeft('a'), 60);
  assert.equal(cooldown.secondsLeft('b'), 0);
  now += 59_001;
  assert.equal(cooldown.secondsLeft('a'), 1);
  now += 999;
  assert.equal(cooldown.secondsLeft('a'), 0);

  cooldown.start('x');
  cooldown.start('y');
  cooldown.start('z');
  assert.equal(cooldown.secondsLeft('x'), 0, 'beyond maxTrackedAddresses the soonest to end is forgotten');
  assert.equal(cooldown.secondsLeft('z'), 60);

  const off = new AddressCooldown({ cooldownMs: 0, maxTrackedAddresses: 10 });
  off.start('a');
  assert.equal(off.secondsLeft('a'), 0);
});
