// Several brokers on one real Redis: a client asking either broker is served by volunteers on either; an offer, a
// hang-up and freed capacity travel between them; and killing one broker (SIGKILL by pid) mid-burst loses only the
// requests in flight on it, while its volunteers reconnect to the other.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LocalRedis } from '../../harness/redis.ts';
import { startLocalRedis } from '../../harness/redis.ts';
import { spawnFerry } from '../../harness/servers.ts';
import { waitFor } from '../../harness/wait.ts';
import type { Broker } from '../../signaling-server/broker.ts';
import { createBroker } from '../../signaling-server/broker.ts';
import { offerBody, sampleOfferSdp, TEST_EXIT_LIST, TestVolunteer } from '../unit/broker/helpers.ts';

let redis: LocalRedis;
let prefixCounter = 0;

before(async () => {
  redis = await startLocalRedis();
});

after(async () => {
  await redis.stop();
});

interface BrokerPair {
  a: Broker;
  b: Broker;
  urlA: string;
  urlB: string;
}

async function startPair(t: { after(fn: () => Promise<void>): void }): Promise<BrokerPair> {
  prefixCounter += 1;
  const common = {
    host: '127.0.0.1',
    port: 0,
    exitList: TEST_EXIT_LIST,
    redisUrl: redis.url,
    redisKeyPrefix: `pair${prefixCounter}:`,
    clientAnswerTimeoutMs: 10_000,
    volunteerAnswerTimeoutMs: 4_000,
  };
  const a = createBroker(common);
  const b = createBroker(common);
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
  });
  const [portA, portB] = [(await a.listen()).port, (await b.listen()).port];
  return { a, b, urlA: `http://127.0.0.1:${portA}`, urlB: `http://127.0.0.1:${portB}` };
}

async function volunteerAt(baseUrl: string, slots = 1): Promise<TestVolunteer> {
  const volunteer = new TestVolunteer(`${baseUrl.replace('http', 'ws')}/v1/volunteer`);
  await volunteer.opened();
  await volunteer.hello({ slots });
  return volunteer;
}

/** POSTs an offer; resolves with the HTTP status, or 'failed' when the connection broke. */
async function postOffer(baseUrl: string, tag: string, signal?: AbortSignal): Promise<number | 'failed'> {
  try {
    const response = await fetch(`${baseUrl}/v1/client`, {
      method: 'POST',
      body: offerBody({ sdp: sampleOfferSdp(tag) }),
      signal: signal ?? AbortSignal.timeout(20_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 'failed';
  }
}

function tagOf(sdp: string): string {
  return /a=ice-ufrag:(\S+)/.exec(sdp)?.[1] ?? '';
}

test('a client on either broker is served by a volunteer on the other', async (t) => {
  const { urlA, urlB } = await startPair(t);
  const onA = await volunteerAt(urlA);
  const toB = postOffer(urlB, 'viaB');
  const offer = await onA.nextOffer();
  assert.equal(tagOf(offer.offer.sdp), 'viaB');
  onA.answer(offer.matchId);
  assert.equal(await toB, 200);

  onA.socket.terminate();
  const onB = await volunteerAt(urlB);
  const toA = postOffer(urlA, 'viaA');
  const second = await onB.nextOffer();
  assert.equal(tagOf(second.offer.sdp), 'viaA');
  onB.answer(second.matchId);
  assert.equal(await toA, 200);
  onB.socket.terminate();
});

test('a client that hangs up on one broker frees the offer at the other: the late answer gets MATCH_EXPIRED', async (t) => {
  const { urlA, urlB } = await startPair(t);
  const onA = await volunteerAt(urlA);
  const hangUp = new AbortController();
  const reply = postOffer(urlB, 'leaver', hangUp.signal);
  const offer = await onA.nextOffer();
  hangUp.abort();
  assert.equal(await reply, 'failed');
  // The cancel reaches broker A; the volunteer's answer then finds no match there.
  await new Promise((resolve) => setTimeout(resolve, 200));
  onA.answer(offer.matchId);
  const notice = await onA.nextMessage();
  assert.equal(notice.type === 'error' && notice.code, 'MATCH_EXPIRED');
  onA.socket.terminate();
});

test('a client queued on one broker is served when a volunteer on the other frees up', async (t) => {
  const { a, b, urlA, urlB } = await startPair(t);
  const onA = await volunteerAt(urlA, 32);
  const first = postOffer(urlA, 'first');
  const firstOffer = await onA.nextOffer();
  const second = postOffer(urlB, 'second');
  await waitFor(async () => (await b.metrics()).clientsWaiting === 1, 'the client on B to queue', { timeoutMs: 5_000 });
  onA.answer(firstOffer.matchId);
  onA.send({ type: 'slots', slots: 32 });
  const secondOffer = await onA.nextOffer();
  assert.equal(tagOf(secondOffer.offer.sdp), 'second');
  onA.answer(secondOffer.matchId);
  assert.equal(await first, 200);
  assert.equal(await second, 200);
  assert.equal((await a.metrics()).noVolunteersTotal + (await b.metrics()).noVolunteersTotal, 0);
  onA.socket.terminate();
});

test('killing one broker (SIGKILL) mid-burst loses only the requests in flight on it; its volunteers move to the other', async (t) => {
  const listDir = await mkdtemp(join(tmpdir(), 'ferry-redis-test-'));
  t.after(() => rm(listDir, { recursive: true, force: true }));
  const listFile = join(listDir, 'exit-list.json');
  await writeFile(listFile, JSON.stringify(TEST_EXIT_LIST));
  const args = ['broker', '--port', '0', '--exit-list', listFile, '--redis', redis.url, '--redis-prefix', 'killtest:'];
  const ready = /ferry broker: (http:\/\/\S+) ready \(pid (\d+)\)/;
  const [startedA, startedB] = await Promise.all([spawnFerry(args, ready), spawnFerry(args, ready)]);
  t.after(() => {
    for (const started of [startedA, startedB]) if (started.child.exitCode === null) started.child.kill('SIGKILL');
  });
  const urlA = startedA.match[1] ?? '';
  const urlB = startedB.match[1] ?? '';

  const volunteers: TestVolunteer[] = [];
  t.after(() => {
    for (const volunteer of volunteers) volunteer.socket.terminate();
  });
  /** A volunteer that answers every offer a few ms later and announces its slots again; it moves to B if its broker dies. */
  const startVolunteer = async (baseUrl: string): Promise<void> => {
    const volunteer = await volunteerAt(baseUrl, 32);
    volunteers.push(volunteer);
    volunteer.onEveryOffer((offer) => {
      setTimeout(() => {
        volunteer.answer(offer.matchId);
        volunteer.send({ type: 'slots', slots: 32 });
      }, 5);
    });
    void volunteer.closed.then(() => {
      if (baseUrl === urlA) void startVolunteer(urlB);
    });
  };
  for (let index = 0; index < 3; index += 1) {
    await startVolunteer(urlA);
    await startVolunteer(urlB);
  }

  // 96 offers from one address in all: under the broker's per-address limit of 120 a minute.
  interface Sent {
    target: 'A' | 'B';
    startedAt: number;
    result: number | 'failed';
  }
  const sent: Sent[] = [];
  let killedAt: number | undefined;
  let requests = 0;
  const worker = async (workerIndex: number): Promise<void> => {
    for (let round = 0; round < 16; round += 1) {
      const target: 'A' | 'B' = killedAt === undefined && (round + workerIndex) % 2 === 0 ? 'A' : 'B';
      const startedAt = Date.now();
      requests += 1;
      const result = await postOffer(target === 'A' ? urlA : urlB, `w${workerIndex}r${round}`);
      sent.push({ target, startedAt, result });
    }
  };
  const burst = Promise.all(Array.from({ length: 6 }, (_, index) => worker(index)));
  await waitFor(() => requests >= 30, 'the burst to get going', { timeoutMs: 20_000 });
  killedAt = Date.now();
  startedA.child.kill('SIGKILL');
  await burst;

  const failures = sent.filter((request) => request.result !== 200);
  for (const failure of failures) {
    assert.equal(failure.target, 'A', `a request to the living broker failed: ${JSON.stringify(failure)}`);
    assert.ok(failure.startedAt <= killedAt, 'only requests already in flight on the killed broker are lost');
  }
  assert.ok(failures.length <= 6, `at most one request per client was in flight (${failures.length} lost)`);
  const toB = sent.filter((request) => request.target === 'B');
  assert.ok(toB.length >= 50 && toB.every((request) => request.result === 200), 'every request to the living broker was served');
  // A's volunteers reconnected to B, and the dead instance's entries were swept from Redis.
  await waitFor(
    async () => /^ferry_broker_volunteers_connected 6$/m.test(await (await fetch(`${urlB}/metrics`)).text()),
    'broker B to count its 3 volunteers and the 3 that moved, and none of the dead ones',
    { timeoutMs: 15_000 },
  );
});
