// Pause on battery or a metered connection: what the platform tells (device-conditions.ts) makes the relay core leave
// the broker and close its pairs, say why, and come back when the condition lifts; a volunteer started while the
// condition holds never connects. The platform's battery and connection objects are stand-ins (EventTargets with
// the same fields): no real battery can be unplugged here. The broker is a real WebSocket server.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { waitFor } from '../../../harness/wait.ts';
import { createRelayWorkerConfig } from '../../../relay-worker/config.ts';
import { type BatteryLike, type ConnectionLike, DeviceConditions } from '../../../relay-worker/device-conditions.ts';
import { nodeRelayEnvironment } from '../../../relay-worker/node.ts';
import { type DevicePauseReason, RelayWorker } from '../../../relay-worker/relay-worker.ts';
import { StatusLog, TestBroker } from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

class FakeBattery extends EventTarget implements BatteryLike {
  charging = true;
  unplug(): void {
    this.charging = false;
    this.dispatchEvent(new Event('chargingchange'));
  }
  plugIn(): void {
    this.charging = true;
    this.dispatchEvent(new Event('chargingchange'));
  }
}

class FakeConnection extends EventTarget implements ConnectionLike {
  type = 'wifi';
  saveData = false;
  become(type: string, saveData = false): void {
    this.type = type;
    this.saveData = saveData;
    this.dispatchEvent(new Event('change'));
  }
}

async function volunteer(): Promise<{ worker: RelayWorker; broker: TestBroker; statuses: StatusLog }> {
  const broker = await TestBroker.start([]);
  cleanups.push(() => broker.close());
  const statuses = new StatusLog();
  const config = createRelayWorkerConfig({ brokerUrl: broker.url, kind: 'extension', exitListKeys: [broker.exitListKey] });
  const worker = new RelayWorker({ config, environment: nodeRelayEnvironment(), onStatus: statuses.onStatus });
  cleanups.push(() => worker.stop());
  return { worker, broker, statuses };
}

test('the watcher asks for a pause on battery and on a metered connection, as chosen, and lifts it', async () => {
  const battery = new FakeBattery();
  const connection = new FakeConnection();
  const seen: Array<DevicePauseReason | undefined> = [];
  const watcher = new DeviceConditions({
    platform: { getBattery: async () => battery, connection },
    pauseOnBattery: true,
    pauseOnMetered: true,
    onChange: (reason) => seen.push(reason),
  });
  await watcher.start();
  battery.unplug();
  connection.become('cellular');
  battery.plugIn();
  connection.become('wifi', true); // the person's data saver
  connection.become('ethernet');
  watcher.stop();
  battery.unplug();
  // Battery first: a metered connection while on battery changes nothing until the device is plugged in.
  assert.deepEqual(seen, [undefined, 'battery', 'metered', undefined]);

  const ignoring: Array<DevicePauseReason | undefined> = [];
  const unplugged = new FakeBattery();
  unplugged.charging = false;
  const off = new DeviceConditions({
    platform: { getBattery: async () => unplugged, connection: new FakeConnection() },
    pauseOnBattery: false,
    pauseOnMetered: false,
    onChange: (reason) => ignoring.push(reason),
  });
  await off.start();
  assert.deepEqual(ignoring, [undefined], 'unchosen conditions never pause');
  off.stop();

  const silent: Array<DevicePauseReason | undefined> = [];
  const nothing = new DeviceConditions({ platform: {}, pauseOnBattery: true, pauseOnMetered: true, onChange: (reason) => silent.push(reason) });
  await nothing.start();
  assert.deepEqual(silent, [undefined], 'a platform that tells nothing never pauses');
});

test('paused by the device: the relay leaves the broker, says why, and comes back when the condition lifts', async () => {
  const { worker, broker, statuses } = await volunteer();
  worker.start();
  await statuses.waitFor((status) => status.state === 'waiting', 'waiting at the broker');

  worker.pauseForDevice('battery');
  assert.equal(worker.status.state, 'paused');
  assert.equal(worker.status.pauseReason, 'battery');
  assert.equal(worker.status.pausedUntil, undefined, 'no end time: the device decides');
  await broker.waitForClosedConnections(1);

  const paused = statuses.all.length;
  worker.pauseForDevice(undefined);
  await statuses.waitFor((status) => status.state === 'waiting', 'waiting again', paused);
  assert.equal(broker.connections, 2);
  assert.equal(worker.status.pauseReason, undefined);
});

test('started while the device asks for a pause: it never connects until the pause lifts', async () => {
  const { worker, broker, statuses } = await volunteer();
  worker.pauseForDevice('metered');
  worker.start();
  assert.equal(worker.status.state, 'paused');
  assert.equal(worker.status.pauseReason, 'metered');
  // The broker would have welcomed it by now: a connection attempt reaches a loopback server in milliseconds.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(broker.connections, 0);
  const paused = statuses.all.length;
  worker.pauseForDevice(undefined);
  await statuses.waitFor((status) => status.state === 'waiting', 'waiting after the pause lifted', paused);
  await waitFor(() => broker.connections === 1, 'one connection');
});
