import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressCooldown } from '../../../signaling-server/address-cooldown.ts';
import { CapacitySignal } from '../../../signaling-server/capacity-signal.ts';

test('CapacitySignal: every listener hears each change until close', () => {
  const capacity = new CapacitySignal();
  let heard = 0;
  capacity.onChange(() => {
    heard += 1;
  });
  capacity.onChange(() => {
    heard += 10;
  });
  capacity.changed();
  assert.equal(heard, 11);
  capacity.close();
  capacity.changed();
  assert.equal(heard, 11);
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
