import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NatClass } from '../../../protocol/signaling.ts';
import { MemoryVolunteerStore } from '../../../signaling-server/memory-store.ts';
import type { SlotRequest } from '../../../signaling-server/store.ts';
import { natPreferenceRank } from '../../../signaling-server/store.ts';

function request(clientNat: NatClass, excludeIds: string[] = [], maxReservedPerVolunteer = 1): SlotRequest {
  return { clientNat, excludeIds: new Set(excludeIds), maxReservedPerVolunteer };
}

/** Every volunteer starts with the same score, as newcomers do, unless the tuple gives one. */
const STARTING_SCORE = 9;

async function storeWith(volunteers: Array<[id: string, nat: NatClass, slots: number, score?: number]>): Promise<MemoryVolunteerStore> {
  const store = new MemoryVolunteerStore();
  for (const [id, nat, slots, score] of volunteers) await store.addVolunteer({ id, kind: 'headless', nat, slots, score: score ?? STARTING_SCORE });
  return store;
}

describe('natPreferenceRank', () => {
  test('restricted and unknown clients never get restricted volunteers', () => {
    assert.equal(natPreferenceRank('restricted', 'restricted'), undefined);
    assert.equal(natPreferenceRank('unknown', 'restricted'), undefined);
  });
  test('unknown volunteers are usable by every client, after the known-good class', () => {
    for (const client of ['restricted', 'unknown', 'unrestricted'] as const) {
      assert.notEqual(natPreferenceRank(client, 'unknown'), undefined);
    }
    assert.ok(natPreferenceRank('restricted', 'unrestricted')! < natPreferenceRank('restricted', 'unknown')!);
  });
  test('unrestricted clients prefer restricted, then unknown, then unrestricted volunteers', () => {
    assert.ok(natPreferenceRank('unrestricted', 'restricted')! < natPreferenceRank('unrestricted', 'unknown')!);
    assert.ok(natPreferenceRank('unrestricted', 'unknown')! < natPreferenceRank('unrestricted', 'unrestricted')!);
  });
});

describe('MemoryVolunteerStore', () => {
  test('empty store reserves nothing', async () => {
    const store = new MemoryVolunteerStore();
    assert.equal(await store.reserveSlot(request('unknown')), undefined);
    assert.deepEqual(await store.counts(), { volunteers: 0, freeSlots: 0, reservedSlots: 0 });
  });

  test('restricted client: unrestricted first, then unknown, never restricted', async () => {
    const store = await storeWith([
      ['r', 'restricted', 5],
      ['k', 'unknown', 5],
      ['u', 'unrestricted', 1],
    ]);
    assert.equal(await store.reserveSlot(request('restricted')), 'u');
    assert.equal(await store.reserveSlot(request('restricted')), 'k');
    // 'u' and 'k' each hold one reservation (the per-volunteer maximum); 'r' is never for a restricted client.
    assert.equal(await store.reserveSlot(request('restricted')), undefined);
  });

  test('unrestricted client: restricted first, saving unrestricted volunteers', async () => {
    const store = await storeWith([
      ['u', 'unrestricted', 9],
      ['k', 'unknown', 9],
      ['r', 'restricted', 1],
    ]);
    assert.equal(await store.reserveSlot(request('unrestricted')), 'r');
    assert.equal(await store.reserveSlot(request('unrestricted')), 'k');
    assert.equal(await store.reserveSlot(request('unrestricted')), 'u');
  });

  // Changed with issue 10, item 1: announced slots used to decide ("most free slots wins"), which made a volunteer
  // claiming 32 slots the first pick every time. Now they are an upper bound only.
  test('announced slots never win: among equal scores, the volunteer left unused longest', async () => {
    const store = await storeWith([
      ['two', 'unknown', 2],
      ['thirty-two', 'unknown', 32],
      ['three', 'unknown', 3],
    ]);
    assert.equal(await store.reserveSlot(request('unknown', [], 10)), 'two');
    assert.equal(await store.reserveSlot(request('unknown', [], 10)), 'thirty-two');
    assert.equal(await store.reserveSlot(request('unknown', [], 10)), 'three');
    assert.equal(await store.reserveSlot(request('unknown', [], 10)), 'two', 'round and round, whatever the slots');
  });

  test('within a NAT class the higher score wins, and updateScore changes the order', async () => {
    const store = await storeWith([
      ['liar', 'unknown', 32, 2],
      ['honest', 'unknown', 1, 9],
    ]);
    assert.equal(await store.reserveSlot(request('unknown', [], 10)), 'honest');
    await store.releaseSlot('honest', 'unused');
    await store.updateScore('honest', 1);
    await store.updateScore('nobody', 5);
    assert.equal(await store.reserveSlot(request('unknown', [], 10)), 'liar');
    assert.equal((await store.getVolunteer('honest'))?.score, 1);
  });

  test('NAT class comes before score', async () => {
    const store = await storeWith([
      ['unknown-best', 'unknown', 1, 10],
      ['unrestricted-poor', 'unrestricted', 1, 0],
    ]);
    assert.equal(await store.reserveSlot(request('restricted')), 'unrestricted-poor');
  });

  test('excluded volunteers are skipped', async () => {
    const store = await storeWith([
      ['a', 'unknown', 3],
      ['b', 'unknown', 1],
    ]);
    assert.equal(await store.reserveSlot(request('unknown', ['a'])), 'b');
    assert.equal(await store.reserveSlot(request('unknown', ['a', 'b'])), undefined);
  });

  test('reservations hold slots; used slots drop the announced count, unused ones come back', async () => {
    const store = await storeWith([['v', 'unknown', 2]]);
    assert.equal(await store.reserveSlot(request('unknown', [], 2)), 'v');
    assert.deepEqual(await store.counts(), { volunteers: 1, freeSlots: 1, reservedSlots: 1 });
    await store.releaseSlot('v', 'unused');
    assert.deepEqual(await store.getVolunteer('v'), { id: 'v', kind: 'headless', nat: 'unknown', announcedSlots: 2, reservedSlots: 0, score: STARTING_SCORE });
    await store.reserveSlot(request('unknown', [], 2));
    await store.releaseSlot('v', 'used');
    assert.deepEqual(await store.counts(), { volunteers: 1, freeSlots: 1, reservedSlots: 0 });
    // A second release without a reservation changes nothing.
    await store.releaseSlot('v', 'used');
    assert.equal((await store.getVolunteer('v'))?.announcedSlots, 1);
  });

  test('maxReservedPerVolunteer caps offers in flight even with free slots', async () => {
    const store = await storeWith([['v', 'unknown', 10]]);
    assert.equal(await store.reserveSlot(request('unknown', [], 2)), 'v');
    assert.equal(await store.reserveSlot(request('unknown', [], 2)), 'v');
    assert.equal(await store.reserveSlot(request('unknown', [], 2)), undefined);
  });

  test('a slots update below the reservations leaves no free slots, never negative', async () => {
    const store = await storeWith([['v', 'unknown', 2]]);
    await store.reserveSlot(request('unknown', [], 2));
    await store.reserveSlot(request('unknown', [], 2));
    await store.updateSlots('v', 1);
    assert.equal((await store.counts()).freeSlots, 0);
    assert.equal(await store.reserveSlot(request('unknown', [], 5)), undefined);
  });

  test('removed volunteers are gone with their reservations; unknown ids are ignored', async () => {
    const store = await storeWith([
      ['a', 'unknown', 1],
      ['b', 'unknown', 1],
    ]);
    await store.reserveSlot(request('unknown'));
    await store.removeVolunteer('a');
    await store.removeVolunteer('nobody');
    await store.updateSlots('nobody', 3);
    await store.releaseSlot('nobody', 'used');
    assert.equal(await store.getVolunteer('a'), undefined);
    const counts = await store.counts();
    assert.equal(counts.volunteers, 1);
    await store.close();
    assert.equal((await store.counts()).volunteers, 0);
  });
});
