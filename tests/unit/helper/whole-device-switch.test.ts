// The helper's end of the "Whole device" switch: one change at a time, each ending in a report the extension can show
// (with a reason a person can act on); the tunnel's own hosts resolved before the device takes the routes; and the
// whole path over the pipe: the extension's message in, the state back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { waitFor } from '../../../harness/wait.ts';
import { startHelperCore } from '../../../native-helper/helper-core.ts';
import { PeerAddresses } from '../../../native-helper/tun/peer-addresses.ts';
import type { TunModeOptions } from '../../../native-helper/tun/tun-mode.ts';
import { TunServiceUnavailableError } from '../../../native-helper/tun/tun-service-client.ts';
import type { TunState } from '../../../native-helper/tun/tun-service-protocol.ts';
import { LEFT_ON_REASON, NOT_LINUX_REASON, WholeDeviceSwitch, type WholeDeviceSwitchOptions } from '../../../native-helper/tun/whole-device-switch.ts';
import { generateKeyPair, toBase64Url } from '../../../protocol/index.ts';
import { FERRY_EXTENSION_ID, type PipeWholeDeviceState } from '../../../protocol/local-channel.ts';

const dialer = { dial: () => Promise.reject(new Error('no tunnel in this test')) };
const resolve = async (host: string): Promise<string[]> => (host === 'broker.example' ? ['198.51.100.7', '198.51.100.8'] : [host]);

function fakeMode(): { started: TunModeOptions[]; stops: number; start: (options: TunModeOptions) => Promise<{ stop(): Promise<void> }> } {
  const fake = {
    started: [] as TunModeOptions[],
    stops: 0,
    start: async (options: TunModeOptions) => {
      fake.started.push(options);
      return {
        stop: async () => {
          fake.stops += 1;
        },
      };
    },
  };
  return fake;
}

test('on: starting, then on, with the hosts resolved; on again changes nothing; off stops it', async () => {
  const reports: PipeWholeDeviceState[] = [];
  const mode = fakeMode();
  const peers = new PeerAddresses();
  const toggle = new WholeDeviceSwitch({
    dialer,
    peers,
    report: (state) => reports.push(state),
    startMode: mode.start,
    resolve,
    platform: 'linux',
    servicePath: '/tmp/x.sock',
  });
  await toggle.set(true, ['broker.example', '203.0.113.5', 'broker.example']);
  assert.deepEqual(
    reports.map((report) => report.state),
    ['starting', 'on'],
  );
  assert.deepEqual(mode.started[0]?.transportAddresses, ['198.51.100.7', '198.51.100.8', '203.0.113.5']);
  assert.equal(mode.started[0]?.servicePath, '/tmp/x.sock');
  assert.equal(mode.started[0]?.peers, peers);
  await toggle.set(true, []);
  assert.equal(mode.started.length, 1);
  await toggle.set(false, []);
  assert.equal(mode.stops, 1);
  assert.equal(toggle.state, 'off');
  assert.deepEqual(reports.at(-1), { type: 'whole-device-state', state: 'off' });
});

test('not on Linux, no service, a failing stop: each says why', async () => {
  const reports: PipeWholeDeviceState[] = [];
  const report = (state: PipeWholeDeviceState): number => reports.push(state);
  await new WholeDeviceSwitch({ dialer, peers: new PeerAddresses(), report, startMode: fakeMode().start, resolve, platform: 'darwin' }).set(true, []);
  assert.deepEqual(reports.pop(), { type: 'whole-device-state', state: 'unavailable', reason: 'whole-device mode works on Linux only for now' });

  const missing = new WholeDeviceSwitch({
    dialer,
    peers: new PeerAddresses(),
    report,
    resolve,
    platform: 'linux',
    startMode: () =>
      Promise.reject(
        new TunServiceUnavailableError(
          'the whole-device service at /run/ferry/tun.sock is not running: install it once with "sudo ferry helper --install-service --user YOU"',
        ),
      ),
  });
  await missing.set(true, []);
  assert.deepEqual(reports.pop(), {
    type: 'whole-device-state',
    state: 'unavailable',
    reason: 'the whole-device service at /run/ferry/tun.sock is not running: install it once with "sudo ferry helper --install-service --user YOU"',
  });

  const stuck = new WholeDeviceSwitch({
    dialer,
    peers: new PeerAddresses(),
    report,
    resolve,
    platform: 'linux',
    startMode: async () => ({ stop: () => Promise.reject(new Error('the service did not answer')) }),
  });
  await stuck.set(true, []);
  await stuck.set(false, []);
  assert.match(reports.pop()?.reason ?? '', /turning whole-device mode off failed: the service did not answer; run "ferry helper --tun-cleanup" as root/);
});

/** The service's state while the mode is not in force. */
const DOWN: TunState = { up: false, device: 'ferry0', deviceAddress: '198.18.0.1', natAddress: '198.18.0.2', dnsAddress: '198.18.0.3', bypass: [] };

test('the check, before anyone flips the switch: not Linux, no service, another user, a refusal, or off', async () => {
  const reports: PipeWholeDeviceState[] = [];
  const check = async (options: Partial<WholeDeviceSwitchOptions>): Promise<PipeWholeDeviceState | undefined> => {
    await new WholeDeviceSwitch({ dialer, peers: new PeerAddresses(), report: (state) => reports.push(state), platform: 'linux', ...options }).check();
    return reports.pop();
  };
  assert.deepEqual(await check({ platform: 'win32' }), { type: 'whole-device-state', state: 'unavailable', reason: NOT_LINUX_REASON });
  const missing = 'the whole-device service at /run/ferry/tun.sock is not running: install it once with "sudo ferry helper --install-service --user YOU"';
  assert.deepEqual(await check({ askService: () => Promise.reject(new TunServiceUnavailableError(missing)) }), {
    type: 'whole-device-state',
    state: 'unavailable',
    reason: missing,
  });
  assert.deepEqual(await check({ askService: async () => ({ ok: false, code: 'FORBIDDEN', message: 'this service serves another user' }) }), {
    type: 'whole-device-state',
    state: 'unavailable',
    reason: 'this service serves another user',
  });
  const asked: string[] = [];
  assert.deepEqual(
    await check({
      servicePath: '/tmp/y.sock',
      askService: async (path, request) => {
        asked.push(`${path} ${request.op}`);
        return { ok: true, state: DOWN };
      },
    }),
    { type: 'whole-device-state', state: 'off' },
  );
  assert.deepEqual(asked, ['/tmp/y.sock status']);
  // The real client against a socket nobody serves: the reason names the install command.
  assert.match((await check({ servicePath: '/nonexistent/ferry-tun.sock' }))?.reason ?? '', /install it once with "sudo ferry helper --install-service/);
});

test('left on by a helper that stopped: said so; off asks the service to restore the device, on takes the mode over', async () => {
  const reports: PipeWholeDeviceState[] = [];
  const asked: string[] = [];
  let up = true;
  const askService: WholeDeviceSwitchOptions['askService'] = async (_path, request) => {
    asked.push(request.op);
    if (request.op === 'down') up = false;
    return { ok: true, state: { ...DOWN, up } };
  };
  const mode = fakeMode();
  const leftOver = (): WholeDeviceSwitch =>
    new WholeDeviceSwitch({
      dialer,
      peers: new PeerAddresses(),
      report: (state) => reports.push(state),
      platform: 'linux',
      askService,
      startMode: mode.start,
      resolve,
    });

  const ending = leftOver();
  await ending.check();
  assert.deepEqual(reports.pop(), { type: 'whole-device-state', state: 'failed', reason: LEFT_ON_REASON });
  await ending.set(false, []);
  assert.deepEqual(asked, ['status', 'down']);
  assert.deepEqual(reports.pop(), { type: 'whole-device-state', state: 'off' });
  await ending.check();
  assert.deepEqual(reports.pop(), { type: 'whole-device-state', state: 'off' }, 'the device restored, the check says off');

  up = true;
  const resuming = leftOver();
  await resuming.check();
  await resuming.set(true, []);
  assert.equal(mode.started.length, 1, 'the mode started over the one left in force');
  assert.equal(resuming.state, 'on');
  await resuming.set(false, []);
  assert.equal(mode.stops, 1, 'and it is this helper that stops it');
});

test('over the pipe: the extension asks, the helper answers with its state; closing the helper turns the mode off', async () => {
  const mode = fakeMode();
  const helper = await startHelperCore({
    exit: { id: 'local', url: 'ws://127.0.0.1:9/v1/relay', publicKey: toBase64Url(generateKeyPair().publicKey) },
    allowedOrigin: `chrome-extension://${FERRY_EXTENSION_ID}`,
    socksPort: 0,
    httpPort: 0,
    wholeDevice: { startMode: mode.start, resolve, platform: 'linux', askService: async () => ({ ok: true, state: { ...DOWN, up: false } }) },
  });
  const pipe = new WebSocket(`${helper.pipeUrl}?token=${helper.issueToken()}`, { origin: `chrome-extension://${FERRY_EXTENSION_ID}` });
  const states: string[] = [];
  pipe.on('message', (data, isBinary) => {
    if (isBinary) return;
    const message = JSON.parse(String(data)) as { type: string; state?: string };
    if (message.type === 'whole-device-state' && message.state !== undefined) states.push(message.state);
  });
  try {
    await new Promise((resolveOpen, reject) => {
      pipe.once('open', resolveOpen);
      pipe.once('error', reject);
    });
    // The helper says at once that the switch can work here (the service answered: off), before anyone asks.
    await waitFor(() => states.includes('off') || undefined, "the helper's availability check");
    pipe.send(JSON.stringify({ type: 'whole-device', on: true, transportHosts: ['broker.example'] }));
    await waitFor(() => states.includes('on') || undefined, 'the helper to report whole-device mode on');
    assert.deepEqual(states, ['off', 'starting', 'on']);
    assert.equal(helper.wholeDevice.state, 'on');
  } finally {
    pipe.close();
    await helper.close();
  }
  assert.equal(mode.stops, 1, 'closing the helper turned the mode off');
});
