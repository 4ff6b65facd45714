import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { LocalRedis } from '../../../harness/redis.ts';
import { startLocalRedis } from '../../../harness/redis.ts';
import { createPairingToken, pairingIdOf } from '../../../protocol/pairing.ts';
import type { NatClass } from '../../../protocol/signaling.ts';
import { NAT_CLASSES } from '../../../protocol/signaling.ts';
import { MemoryVolunteerStore } from '../../../signaling-server/memory-store.ts';
import { natPreferenceRank, natsConnect, volunteerClassesFor } from '../../../signaling-server/nat-matching.ts';
import { networkKeyOf } from '../../../signaling-server/network-key.ts';
import { RedisVolunteerStore } from '../../../signaling-server/redis-store.ts';
import type { SlotRequest, VolunteerStore } from '../../../signaling-server/store.ts';

function request(clientNat: NatClass, excludeIds: string[] = [], clientNetwork?: string, excludeNetworks: string[] = []): SlotRequest {
  return { clientNat, clientNetwork, excludeIds: new Set(excludeIds), excludeNetworks: new Set(excludeNetworks), pairingId: undefined };
}

/** The broker instance the volunteers of these tests belong to (alive in the Redis store). */
const OWNER_ID = 'broker-a';

/** Every volunteer starts with the same score, as newcomers do, unless the tuple gives one. */
const STARTING_SCORE = 9;

type VolunteerRow = [id: string, nat: NatClass, slots: number, score?: number, network?: string];

/** Opens an empty store of the kind under test. */
type StoreFactory = (maxReservedPerVolunteer: number) => Promise<VolunteerStore>;

async function fill(store: VolunteerStore, volunteers: VolunteerRow[]): Promise<VolunteerStore> {
  for (const [id, nat, slots, score, network] of volunteers) {
    await store.addVolunteer({
      id,
      ownerId: OWNER_ID,
      kind: 'headless',
      nat,
      network,
      slots,
      personalSlots: 0,
      pairingIds: [],
      score: score ?? STARTING_SCORE,
    });
  }
  return store;
}

/** The id reserved, or the kind of refusal. */
async function pick(store: VolunteerStore, slotRequest: SlotRequest): Promise<string> {
  const reservation = await store.reserveSlot(slotRequest);
  return reservation.kind === 'reserved' ? reservation.volunteerId : `(${reservation.kind})`;
}

describe('NAT matching rules', () => {
  test('the measured pairs: full cone with anything, port-restricted with itself, never port-restricted or symmetric with symmetric', () => {
    for (const nat of NAT_CLASSES) assert.equal(natsConnect('full-cone', nat), true, nat);
    assert.equal(natsConnect('port-restricted', 'port-restricted'), true);
    assert.equal(natsConnect('port-restricted', 'symmetric'), false);
    assert.equal(natsConnect('symmetric', 'port-restricted'), false);
    assert.equal(natsConnect('symmetric', 'symmetric'), false);
    assert.equal(natsConnect('address-restricted', 'symmetric'), true);
  });

  test('probe classes: unrestricted serves anyone; restricted (maybe symmetric) never meets a restricted class', () => {
    for (const nat of NAT_CLASSES) assert.equal(natsConnect('unrestricted', nat), true, nat);
    for (const nat of ['restricted', 'port-restricted', 'symmetric'] as const) assert.equal(natsConnect('restricted', nat), false, nat);
  });

  test('pairs with an unknown class are guesses, after every known-good pair', () => {
    assert.equal(natsConnect('unknown', 'unknown'), undefined);
    assert.equal(natsConnect('unknown', 'symmetric'), undefined);
    assert.deepEqual(volunteerClassesFor('symmetric'), ['unrestricted', 'address-restricted', 'full-cone', 'unknown']);
    assert.deepEqual(volunteerClassesFor('unknown').slice(0, 3), ['unrestricted', 'address-restricted', 'full-cone']);
  });

  test('full-cone volunteers are saved: a full-cone client gets the least versatile volunteer first', () => {
    assert.deepEqual(volunteerClassesFor('full-cone'), [
      'symmetric',
      'restricted',
      'port-restricted',
      'unrestricted',
      'address-restricted',
      'full-cone',
      'unknown',
    ]);
    assert.deepEqual(volunteerClassesFor('port-restricted'), ['port-restricted', 'unrestricted', 'address-restricted', 'full-cone', 'unknown']);
    assert.equal(natPreferenceRank('port-restricted', 'symmetric'), undefined);
  });
});

describe('network keys', () => {
  test('IPv4 /24, IPv6 /48, mapped IPv4 as IPv4; loopback exempt when asked', () => {
    assert.equal(networkKeyOf('203.0.113.7', { exemptLoopback: true }), '203.0.113.0/24');
    assert.equal(networkKeyOf('::ffff:203.0.113.99', { exemptLoopback: true }), '203.0.113.0/24');
    assert.equal(networkKeyOf('2001:db8:aa:1::5', { exemptLoopback: true }), '2001:db8:aa::/48');
    assert.equal(networkKeyOf('2001:db8:aa::', { exemptLoopback: true }), '2001:db8:aa::/48');
    assert.equal(networkKeyOf('127.0.0.1', { exemptLoopback: true }), undefined);
    assert.equal(networkKeyOf('::1', { exemptLoopback: true }), undefined);
    assert.equal(networkKeyOf('::ffff:127.0.0.1', { exemptLoopback: true }), undefined);
    assert.equal(networkKeyOf('127.0.0.2', { exemptLoopback: false }), '127.0.0.0/24');
    assert.equal(networkKeyOf('not an address', { exemptLoopback: false }), undefined);
  });
});

/** The rules every VolunteerStore follows (store.ts), checked on each implementation. */
function storeContract(open: StoreFactory): void {
  const storeWith = async (volunteers: VolunteerRow[], maxReservedPerVolunteer = 1): Promise<VolunteerStore> =>
    await fill(await open(maxReservedPerVolunteer), volunteers);

  test('empty store reserves nothing', async () => {
    const store = await open(1);
    assert.equal(await pick(store, request('unknown')), '(none)');
    assert.deepEqual(await store.counts(), { volunteers: 0, freeSlots: 0, reservedSlots: 0 });
  });

  test('a symmetric client never gets a port-restricted or symmetric volunteer', async () => {
    const store = await storeWith([
      ['p', 'port-restricted', 5],
      ['s', 'symmetric', 5],
      ['f', 'full-cone', 1],
    ]);
    assert.equal(await pick(store, request('symmetric')), 'f');
    assert.equal(await pick(store, request('symmetric')), '(busy)', 'f holds an offer: worth waiting for');
    await store.releaseSlot('f', 'used', 'common');
    assert.equal(await pick(store, request('symmetric')), '(busy)', 'f serves a client with its only slot: worth waiting for');
    await store.removeVolunteer('f');
    assert.equal(await pick(store, request('symmetric')), '(none)', 'p and s never suit');
  });

  test('a volunteer serving a client with every slot is worth waiting for, unless this client may never have it', async () => {
    const store = await storeWith([['full', 'unknown', 2, STARTING_SCORE, '198.51.100.0/24']]);
    assert.equal(await pick(store, request('unknown')), 'full');
    await store.releaseSlot('full', 'used', 'common');
    assert.equal(await pick(store, request('unknown')), 'full');
    await store.releaseSlot('full', 'used', 'common');
    assert.equal(await pick(store, request('unknown')), '(busy)', 'both slots serve clients: one frees up when a client leaves');
    assert.equal(await pick(store, request('unknown', ['full'])), '(none)', 'excluded for this client: no point waiting');
    assert.equal(await pick(store, request('unknown', [], '198.51.100.0/24')), '(none)', 'on the client’s own network: never');
    await store.updateNat('full', 'symmetric');
    assert.equal(await pick(store, request('symmetric')), '(none)', 'after its NAT class changed it can never reach this client');
    assert.equal(await pick(store, request('full-cone')), '(busy)', 'but it still suits a full-cone one');
    await store.updateSlots('full', 1, undefined); // a client left
    assert.equal(await pick(store, request('full-cone')), 'full');
    await store.removeVolunteer('full');
    assert.equal(await pick(store, request('full-cone')), '(none)');
  });

  test('a full-cone client gets a symmetric volunteer first, saving the full-cone one', async () => {
    const store = await storeWith([
      ['f', 'full-cone', 9],
      ['k', 'unknown', 9],
      ['s', 'symmetric', 1],
      ['p', 'port-restricted', 1],
    ]);
    assert.equal(await pick(store, request('full-cone')), 's');
    assert.equal(await pick(store, request('full-cone')), 'p');
    assert.equal(await pick(store, request('full-cone')), 'f');
    assert.equal(await pick(store, request('full-cone')), 'k');
  });

  test('announced slots never win: among equal scores, newcomers first, then in the order they freed up', async () => {
    const store = await storeWith(
      [
        ['two', 'unknown', 2],
        ['thirty-two', 'unknown', 32],
        ['three', 'unknown', 3],
      ],
      10,
    );
    assert.equal(await pick(store, request('unknown')), 'two');
    assert.equal(await pick(store, request('unknown')), 'thirty-two');
    assert.equal(await pick(store, request('unknown')), 'three');
    assert.equal(await pick(store, request('unknown')), 'two', 'round and round, whatever the slots');
    await store.addVolunteer({
      id: 'new',
      ownerId: OWNER_ID,
      kind: 'tab',
      nat: 'unknown',
      network: undefined,
      slots: 1,
      personalSlots: 0,
      pairingIds: [],
      score: STARTING_SCORE,
    });
    assert.equal(await pick(store, request('unknown')), 'new', 'a newcomer is tried at once');
  });

  test('among volunteers equally good by NAT and score, the least loaded goes first', async () => {
    const store = await storeWith([
      ['busy', 'unknown', 8],
      ['idle', 'unknown', 8],
    ]);
    await store.updateSlots('busy', 5, undefined); // it serves 3 clients now
    const takeAndKeep = async (expected: string): Promise<void> => {
      assert.equal(await pick(store, request('unknown')), expected);
      await store.releaseSlot(expected, 'used', 'common');
    };
    await takeAndKeep('idle'); // 0 against 3, although 'busy' came first
    await takeAndKeep('idle'); // 1 against 3
    await takeAndKeep('idle'); // 2 against 3
    await takeAndKeep('busy'); // 3 against 3: the one never offered anyone first
    await store.updateSlots('busy', 8, undefined); // its clients left
    assert.equal(await pick(store, request('unknown')), 'busy');
  });

  test('within a NAT class the higher score wins, and updateScore changes the order', async () => {
    const store = await storeWith([
      ['liar', 'unknown', 32, 2],
      ['honest', 'unknown', 1, 9],
    ]);
    assert.equal(await pick(store, request('unknown')), 'honest');
    await store.releaseSlot('honest', 'unused', 'common');
    await store.updateScore('honest', 1);
    await store.updateScore('nobody', 5);
    assert.equal(await pick(store, request('unknown')), 'liar');
    assert.equal((await store.getVolunteer('honest'))?.score, 1);
  });

  test('NAT class comes before score', async () => {
    const store = await storeWith([
      ['unknown-best', 'unknown', 1, 10],
      ['unrestricted-poor', 'unrestricted', 1, 0],
    ]);
    assert.equal(await pick(store, request('restricted')), 'unrestricted-poor');
  });

  test('excluded volunteers and volunteers on the client’s network are skipped', async () => {
    const store = await storeWith([
      ['a', 'unknown', 3],
      ['b', 'unknown', 1, STARTING_SCORE, '198.51.100.0/24'],
      ['c', 'unknown', 1],
    ]);
    assert.equal(await pick(store, request('unknown', ['a'], '198.51.100.0/24')), 'c');
    assert.equal(await pick(store, request('unknown', ['a'], '198.51.100.0/24')), '(busy)', 'c holds an offer');
    assert.equal(await pick(store, request('unknown', ['a', 'c'], '198.51.100.0/24')), '(none)', 'c is excluded: no point waiting for it');
    await store.releaseSlot('c', 'used', 'common');
    assert.equal(await pick(store, request('unknown', ['a', 'c'], '198.51.100.0/24')), '(none)');
    assert.equal(await pick(store, request('unknown', ['a', 'c'], '203.0.113.0/24')), 'b');
  });

  test('a second path: the volunteers of the first are excluded, and so is every volunteer on their network', async () => {
    const store = await storeWith([
      ['first', 'unknown', 2, STARTING_SCORE + 5, '198.51.100.0/24'],
      ['neighbour', 'unknown', 2, STARTING_SCORE + 4, '198.51.100.0/24'],
      ['elsewhere', 'unknown', 2, STARTING_SCORE, '203.0.113.0/24'],
    ]);
    assert.equal((await store.getVolunteer('first'))?.network, '198.51.100.0/24', 'the store tells a volunteer’s network');
    assert.equal(await pick(store, request('unknown', ['first'], undefined, ['198.51.100.0/24'])), 'elsewhere');
    await store.releaseSlot('elsewhere', 'unused', 'common');
    assert.equal(await pick(store, request('unknown', ['first'])), 'neighbour', 'without the network rule the neighbour would do');
  });

  test('reservations hold slots; used slots drop the announced count, unused ones come back', async () => {
    const store = await storeWith([['v', 'unknown', 2]], 2);
    assert.equal(await pick(store, request('unknown')), 'v');
    assert.deepEqual(await store.counts(), { volunteers: 1, freeSlots: 1, reservedSlots: 1 });
    await store.releaseSlot('v', 'unused', 'common');
    assert.deepEqual(await store.getVolunteer('v'), {
      id: 'v',
      ownerId: OWNER_ID,
      kind: 'headless',
      nat: 'unknown',
      announcedSlots: 2,
      reservedSlots: 0,
      personalSlots: 0,
      reservedPersonalSlots: 0,
      pairingIds: [],
      score: STARTING_SCORE,
      network: undefined,
    });
    await store.reserveSlot(request('unknown'));
    await store.releaseSlot('v', 'used', 'common');
    assert.deepEqual(await store.counts(), { volunteers: 1, freeSlots: 1, reservedSlots: 0 });
    // A second release without a reservation changes nothing.
    await store.releaseSlot('v', 'used', 'common');
    assert.equal((await store.getVolunteer('v'))?.announcedSlots, 1);
  });

  test('maxReservedPerVolunteer caps offers in flight even with free slots', async () => {
    const store = await storeWith([['v', 'unknown', 10]], 2);
    assert.equal(await pick(store, request('unknown')), 'v');
    assert.equal(await pick(store, request('unknown')), 'v');
    assert.equal(await pick(store, request('unknown')), '(busy)');
  });

  test('a slots update below the reservations leaves no free slots, never negative; a new one frees it', async () => {
    const store = await storeWith([['v', 'unknown', 2]], 5);
    await store.reserveSlot(request('unknown'));
    await store.reserveSlot(request('unknown'));
    await store.updateSlots('v', 1, undefined);
    assert.equal((await store.counts()).freeSlots, 0);
    assert.equal(await pick(store, request('unknown')), '(busy)');
    await store.updateSlots('v', 3, undefined);
    assert.equal(await pick(store, request('unknown')), 'v');
  });

  test('a pairing link: its holder gets only that volunteer, personal slots first; nobody else ever gets personal slots', async () => {
    const store = await open(1);
    const friendLink = pairingIdOf(createPairingToken());
    const otherLink = pairingIdOf(createPairingToken());
    await store.addVolunteer({
      id: 'friend',
      ownerId: OWNER_ID,
      kind: 'extension',
      nat: 'full-cone',
      network: undefined,
      slots: 0,
      personalSlots: 1,
      pairingIds: [friendLink],
      score: 10,
    });
    await store.addVolunteer({
      id: 'stranger',
      ownerId: OWNER_ID,
      kind: 'headless',
      nat: 'full-cone',
      network: undefined,
      slots: 1,
      personalSlots: 0,
      pairingIds: [],
      score: 0,
    });
    const paired = (pairingId: string): SlotRequest => ({ ...request('symmetric'), pairingId });

    assert.equal(await pick(store, request('symmetric')), 'stranger', 'the friend’s personal slot is not for strangers');
    await store.releaseSlot('stranger', 'used', 'common');
    assert.equal(await pick(store, request('symmetric')), '(busy)', 'still not: it waits for the stranger, whose slot serves a client');
    assert.equal(await pick(store, paired(otherLink)), '(none)', 'a link nobody registered');

    assert.deepEqual(await store.reserveSlot(paired(friendLink)), { kind: 'reserved', volunteerId: 'friend', ownerId: OWNER_ID, pool: 'personal' });
    assert.equal(await pick(store, paired(friendLink)), '(busy)', 'its one offer is in flight');
    await store.releaseSlot('friend', 'used', 'personal');
    assert.equal(await pick(store, paired(friendLink)), '(none)', 'its personal slot is used and it has no common one');

    await store.updateSlots('friend', 1, 0);
    assert.deepEqual(await store.reserveSlot(paired(friendLink)), { kind: 'reserved', volunteerId: 'friend', ownerId: OWNER_ID, pool: 'common' });
    await store.releaseSlot('friend', 'unused', 'common');
    await store.updateSlots('friend', 0, 2);
    await store.updatePairings('friend', [otherLink]);
    assert.equal(await pick(store, paired(friendLink)), '(none)', 'a revoked link');
    assert.equal(await pick(store, paired(otherLink)), 'friend');
    const friend = await store.getVolunteer('friend');
    assert.deepEqual([friend?.personalSlots, friend?.reservedPersonalSlots, friend?.pairingIds], [2, 1, [otherLink]]);
    await store.removeVolunteer('friend');
    assert.equal(await pick(store, paired(otherLink)), '(none)', 'gone with its volunteer');
  });

  test('a volunteer that learns its NAT class after hello is matched by the new class', async () => {
    const store = await storeWith([['v', 'unknown', 2]], 1);
    assert.equal(await pick(store, request('symmetric')), 'v', 'unknown: a guess for a symmetric client');
    await store.updateNat('v', 'restricted');
    await store.releaseSlot('v', 'unused', 'common');
    assert.equal(await pick(store, request('symmetric')), '(none)', 'restricted never meets symmetric');
    assert.equal(await pick(store, request('full-cone')), 'v');
    await store.updateNat('nobody', 'full-cone');
    assert.deepEqual(
      (await store.pools()).map((pool) => [pool.nat, pool.volunteers, pool.reservedSlots]),
      [['restricted', 1, 1]],
    );
  });

  test('pools count volunteers by kind and NAT class', async () => {
    const store = await storeWith([
      ['a', 'symmetric', 2],
      ['b', 'symmetric', 3],
      ['c', 'full-cone', 1],
    ]);
    await store.reserveSlot(request('full-cone'));
    const pools = (await store.pools()).sort((x, y) => x.nat.localeCompare(y.nat));
    assert.deepEqual(pools, [
      { kind: 'headless', nat: 'full-cone', volunteers: 1, freeSlots: 1, reservedSlots: 0 },
      { kind: 'headless', nat: 'symmetric', volunteers: 2, freeSlots: 4, reservedSlots: 1 },
    ]);
  });

  test('removed volunteers are gone with their reservations; unknown ids are ignored', async () => {
    const store = await storeWith([
      ['a', 'unknown', 1],
      ['b', 'unknown', 1],
    ]);
    assert.equal(await pick(store, request('unknown')), 'a');
    await store.removeVolunteer('a');
    await store.removeVolunteer('nobody');
    await store.updateSlots('nobody', 3, undefined);
    await store.releaseSlot('nobody', 'used', 'common');
    assert.equal(await store.getVolunteer('a'), undefined);
    assert.equal((await store.counts()).volunteers, 1);
    assert.equal(await pick(store, request('unknown', ['b'])), '(none)', 'a removed with its reservation: nothing in flight');
    await store.close();
    assert.equal((await store.counts()).volunteers, 0);
  });
}

describe('MemoryVolunteerStore', () => {
  storeContract(async (maxReservedPerVolunteer) => new MemoryVolunteerStore({ maxReservedPerVolunteer }));
});

describe('RedisVolunteerStore (a real redis-server)', () => {
  let redis: LocalRedis | undefined;
  const connections: Redis[] = [];
  const stores: RedisVolunteerStore[] = [];
  let runs = 0;
  before(async () => {
    redis = await startLocalRedis();
  });
  after(async () => {
    for (const store of stores) await store.close();
    for (const connection of connections) connection.disconnect();
    await redis?.stop();
  });
  storeContract(async (maxReservedPerVolunteer) => {
    const connection = new Redis(redis?.url ?? '', { lazyConnect: true });
    connections.push(connection);
    await connection.connect();
    runs += 1;
    const store = new RedisVolunteerStore({
      redis: connection,
      keyPrefix: `test${runs}:`,
      ownerId: OWNER_ID,
      maxReservedPerVolunteer,
      heartbeatMs: 60_000,
      aliveTtlMs: 120_000,
      onHeartbeatError: (error) => assert.fail(String(error)),
    });
    await store.start();
    stores.push(store);
    return store;
  });

  test('volunteers of an instance that died are skipped, then swept; the living instance is untouched', async () => {
    const connection = new Redis(redis?.url ?? '', { lazyConnect: true });
    connections.push(connection);
    await connection.connect();
    const common = { redis: connection, keyPrefix: 'sweep:', maxReservedPerVolunteer: 1, heartbeatMs: 60_000, onHeartbeatError: () => {} };
    const living = new RedisVolunteerStore({ ...common, ownerId: 'living', aliveTtlMs: 120_000 });
    const dying = new RedisVolunteerStore({ ...common, ownerId: 'dying', aliveTtlMs: 150 });
    stores.push(living, dying);
    await living.start();
    await dying.start();
    await dying.addVolunteer({
      id: 'ghost',
      ownerId: 'dying',
      kind: 'headless',
      nat: 'full-cone',
      network: undefined,
      slots: 5,
      personalSlots: 0,
      pairingIds: [],
      score: 10,
    });
    await living.addVolunteer({
      id: 'real',
      ownerId: 'living',
      kind: 'headless',
      nat: 'symmetric',
      network: undefined,
      slots: 5,
      personalSlots: 0,
      pairingIds: [],
      score: 0,
    });
    // 'ghost' would be first (full cone, best score) for a full-cone client... if its instance were alive.
    const dyingStopped = dying.close();
    await dyingStopped;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await pick(living, request('symmetric')), '(none)', 'the dead instance’s full-cone volunteer is skipped and deleted');
    assert.equal(await living.getVolunteer('ghost'), undefined);
    assert.equal(await pick(living, request('full-cone')), 'real');
    assert.deepEqual(await living.counts(), { volunteers: 1, freeSlots: 4, reservedSlots: 1 });
  });
});
