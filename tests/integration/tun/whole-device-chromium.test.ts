// The popup's "Whole device" switch, for real: Chromium with the built extension runs in a lab's client namespace,
// its helper pointed at the privileged service there. Switched on in the popup, plain programs in the namespace
// reach the origin by name through Ferry (DNS answered at the exit), and only the tunnel's own transport leaves the
// namespace's interface. Switched off, the namespace is exactly as it was, while Proxy me carries on for the browser.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FerryUser } from '../../../harness/ferry-user.ts';
import { closeUserAndHelper } from '../../../harness/lab-servers.ts';
import { NAT_LAB_STUN_ADDRESSES, natLabPrerequisites, type RunResult } from '../../../harness/nat-lab.ts';
import { WholeDeviceLab } from '../../../harness/whole-device-lab.ts';

const FILE_BYTES = 8 * 1024 * 1024;
const SWITCH_TIMEOUT_MS = 60_000;

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip;
let stage: WholeDeviceLab | undefined;
let user: FerryUser | undefined;
let before_ = '';

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the lab cannot run: ${prerequisites.missing}`);
    stage = await WholeDeviceLab.start({ originFiles: [FILE_BYTES] });
    before_ = await stage.snapshot();
    user = await stage.launchClientBrowser();
  },
  { timeout: 240_000 },
);

after(async () => {
  if (user) await closeUserAndHelper(user);
  await stage?.close();
});

test('the popup switch turns whole-device mode on: curl with no proxy settings fetches by name, and only the transport leaves', {
  skip,
  timeout: 180_000,
}, async () => {
  assert.ok(stage && user);
  await user.setSwitch('whole-device', true);
  const state = await user.waitFor(
    (published) => published.proxyMe.wholeDevice === 'on' || published.proxyMe.wholeDevice === 'failed',
    'whole-device mode to be on',
    SWITCH_TIMEOUT_MS,
  );
  assert.equal(state.proxyMe.wholeDevice, 'on', `the mode failed: ${state.proxyMe.wholeDeviceReason}`);
  assert.ok(await user.popup.locator('#whole-device').isChecked(), 'the switch shows on');
  assert.doesNotMatch((await user.popup.locator('#whole-device-status').getAttribute('class')) ?? '', /error/);

  let run: RunResult | undefined;
  const seen = await stage.capturedWhile(async () => {
    run = await stage?.shell(`curl --silent --show-error --max-time 90 ${stage.originUrl(0)} | sha256sum`, 120_000);
  });
  assert.ok(run);
  assert.equal(run.stdout.split(' ')[0], stage.origins[0]?.sha256, `${run.stderr} ${user.browser.recentOutput.slice(-1500)}`);
  assert.equal(seen.dns, 0, 'no DNS query left the interface in the clear');
  assert.equal(seen.destinations.has(stage.originHost.address), false, 'no packet went to the origin');
  const transport = new Set<string>([stage.volunteerHost.address, stage.lab.publicServiceAddress, ...NAT_LAB_STUN_ADDRESSES]);
  assert.deepEqual(
    [...seen.destinations].filter((address) => !transport.has(address)),
    [],
    'only the volunteer, the broker and STUN',
  );
  assert.ok(seen.destinations.has(stage.volunteerHost.address), 'the bytes went by the volunteer');
});

test('the popup switch off: the namespace is exactly as before, and Proxy me still carries the browser', { skip, timeout: 120_000 }, async () => {
  assert.ok(stage && user);
  await user.setSwitch('whole-device', false);
  await user.waitFor((published) => published.proxyMe.wholeDevice === 'off', 'whole-device mode to be off', SWITCH_TIMEOUT_MS);
  assert.equal(await stage.snapshot(), before_);
  const state = await user.state();
  assert.equal(state.proxyMe.phase, 'connected');
  const run = await stage.shell(
    `curl --silent --show-error --max-time 60 --socks5-hostname 127.0.0.1:${state.proxyMe.socksPort} ${stage.originUrl(0)} | sha256sum`,
    90_000,
  );
  assert.equal(run.stdout.split(' ')[0], stage.origins[0]?.sha256, run.stderr);
});
