// Whole-device mode end to end, in lab namespaces. The client namespace runs the privileged service (root) and the
// helper with the extension's client path (node-datachannel); a volunteer (`ferry volunteer`) sits in another
// namespace, the broker and the exit on the public segment, the origin in a third namespace, known by name only to
// the exit's resolver. Plain programs in the client namespace, with no proxy settings, reach the origin by name
// through the tunnel: DNS answered at the exit, TCP ended by the system stack. A capture on the client's own
// interface must show only the tunnel's transport (the volunteer and the broker): no DNS in the clear, no packet to
// the origin. With the volunteer killed, the traffic stops rather than leaks, and comes back with a new volunteer.
// Turning the mode off leaves the namespace exactly as it was (compared as text).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fetchInParallel } from '../../../harness/lab-servers.ts';
import { natLabPrerequisites, type RunResult } from '../../../harness/nat-lab.ts';
import { REPO_ROOT } from '../../../harness/paths.ts';
import { collectLines, terminate } from '../../../harness/processes.ts';
import { waitFor } from '../../../harness/wait.ts';
import { WHOLE_DEVICE_ORIGIN_NAME, WholeDeviceLab } from '../../../harness/whole-device-lab.ts';

const SUPPORT = join(REPO_ROOT, 'tests', 'integration', 'support');
const FILE_BYTES = 50 * 1024 * 1024;
const BIG = 0;
const SMALL = 1;

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip;
let stage: WholeDeviceLab | undefined;
let echoPort = 0;
let tunClient: ChildProcess | undefined;
let tunClientOut: string[] = [];
let tunClientErr: string[] = [];
let before_ = '';

/** The helper with whole-device mode in the client namespace; resolves once it carries. */
async function startTunClient(): Promise<void> {
  assert.ok(stage);
  const { lab } = stage;
  tunClient = lab.spawn(
    stage.client.namespace,
    process.execPath,
    ['--import', 'tsx', join(SUPPORT, 'tun-client.ts'), JSON.stringify(stage.exit), stage.brokerUrl, lab.publicServiceAddress, stage.socketPath, '1'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  tunClientOut = collectLines(tunClient.stdout);
  tunClientErr = collectLines(tunClient.stderr);
  await waitFor(() => tunClientOut.find((line) => line.startsWith('{"ready"')), 'whole-device mode to carry', { timeoutMs: 60_000 }).catch((error: unknown) => {
    throw new Error(`${String(error)}: ${tunClientErr.join('\n').slice(-3000)}`);
  });
}

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the lab cannot run: ${prerequisites.missing}`);
    stage = await WholeDeviceLab.start({ originFiles: [FILE_BYTES, 1024 * 1024] });
    const { lab } = stage;
    const echo = lab.spawn(stage.originHost.namespace, process.execPath, ['--import', 'tsx', join(SUPPORT, 'echo-server.ts'), '0.0.0.0']);
    const echoOut = collectLines(echo.stdout);
    echoPort = (
      await waitFor(() => echoOut.map((line) => (line.startsWith('{') ? (JSON.parse(line) as { port: number }) : undefined)).find(Boolean), 'the echo server', {
        timeoutMs: 20_000,
      })
    ).port;
    before_ = await stage.snapshot();
    await startTunClient();
  },
  { timeout: 180_000 },
);

/** With `what` gone, a fetch fails, and meanwhile nothing went to the origin and no DNS left in the clear. */
async function assertCutOff(what: string): Promise<void> {
  assert.ok(stage);
  let failed: RunResult | undefined;
  const seen = await stage.capturedWhile(async () => {
    failed = await stage?.shell(`curl --silent --max-time 8 ${stage.originUrl(SMALL)} -o /dev/null; echo "exit $?"`, 30_000);
  });
  assert.ok(failed);
  assert.doesNotMatch(failed.stdout, /exit 0\b/, `with no ${what} the fetch cannot succeed`);
  assert.equal(seen.dns, 0, 'no DNS in the clear meanwhile');
  assert.equal(seen.destinations.has(stage.originHost.address), false, 'nothing went to the origin directly');
}

after(async () => {
  if (tunClient) await terminate(tunClient, 15_000);
  await stage?.close();
});

test("curl, with no proxy settings, fetches 50 MiB from the origin by name; only the tunnel's transport leaves the interface", {
  skip,
  timeout: 200_000,
}, async () => {
  assert.ok(stage);
  const { lab, originHost, volunteerHost } = stage;
  let run: RunResult | undefined;
  const seen = await stage.capturedWhile(async () => {
    run = await stage?.shell(`curl --silent --show-error --max-time 150 ${stage.originUrl(BIG)} | sha256sum`);
  });
  assert.ok(run);
  assert.equal(run.code, 0, `${run.stderr} ${tunClientErr.join('\n').slice(-2000)}`);
  assert.equal(run.stdout.split(' ')[0], stage.origins[BIG]?.sha256);
  assert.equal(seen.dns, 0, 'no DNS query left the interface in the clear');
  assert.equal(seen.destinations.has(originHost.address), false, 'no packet went to the origin');
  assert.deepEqual(
    [...seen.destinations].filter((address) => address !== volunteerHost.address && address !== lab.publicServiceAddress),
    [],
    'only the volunteer and the broker',
  );
  assert.ok(seen.destinations.has(volunteerHost.address), 'the bytes went by the volunteer');
});

test('50 parallel connections each fetch a file through the device, every one whole', { skip, timeout: 200_000 }, async () => {
  assert.ok(stage);
  const sums = await fetchInParallel(stage.lab, stage.client.namespace, stage.directory, stage.originUrl(SMALL), 50);
  assert.deepEqual(new Set(sums), new Set([stage.origins[SMALL]?.sha256]));
});

test('a long-lived connection carries data both ways for 30 s, every byte echoed back in order', { skip, timeout: 120_000 }, async () => {
  assert.ok(stage);
  const run = await stage.lab.run(
    stage.client.namespace,
    process.execPath,
    ['--import', 'tsx', join(SUPPORT, 'echo-client.ts'), WHOLE_DEVICE_ORIGIN_NAME, String(echoPort), String(64 * 1024), '30'],
    {
      timeoutMs: 90_000,
    },
  );
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { sent: string; received: string; bytes: number; sentBytes: number; seconds: number };
  assert.ok(result.seconds >= 30, `the connection lived ${result.seconds} s`);
  assert.ok(result.sentBytes >= 100 * 64 * 1024, `it carried ${result.sentBytes} bytes`);
  assert.equal(result.bytes, result.sentBytes);
  assert.equal(result.received, result.sent);
});

test('the volunteer killed: traffic stops instead of leaking, and comes back through a new volunteer', { skip, timeout: 200_000 }, async () => {
  assert.ok(stage?.volunteer);
  const volunteer = stage.volunteer;
  volunteer.kill('SIGKILL');
  await new Promise((resolve) => volunteer.once('exit', resolve));
  await assertCutOff('volunteer');
  await stage.startVolunteer();
  const running = stage;
  await waitFor(
    async () =>
      (await running.shell(`curl --silent --max-time 20 ${running.originUrl(SMALL)} | sha256sum`, 30_000)).stdout.startsWith(
        `${running.origins[SMALL]?.sha256} `,
      ) || undefined,
    'a fetch through the new volunteer',
    { timeoutMs: 90_000, intervalMs: 2_000 },
  );
});

test('the helper killed: the kill switch holds (nothing to the origin, no DNS in the clear), and a new helper carries again', {
  skip,
  timeout: 200_000,
}, async () => {
  assert.ok(stage && tunClient);
  const killed = tunClient;
  killed.kill('SIGKILL');
  await new Promise((resolve) => killed.once('exit', resolve));
  await assertCutOff('helper');
  await startTunClient();
  const run = await stage.shell(`curl --silent --show-error --max-time 60 ${stage.originUrl(SMALL)} | sha256sum`, 90_000);
  assert.equal(run.stdout.split(' ')[0], stage.origins[SMALL]?.sha256, run.stderr);
});

test('turning whole-device mode off leaves the namespace exactly as it was', { skip, timeout: 60_000 }, async () => {
  assert.ok(tunClient);
  await terminate(tunClient, 15_000);
  tunClient = undefined;
  assert.equal(await stage?.snapshot(), before_);
});
