/**
 * @module redis-store
 * The VolunteerStore for several broker instances: every volunteer of every instance lives in one Redis, so a client
 * asking any instance can be matched to a volunteer connected to any other (the offer then travels through the
 * broker mesh, broker-mesh.ts, to the instance holding the volunteer's socket).
 *
 * It keeps exactly the rules and the index of the memory store (store.ts, memory-store.ts), in Redis:
 * - `v:ID` a hash per volunteer: owner, kind, nat, net (network key), ann (announced), res (reserved), pann and pres
 *   (the same for personal slots), pairs (its pairing ids), score, fresh (never offered), q (its queue, or empty),
 *   cap (most slots it ever announced), ql (its load in the queue), full (whether it is in `full:NAT`);
 * - `pair:ID` the volunteers holding a pairing id;
 * - `q:NAT:SCORE` a sorted set per NAT class and score of the volunteers that can take an offer now, ordered by an
 *   increasing counter, newcomers below everyone offered before: a pick reads a few members, never every volunteer;
 * - `inflight:NAT` the volunteers of a class holding offers, and `full:NAT` those serving clients with every common
 *   slot (whether a client should wait: either kind frees up soon);
 * - `pool:KIND:NAT` running totals for metrics, `pools` the set of those keys;
 * - `owner:BROKER` the volunteers an instance holds, `brokers` the instances, `alive:BROKER` a key each instance
 *   refreshes every heartbeat and that expires when it dies.
 * Every change runs as one Lua script, so picking and reserving stay one atomic step across instances.
 *
 * An instance that dies (SIGKILL, a lost host) leaves its volunteers behind; their sockets are gone with it. Once its
 * `alive:` key expires (aliveTtlMs), a pick skips and deletes any of them it meets, and every instance's heartbeat
 * sweeps them all, so the pool and the metrics forget them within one more heartbeat.
 *
 * One Redis primary, not Redis Cluster: the scripts touch keys they compute themselves.
 */
import type { Redis } from 'ioredis';
import { NAT_CLASSES, type NatClass, VOLUNTEER_KINDS } from '../protocol/signaling.ts';
import { requireOneOf } from '../protocol/validate.ts';
import { SCORE_STEPS } from './answer-record.ts';
import { volunteerClassesFor } from './nat-matching.ts';
import type {
  NewVolunteer,
  SlotOutcome,
  SlotPool,
  SlotRequest,
  SlotReservation,
  VolunteerPool,
  VolunteerSnapshot,
  VolunteerStore,
  VolunteerStoreCounts,
} from './store.ts';
import { clampScore } from './store.ts';

export interface RedisVolunteerStoreOptions {
  /** A connected ioredis client for commands (not one in subscriber mode). The store does not close it. */
  redis: Redis;
  /** Prepended to every key, so several networks (or test runs) can share one Redis. */
  keyPrefix: string;
  /** This broker instance's id: the owner of the volunteers it adds. */
  ownerId: string;
  /** BrokerConfig.maxOffersPerVolunteerPending. */
  maxReservedPerVolunteer: number;
  /** How often this instance refreshes its `alive:` key and sweeps dead instances' volunteers (ms). */
  heartbeatMs: number;
  /** How long an `alive:` key lives without a refresh (ms): an instance is dead this long after its last beat. */
  aliveTtlMs: number;
  /** Reports a failed heartbeat (Redis unreachable); the next beat tries again. */
  onHeartbeatError: (error: unknown) => void;
}

/** Members read from a queue per round trip inside a pick (skipping excluded and same-network volunteers). */
const PICK_BATCH = 32;

/** Shared Lua: key names, loading a volunteer, pool totals, and the queue index. ARGV[1] is the key prefix. */
const LUA_COMMON = `
local P = ARGV[1]
local function vkey(id) return P .. 'v:' .. id end
local function freeOf(v) local f = v.ann - v.res; if f < 0 then return 0 end; return f end
local function load(id)
  local f = redis.call('HMGET', vkey(id), 'owner', 'kind', 'nat', 'net', 'ann', 'res', 'score', 'fresh', 'q', 'pann', 'pres', 'pairs', 'cap', 'ql', 'full')
  if not f[1] then return nil end
  return { owner = f[1], kind = f[2], nat = f[3], net = f[4], ann = tonumber(f[5]), res = tonumber(f[6]),
           score = tonumber(f[7]), fresh = f[8], q = f[9], pann = tonumber(f[10]), pres = tonumber(f[11]), pairs = f[12],
           cap = tonumber(f[13]), ql = tonumber(f[14]), full = f[15] or '0' }
end
local function save(id, v)
  redis.call('HSET', vkey(id), 'ann', v.ann, 'res', v.res, 'score', v.score, 'fresh', v.fresh, 'q', v.q, 'pann', v.pann, 'pres', v.pres,
    'pairs', v.pairs, 'cap', v.cap, 'ql', v.ql, 'full', v.full)
end
-- Clients served now, by the volunteer's own announcements: the most slots it ever announced minus those free now.
local function loadOf(v)
  local load = v.cap - v.ann
  if load < 0 then return 0 end
  if load > 32 then return 32 end
  return load
end
local function reservedOf(v) return v.res + v.pres end
local function setPairs(id, v, pairs)
  for pid in string.gmatch(v.pairs, '[^,]+') do redis.call('SREM', P .. 'pair:' .. pid, id) end
  v.pairs = pairs
  for pid in string.gmatch(v.pairs, '[^,]+') do redis.call('SADD', P .. 'pair:' .. pid, id) end
end
local function account(v, sign)
  local pool = P .. 'pool:' .. v.kind .. ':' .. v.nat
  redis.call('SADD', P .. 'pools', pool)
  redis.call('HINCRBY', pool, 'volunteers', sign)
  -- Only non-zero steps: Lua's -1 * 0 is -0, which HINCRBY refuses.
  local free = freeOf(v)
  if free ~= 0 then redis.call('HINCRBY', pool, 'free', sign * free) end
  if v.res ~= 0 then redis.call('HINCRBY', pool, 'reserved', sign * v.res) end
end
local function leaveQueue(id, v)
  if v.q ~= '' then redis.call('ZREM', v.q, id); v.q = '' end
end
-- 'full:<nat>' holds the volunteers whose common slots are all taken by clients they serve: each frees one when a
-- client of its leaves, so a client that suits one waits for it instead of being refused (store.ts, 'busy').
local function trackFull(id, v)
  local full = '0'
  if v.ann <= 0 and v.cap > 0 then full = '1' end
  if full == v.full then return end
  if full == '1' then redis.call('SADD', P .. 'full:' .. v.nat, id) else redis.call('SREM', P .. 'full:' .. v.nat, id) end
  v.full = full
end
-- Queue position: the load first (least loaded first), then newcomers before volunteers offered before, then the
-- order they entered (2^46 per load step, 2^45 for "offered before": exact in a double up to load 32).
local function reindex(id, v, maxRes)
  trackFull(id, v)
  if freeOf(v) <= 0 or reservedOf(v) >= maxRes then leaveQueue(id, v); return end
  local load = loadOf(v)
  if v.q ~= '' then
    if v.ql == load then return end
    leaveQueue(id, v)
  end
  local order = redis.call('INCR', P .. 'order') % 35184372088832
  if v.fresh ~= '1' then order = order + 35184372088832 end
  v.q = P .. 'q:' .. v.nat .. ':' .. v.score
  v.ql = load
  redis.call('ZADD', v.q, load * 70368744177664 + order, id)
end
local function remove(id, v)
  account(v, -1)
  leaveQueue(id, v)
  setPairs(id, v, '')
  redis.call('SREM', P .. 'inflight:' .. v.nat, id)
  redis.call('SREM', P .. 'full:' .. v.nat, id)
  redis.call('SREM', P .. 'owner:' .. v.owner, id)
  redis.call('DEL', vkey(id))
end
`;

/** ARGV: prefix, id, owner, kind, nat, net, ann, score, maxRes, pann, pairs (comma-separated ids). */
const LUA_ADD = `${LUA_COMMON}
local id = ARGV[2]
local old = load(id)
if old then remove(id, old) end
local v = { owner = ARGV[3], kind = ARGV[4], nat = ARGV[5], net = ARGV[6], ann = tonumber(ARGV[7]), res = 0,
            score = tonumber(ARGV[8]), fresh = '1', q = '', pann = tonumber(ARGV[10]), pres = 0, pairs = '',
            cap = tonumber(ARGV[7]), ql = 0, full = '0' }
redis.call('HSET', vkey(id), 'owner', v.owner, 'kind', v.kind, 'nat', v.nat, 'net', v.net)
setPairs(id, v, ARGV[11])
redis.call('SADD', P .. 'owner:' .. v.owner, id)
redis.call('SADD', P .. 'brokers', v.owner)
reindex(id, v, tonumber(ARGV[9]))
save(id, v)
account(v, 1)
return 1`;

/** ARGV: prefix, id. */
const LUA_REMOVE = `${LUA_COMMON}
local v = load(ARGV[2])
if v then remove(ARGV[2], v) end
return 1`;

/** ARGV: prefix, id, field ('ann', 'score', 'nat' or 'pairs'), value, maxRes, personal slots ('' to keep them; with 'ann'). */
const LUA_UPDATE = `${LUA_COMMON}
local id = ARGV[2]
local v = load(id)
if not v then return 0 end
account(v, -1)
if ARGV[3] == 'score' then
  local score = tonumber(ARGV[4])
  if score ~= v.score then leaveQueue(id, v); v.score = score end
elseif ARGV[3] == 'pairs' then
  setPairs(id, v, ARGV[4])
elseif ARGV[3] == 'nat' then
  if ARGV[4] ~= v.nat then
    leaveQueue(id, v)
    if reservedOf(v) > 0 then
      redis.call('SREM', P .. 'inflight:' .. v.nat, id)
      redis.call('SADD', P .. 'inflight:' .. ARGV[4], id)
    end
    -- reindex() puts it back under its new class.
    if v.full == '1' then redis.call('SREM', P .. 'full:' .. v.nat, id); v.full = '0' end
    v.nat = ARGV[4]
    redis.call('HSET', vkey(id), 'nat', v.nat)
  end
else
  v.ann = tonumber(ARGV[4])
  if v.ann > v.cap then v.cap = v.ann end
  if ARGV[6] ~= '' then v.pann = tonumber(ARGV[6]) end
end
reindex(id, v, tonumber(ARGV[5]))
save(id, v)
account(v, 1)
return 1`;

/** ARGV: prefix, id, outcome ('used' or 'unused'), maxRes, pool ('common' or 'personal'). */
const LUA_RELEASE = `${LUA_COMMON}
local id = ARGV[2]
local v = load(id)
if not v then return 0 end
if ARGV[5] == 'personal' then
  if v.pres == 0 then return 0 end
  v.pres = v.pres - 1
  if ARGV[3] == 'used' and v.pann > 0 then v.pann = v.pann - 1 end
  save(id, v)
else
  if v.res == 0 then return 0 end
  account(v, -1)
  v.res = v.res - 1
  if ARGV[3] == 'used' and v.ann > 0 then v.ann = v.ann - 1 end
  account(v, 1)
end
if reservedOf(v) == 0 then redis.call('SREM', P .. 'inflight:' .. v.nat, id) end
reindex(id, v, tonumber(ARGV[4]))
save(id, v)
return 1`;

/**
 * ARGV: prefix, maxRes, clientNet ('' for none), scoreSteps, batch, pairingId ('' for none), excludedCount,
 * excluded..., excludedNetCount, excludedNet..., class... (the client's suitable volunteer classes, best first).
 * Returns {'reserved', id, owner, pool}, {'busy'} or {'none'}.
 */
const LUA_RESERVE = `${LUA_COMMON}
local maxRes = tonumber(ARGV[2])
local clientNet = ARGV[3]
local steps = tonumber(ARGV[4])
local batch = tonumber(ARGV[5])
local pairingId = ARGV[6]
local excludedCount = tonumber(ARGV[7])
local excluded = {}
for i = 8, 7 + excludedCount do excluded[ARGV[i]] = true end
local netCountAt = 8 + excludedCount
local excludedNetCount = tonumber(ARGV[netCountAt])
local excludedNets = {}
for i = netCountAt + 1, netCountAt + excludedNetCount do excludedNets[ARGV[i]] = true end
local classes = {}
local suits = {}
for i = netCountAt + 1 + excludedNetCount, #ARGV do classes[#classes + 1] = ARGV[i]; suits[ARGV[i]] = true end
local aliveCache = {}
local function alive(owner)
  if aliveCache[owner] == nil then aliveCache[owner] = redis.call('EXISTS', P .. 'alive:' .. owner) == 1 end
  return aliveCache[owner]
end
local function allowed(id, v)
  return not excluded[id] and not (v.net ~= '' and excludedNets[v.net]) and (clientNet == '' or v.net ~= clientNet)
end
local function reserve(id, v, pool)
  account(v, -1)
  if pool == 'personal' then v.pres = v.pres + 1 else v.res = v.res + 1 end
  v.fresh = '0'
  redis.call('SADD', P .. 'inflight:' .. v.nat, id)
  leaveQueue(id, v)
  reindex(id, v, maxRes)
  save(id, v)
  account(v, 1)
  return { 'reserved', id, v.owner, pool }
end
if pairingId ~= '' then
  local worthWaiting = false
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'pair:' .. pairingId)) do
    local v = load(id)
    if v and alive(v.owner) and allowed(id, v) and suits[v.nat] then
      if reservedOf(v) < maxRes then
        if v.pann - v.pres > 0 then return reserve(id, v, 'personal') end
        if freeOf(v) > 0 then return reserve(id, v, 'common') end
      end
      if reservedOf(v) > 0 and v.pann + v.ann > 0 then worthWaiting = true end
    end
  end
  if worthWaiting then return { 'busy' } end
  return { 'none' }
end
for _, nat in ipairs(classes) do
  for score = steps, 0, -1 do
    local q = P .. 'q:' .. nat .. ':' .. score
    local start = 0
    while true do
      local ids = redis.call('ZRANGE', q, start, start + batch - 1)
      if #ids == 0 then break end
      local kept = 0
      for _, id in ipairs(ids) do
        local v = load(id)
        if not v then
          redis.call('ZREM', q, id)
        elseif not alive(v.owner) then
          remove(id, v)
        elseif allowed(id, v) then
          return reserve(id, v, 'common')
        else
          kept = kept + 1
        end
      end
      start = start + kept
    end
  end
end
for _, nat in ipairs(classes) do
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'inflight:' .. nat)) do
    local v = load(id)
    if v and v.ann > 0 and alive(v.owner) and allowed(id, v) then return { 'busy' } end
  end
end
-- Page by page: this set may hold every volunteer, and the first one allowed ends the search.
for _, nat in ipairs(classes) do
  local cursor = '0'
  repeat
    local page = redis.call('SSCAN', P .. 'full:' .. nat, cursor, 'COUNT', batch)
    cursor = page[1]
    for _, id in ipairs(page[2]) do
      local v = load(id)
      if v and alive(v.owner) and allowed(id, v) then return { 'busy' } end
    end
  until cursor == '0'
end
return { 'none' }`;

/** ARGV: prefix, owner. Deletes every volunteer of one instance (its graceful close). */
const LUA_REMOVE_OWNER = `${LUA_COMMON}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'owner:' .. ARGV[2])) do
  local v = load(id)
  if v then remove(id, v) end
end
redis.call('DEL', P .. 'owner:' .. ARGV[2])
redis.call('SREM', P .. 'brokers', ARGV[2])
return 1`;

/** ARGV: prefix. Deletes the volunteers of every instance whose alive key has expired. Returns how many. */
const LUA_SWEEP = `${LUA_COMMON}
local removed = 0
for _, owner in ipairs(redis.call('SMEMBERS', P .. 'brokers')) do
  if redis.call('EXISTS', P .. 'alive:' .. owner) == 0 then
    for _, id in ipairs(redis.call('SMEMBERS', P .. 'owner:' .. owner)) do
      local v = load(id)
      if v then remove(id, v); removed = removed + 1 end
    end
    redis.call('DEL', P .. 'owner:' .. owner)
    redis.call('SREM', P .. 'brokers', owner)
  end
end
return removed`;

/** A Lua script run by its SHA, loaded again if Redis forgot it (a restart or SCRIPT FLUSH). */
class LuaScript {
  readonly #source: string;
  #sha: string | undefined;

  constructor(source: string) {
    this.#source = source;
  }

  async run(redis: Redis, args: ReadonlyArray<string | number>): Promise<unknown> {
    this.#sha ??= String(await redis.script('LOAD', this.#source));
    try {
      return await redis.evalsha(this.#sha, 0, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      this.#sha = String(await redis.script('LOAD', this.#source));
      return await redis.evalsha(this.#sha, 0, ...args);
    }
  }
}

const SCRIPTS = {
  add: new LuaScript(LUA_ADD),
  remove: new LuaScript(LUA_REMOVE),
  update: new LuaScript(LUA_UPDATE),
  release: new LuaScript(LUA_RELEASE),
  reserve: new LuaScript(LUA_RESERVE),
  sweep: new LuaScript(LUA_SWEEP),
  removeOwner: new LuaScript(LUA_REMOVE_OWNER),
};

/** A reply from Redis did not have the shape the scripts return. */
export class RedisStoreReplyError extends Error {
  override readonly name = 'RedisStoreReplyError';
  readonly code = 'REDIS_STORE_BAD_REPLY';
}

export class RedisVolunteerStore implements VolunteerStore {
  readonly #options: RedisVolunteerStoreOptions;
  readonly #redis: Redis;
  readonly #prefix: string;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(options: RedisVolunteerStoreOptions) {
    this.#options = options;
    this.#redis = options.redis;
    this.#prefix = options.keyPrefix;
  }

  /** Marks this instance alive (rejects when Redis cannot be reached), then beats every heartbeatMs until close(). */
  async start(): Promise<void> {
    await this.#beat();
    this.#heartbeat = setInterval(() => {
      this.#beat().catch(this.#options.onHeartbeatError);
    }, this.#options.heartbeatMs);
    this.#heartbeat.unref();
  }

  async addVolunteer(volunteer: NewVolunteer): Promise<void> {
    await SCRIPTS.add.run(this.#redis, [
      this.#prefix,
      volunteer.id,
      volunteer.ownerId,
      volunteer.kind,
      volunteer.nat,
      volunteer.network ?? '',
      volunteer.slots,
      clampScore(volunteer.score),
      this.#options.maxReservedPerVolunteer,
      volunteer.personalSlots,
      volunteer.pairingIds.join(','),
    ]);
  }

  async removeVolunteer(id: string): Promise<void> {
    await SCRIPTS.remove.run(this.#redis, [this.#prefix, id]);
  }

  async updateSlots(id: string, slots: number, personalSlots: number | undefined): Promise<void> {
    await SCRIPTS.update.run(this.#redis, [this.#prefix, id, 'ann', slots, this.#options.maxReservedPerVolunteer, personalSlots ?? '']);
  }

  async updateNat(id: string, nat: NatClass): Promise<void> {
    await SCRIPTS.update.run(this.#redis, [this.#prefix, id, 'nat', nat, this.#options.maxReservedPerVolunteer, '']);
  }

  async updatePairings(id: string, pairingIds: readonly string[]): Promise<void> {
    // Pairing ids are base64url: never a comma.
    await SCRIPTS.update.run(this.#redis, [this.#prefix, id, 'pairs', pairingIds.join(','), this.#options.maxReservedPerVolunteer, '']);
  }

  async updateScore(id: string, score: number): Promise<void> {
    await SCRIPTS.update.run(this.#redis, [this.#prefix, id, 'score', clampScore(score), this.#options.maxReservedPerVolunteer, '']);
  }

  async reserveSlot(request: SlotRequest): Promise<SlotReservation> {
    const reply = await SCRIPTS.reserve.run(this.#redis, [
      this.#prefix,
      this.#options.maxReservedPerVolunteer,
      request.clientNetwork ?? '',
      SCORE_STEPS,
      PICK_BATCH,
      request.pairingId ?? '',
      request.excludeIds.size,
      ...request.excludeIds,
      request.excludeNetworks.size,
      ...request.excludeNetworks,
      ...volunteerClassesFor(request.clientNat),
    ]);
    if (!Array.isArray(reply)) throw new RedisStoreReplyError('the reserve script returned no list');
    const [kind, volunteerId, ownerId, pool] = reply as unknown[];
    if (kind === 'reserved' && typeof volunteerId === 'string' && typeof ownerId === 'string' && (pool === 'common' || pool === 'personal')) {
      return { kind, volunteerId, ownerId, pool };
    }
    if (kind === 'busy' || kind === 'none') return { kind };
    throw new RedisStoreReplyError(`the reserve script returned ${JSON.stringify(reply)}`);
  }

  async releaseSlot(id: string, outcome: SlotOutcome, pool: SlotPool): Promise<void> {
    await SCRIPTS.release.run(this.#redis, [this.#prefix, id, outcome, this.#options.maxReservedPerVolunteer, pool]);
  }

  async getVolunteer(id: string): Promise<VolunteerSnapshot | undefined> {
    const [ownerId, kind, nat, ann, res, score, pann, pres, pairs, net] = await this.#redis.hmget(
      `${this.#prefix}v:${id}`,
      'owner',
      'kind',
      'nat',
      'ann',
      'res',
      'score',
      'pann',
      'pres',
      'pairs',
      'net',
    );
    if (ownerId === null || ownerId === undefined) return undefined;
    return {
      id,
      ownerId,
      kind: oneOf(kind, VOLUNTEER_KINDS, 'kind'),
      nat: oneOf(nat, NAT_CLASSES, 'nat'),
      announcedSlots: Number(ann),
      reservedSlots: Number(res),
      personalSlots: Number(pann),
      reservedPersonalSlots: Number(pres),
      pairingIds: (pairs ?? '').split(',').filter((pairingId) => pairingId !== ''),
      score: Number(score),
      network: net === null || net === undefined || net === '' ? undefined : net,
    };
  }

  async counts(): Promise<VolunteerStoreCounts> {
    const totals = { volunteers: 0, freeSlots: 0, reservedSlots: 0 };
    for (const pool of await this.pools()) {
      totals.volunteers += pool.volunteers;
      totals.freeSlots += pool.freeSlots;
      totals.reservedSlots += pool.reservedSlots;
    }
    return totals;
  }

  async pools(): Promise<VolunteerPool[]> {
    const poolKeys = await this.#redis.smembers(`${this.#prefix}pools`);
    const pools: VolunteerPool[] = [];
    for (const poolKey of poolKeys) {
      const [kind, nat] = poolKey.slice(`${this.#prefix}pool:`.length).split(':');
      const fields = await this.#redis.hgetall(poolKey);
      const volunteers = Number(fields.volunteers ?? 0);
      if (volunteers <= 0) continue;
      pools.push({
        kind: oneOf(kind, VOLUNTEER_KINDS, 'kind'),
        nat: oneOf(nat, NAT_CLASSES, 'nat'),
        volunteers,
        freeSlots: Number(fields.free ?? 0),
        reservedSlots: Number(fields.reserved ?? 0),
      });
    }
    return pools;
  }

  /** Stops the heartbeat, forgets every volunteer of this instance (their sockets close with it) and its alive key. */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await SCRIPTS.removeOwner.run(this.#redis, [this.#prefix, this.#options.ownerId]).catch(() => {});
    await this.#redis.del(this.#aliveKey()).catch(() => {});
  }

  /** Refreshes this instance's alive key and deletes the volunteers of instances that died. */
  async #beat(): Promise<void> {
    await this.#redis.set(this.#aliveKey(), '1', 'PX', this.#options.aliveTtlMs);
    await this.#redis.sadd(`${this.#prefix}brokers`, this.#options.ownerId);
    await SCRIPTS.sweep.run(this.#redis, [this.#prefix]);
  }

  #aliveKey(): string {
    return `${this.#prefix}alive:${this.#options.ownerId}`;
  }
}

/** A field Redis holds, checked like any input: a value this broker does not know is a bad reply, not a crash later. */
function oneOf<T extends string>(value: string | null | undefined, allowed: readonly T[], field: string): T {
  return requireOneOf(
    value,
    `Redis's volunteer "${field}"`,
    allowed,
    (message) => new RedisStoreReplyError(`${message} (a broker of another version wrote it?)`),
  );
}
