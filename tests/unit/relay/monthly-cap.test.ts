// The monthly data cap: its count per calendar month (UTC) on a clock the test sets, kept in a store between runs;
// and a real volunteer that pauses when the month's bytes are used up: it leaves the broker, closes its clients,
// says until when, and does not come back while the month lasts (a restart included).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import nodeDataChannel from 'node-datachannel';
import { waitFor } from '../../../harness/wait.ts';
import { createRelayWorkerConfig } from '../../../relay-worker/config.ts';
import { MonthlyDataCap, type MonthlyUsage, monthOf, startOfNextMonth, type UsageStore } from '../../../relay-worker/monthly-cap.ts';
import { fileUsageStore, nodeRelayEnvironment } from '../../../relay-worker/node.ts';
import { RelayWorker } from '../../../relay-worker/relay-worker.ts';
import { closeAllClientPeers, connectTestClient, TestBroker, TestExit } from './helpers.ts';

after(() => {
  closeAllClientPeers();
  nodeDataChannel.cleanup();
});

const MIB = 1024 * 1024;

/** A store in memory that remembers what it was given. */
function memoryStore(initial?: MonthlyUsage): UsageStore & { saved: MonthlyUsage[] } {
  let kept = initial;
  const saved: MonthlyUsage[] = [];
  return {
    saved,
    load: async () => kept,
    save: async (usage) => {
      kept = usage;
      saved.push(usage);
    },
  };
}

test('months are calendar months in UTC', () => {
  assert.equal(monthOf(Date.UTC(2026, 10, 30, 23, 59)), '2026-11');
  assert.equal(startOfNextMonth(Date.UTC(2026, 10, 30, 23, 59)), Date.UTC(2026, 11, 1));
  assert.equal(startOfNextMonth(Date.UTC(2026, 11, 15)), Date.UTC(2027, 0, 1));
});

test('the cap counts this month only, says once when it is reached, and starts again next month', async () => {
  let now = Date.UTC(2026, 10, 27);
  const store = memoryStore({ month: '2026-11', bytes: 700 });
  const cap = new MonthlyDataCap(1000, store, () => now);
  await cap.restore();
  assert.equal(cap.usedBytes, 700, 'this month’s count from the store');
  assert.equal(cap.add(200), false);
  assert.equal(cap.add(200), true, 'this one reaches it');
  assert.equal(cap.add(200), false, 'said once');
  assert.equal(cap.reached, true);
  assert.equal(cap.resetsAt, Date.UTC(2026, 11, 1));
  await cap.flush();
  await cap.flush();
  assert.deepEqual(store.saved, [{ month: '2026-11', bytes: 1300 }], 'saved once: nothing changed since');

  now = Date.UTC(2026, 11, 1, 0, 0, 1);
  assert.equal(cap.reached, false, 'a new month');
  assert.equal(cap.usedBytes, 0);

  const lastMonths = new MonthlyDataCap(1000, memoryStore({ month: '2026-10', bytes: 5000 }), () => now);
  await lastMonths.restore();
  assert.equal(lastMonths.usedBytes, 0, 'a count from another month is not this month’s');
  const broken = new MonthlyDataCap(
    1000,
    { load: () => Promise.reject(new Error('disk gone')), save: () => Promise.reject(new Error('disk gone')) },
    () => now,
  );
  await broken.restore();
  broken.add(10);
  await broken.flush();
  assert.equal(broken.usedBytes, 10, 'a store that fails costs the memory of the count, nothing else');
});

test('a volunteer pauses when the month’s bytes are used up: it leaves the broker, closes its client, and says until when', async (t) => {
  const exit = await TestExit.echo();
  const broker = await TestBroker.start([exit.info()]);
  const dir = await mkdtemp(join(tmpdir(), 'ferry-cap-'));
  t.after(async () => {
    await broker.close();
    await exit.close();
    await rm(dir, { recursive: true, force: true });
  });
  const stateFile = join(dir, 'usage.json');
  const config = createRelayWorkerConfig({ brokerUrl: broker.url, kind: 'headless', exitListKeys: [broker.exitListKey], monthlyDataCapBytes: MIB });
  const worker = new RelayWorker({ config, environment: nodeRelayEnvironment(), usageStore: fileUsageStore(stateFile) });
  worker.start();
  t.after(() => worker.stop());
  await broker.next((message) => message.type === 'hello', 'hello');

  const client = await connectTestClient(broker, exit.info());
  t.after(() => client.close());
  // Echoed: every byte counts twice, once each way. 4 x 192 KiB out and back = 1.5 MiB, over the 1 MiB cap.
  for (let i = 0; i < 4; i++) client.channel.send(new Uint8Array(192 * 1024).buffer);
  await waitFor(() => worker.status.state === 'paused', 'the volunteer to pause at its cap');
  const status = worker.status;
  assert.equal(status.pausedUntil, startOfNextMonth(Date.now()));
  assert.match(status.pausedBy ?? '', /monthly data cap .* used up until \d{4}-\d{2}-01/);
  await waitFor(() => broker.closedConnections === 1, 'the volunteer to leave the broker');
  await waitFor(() => client.channel.readyState !== 'open', 'the client’s data channel to close');
  assert.equal(status.clientsNow, 0);

  // The count is on disk: a new run of the same volunteer stays paused and never calls the broker.
  worker.stop();
  const kept = JSON.parse(await readFile(stateFile, 'utf8')) as MonthlyUsage;
  assert.equal(kept.month, monthOf(Date.now()));
  assert.ok(kept.bytes >= MIB, `kept ${kept.bytes} bytes`);
  const restarted = new RelayWorker({ config, environment: nodeRelayEnvironment(), usageStore: fileUsageStore(stateFile) });
  restarted.start();
  t.after(() => restarted.stop());
  await waitFor(() => restarted.status.state === 'paused', 'the restarted volunteer to stay paused');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(broker.connections, 1, 'the restarted volunteer never connected to the broker');

  // A count from last month does not hold anyone back.
  await writeFile(stateFile, JSON.stringify({ month: '2000-01', bytes: 10 * MIB }));
  const nextMonth = new RelayWorker({ config, environment: nodeRelayEnvironment(), usageStore: fileUsageStore(stateFile) });
  nextMonth.start();
  t.after(() => nextMonth.stop());
  await broker.next((message) => message.type === 'hello', 'hello from a volunteer whose stored count is old');
  assert.equal(nextMonth.status.state === 'waiting' || nextMonth.status.state === 'connecting', true);
});
