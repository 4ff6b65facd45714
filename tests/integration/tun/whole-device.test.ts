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
import { NatLab, type NatLabHost, natLabPrerequisites } from '../../../harness/nat-lab.ts';
import { LocalOperator } from '../../../harness/operator.ts';
import { readPcap } from '../../../harness/packet-capture.ts';
import { REPO_ROOT } from '../../../harness/paths.ts';
import { collectLines, terminate } from '../../../harness/processes.ts';
import { waitFor } from '../../../harness/wait.ts';
import { FERRY, fetchInParallel, startCapture, startLabServers, waitForBrokerPools } from '../support/lab-servers.ts';

const SUPPORT = join(REPO_ROOT, 'tests', 'integration', 'support');
const BROKER_PORT = 8787;
const EXIT_PORT = 8788;
const FILE_BYTES = 50 * 1024 * 1024;

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip;
let lab: NatLab | undefined;
let client: NatLabHost;
let volunteerHost: NatLabHost;
let originHost: NatLabHost;
let brokerUrl = '';
let operatorKey = '';
let big = { port: 0, sha256: '' };
let small = { port: 0, sha256: '' };
let echoPort = 0;
let volunteer: ChildProcess | undefined;
let service: ChildProcess | undefined;
let tunClient: ChildProcess | undefined;
let tunClientOut: string[] = [];
let tunClientErr: string[] = [];
let before_ = '';
let directory = '';
let exitJson = '';
let socketPath = '';

async function startOrigin(bytes: number): Promise<{ port: number; sha256: string }> {
  assert.ok(lab);
  const child = lab.spawn(originHost.namespace, process.execPath, ['--import', 'tsx', join(SUPPORT, 'origin-process.ts'), String(bytes), '0.0.0.0']);
  const out = collectLines(child.stdout);
  return await waitFor(
    () => out.map((line) => (line.startsWith('{') ? (JSON.parse(line) as { port: number; sha256: string }) : undefined)).find(Boolean),
    'the origin',
    {
      timeoutMs: 20_000,
    },
  );
}

async function startVolunteer(): Promise<ChildProcess> {
  assert.ok(lab);
  const child = lab.spawn(volunteerHost.namespace, process.execPath, [
    FERRY,
    'volunteer',
    '--engine',
    'node-datachannel',
    '--broker',
    brokerUrl,
    '--exit-list-key',
    operatorKey,
  ]);
  await waitForBrokerPools(lab, brokerUrl, /ferry_broker_volunteers\{kind="headless",nat="unknown"\} 1/, 'the volunteer to wait at the broker');
  return child;
}

/** The helper with whole-device mode in the client namespace; resolves once it carries. */
async function startTunClient(): Promise<void> {
  assert.ok(lab);
  tunClient = lab.spawn(
    client.namespace,
    process.execPath,
    ['--import', 'tsx', join(SUPPORT, 'tun-client.ts'), exitJson, brokerUrl, lab.publicServiceAddress, socketPath, '1'],
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

/** The client namespace's network configuration as text. */
async function snapshot(): Promise<string> {
  assert.ok(lab);
  const run = await lab.run(
    client.namespace,
    'sh',
    ['-c', 'ip -o addr show; echo; ip -o link show; echo; ip route show table all; echo; ip rule show; echo; nft list ruleset; echo; cat /etc/resolv.conf'],
    { timeoutMs: 10_000 },
  );
  return run.stdout;
}

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the lab cannot run: ${prerequisites.missing}`);
    lab = await NatLab.start({ hosts: ['no-nat', 'no-nat', 'no-nat'] });
    [client, volunteerHost, originHost] = lab.hosts as [NatLabHost, NatLabHost, NatLabHost];
    for (const host of lab.hosts) {
      const route = await lab.run(host.namespace, 'ip', ['route', 'add', 'default', 'via', lab.publicServiceAddress], { timeoutMs: 5_000 });
      assert.equal(route.code, 0, route.stderr);
    }
    // The origin's name is known to the exit's resolver only; the client's resolver is one that does not exist, so a
    // query that leaked to it would show in the capture.
    await lab.writeEtcFile(lab.publicNamespace, 'hosts', `127.0.0.1 localhost\n${originHost.address} origin.test\n`);
    await lab.writeEtcFile(client.namespace, 'resolv.conf', 'nameserver 203.0.113.53\n');
    big = await startOrigin(FILE_BYTES);
    small = await startOrigin(1024 * 1024);
    const echo = lab.spawn(originHost.namespace, process.execPath, ['--import', 'tsx', join(SUPPORT, 'echo-server.ts'), '0.0.0.0']);
    const echoOut = collectLines(echo.stdout);
    echoPort = (
      await waitFor(() => echoOut.map((line) => (line.startsWith('{') ? (JSON.parse(line) as { port: number }) : undefined)).find(Boolean), 'the echo server', {
        timeoutMs: 20_000,
      })
    ).port;
    const operator = new LocalOperator();
    operatorKey = operator.exitListKey;
    const servers = await startLabServers(lab, { operator, exitPort: EXIT_PORT, brokerPort: BROKER_PORT, exitFlags: ['--allow-range', '203.0.113.0/24'] });
    brokerUrl = servers.brokerUrl;
    exitJson = JSON.stringify(servers.exit);
    volunteer = await startVolunteer();
    directory = await lab.tempDirectory();
    const socket = join(directory, 'run', 'tun.sock');
    service = lab.spawn(client.namespace, process.execPath, [
      FERRY,
      'helper',
      '--tun-service',
      '--allow-user',
      'root',
      '--socket',
      socket,
      '--state-dir',
      join(directory, 'state'),
    ]);
    const serviceOut = collectLines(service.stdout);
    await waitFor(() => serviceOut.some((line) => line.includes('listening')) || undefined, 'the service', { timeoutMs: 20_000 });
    await waitFor(async () => !(await snapshot()).includes('tentative') || undefined, 'IPv6 duplicate address detection to finish', { timeoutMs: 15_000 });
    before_ = await snapshot();
    socketPath = socket;
    await startTunClient();
  },
  { timeout: 180_000 },
);

after(async () => {
  if (tunClient) await terminate(tunClient, 15_000);
  if (service) await terminate(service, 10_000);
  if (volunteer) await terminate(volunteer, 5_000);
  await lab?.close();
});

/** What left the client's own interface while `work` ran: the IPv4 destinations, and whether any was DNS. */
async function captured(work: () => Promise<void>): Promise<{ destinations: Set<string>; dns: number }> {
  assert.ok(lab);
  const file = join(directory, `client-${Date.now()}.pcap`);
  const capture = await startCapture(lab, client.namespace, file);
  try {
    await work();
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    await terminate(capture, 5_000);
  }
  const packets = readPcap(file).filter((packet) => packet.source === client.address);
  return {
    destinations: new Set(packets.map((packet) => packet.destination)),
    dns: packets.filter((packet) => packet.destinationPort === 53).length,
  };
}

async function shell(script: string, timeoutMs = 170_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assert.ok(lab);
  return lab.run(client.namespace, 'sh', ['-c', script], { timeoutMs });
}

test("curl, with no proxy settings, fetches 50 MiB from the origin by name; only the tunnel's transport leaves the interface", {
  skip,
  timeout: 200_000,
}, async () => {
  assert.ok(lab);
  let run: { code: number | null; stdout: string; stderr: string } | undefined;
  const seen = await captured(async () => {
    run = await shell(`curl --silent --show-error --max-time 150 http://origin.test:${big.port}/file | sha256sum`);
  });
  assert.ok(run);
  assert.equal(run.code, 0, `${run.stderr} ${tunClientErr.join('\n').slice(-2000)}`);
  assert.equal(run.stdout.split(' ')[0], big.sha256);
  assert.equal(seen.dns, 0, 'no DNS query left the interface in the clear');
  assert.equal(seen.destinations.has(originHost.address), false, 'no packet went to the origin');
  assert.deepEqual(
    [...seen.destinations].filter((address) => address !== volunteerHost.address && address !== lab?.publicServiceAddress),
    [],
    'only the volunteer and the broker',
  );
  assert.ok(seen.destinations.has(volunteerHost.address), 'the bytes went by the volunteer');
});

test('50 parallel connections each fetch a file through the device, every one whole', { skip, timeout: 200_000 }, async () => {
  assert.ok(lab);
  const sums = await fetchInParallel(lab, client.namespace, directory, `http://origin.test:${small.port}/file`, 50);
  assert.deepEqual(new Set(sums), new Set([small.sha256]));
});

test('a long-lived connection carries data both ways for 30 s, every byte echoed back in order', { skip, timeout: 120_000 }, async () => {
  assert.ok(lab);
  const run = await lab.run(
    client.namespace,
    process.execPath,
    ['--import', 'tsx', join(SUPPORT, 'echo-client.ts'), 'origin.test', String(echoPort), String(64 * 1024), '30'],
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
  assert.ok(lab && volunteer);
  volunteer.kill('SIGKILL');
  await new Promise((resolve) => volunteer?.once('exit', resolve));
  let failed: { code: number | null; stdout: string; stderr: string } | undefined;
  const seen = await captured(async () => {
    failed = await shell(`curl --silent --max-time 8 http://origin.test:${small.port}/file -o /dev/null; echo "exit $?"`, 30_000);
  });
  assert.ok(failed);
  assert.doesNotMatch(failed.stdout, /exit 0\b/, 'with no volunteer the fetch cannot succeed');
  assert.equal(seen.dns, 0, 'no DNS in the clear meanwhile');
  assert.equal(seen.destinations.has(originHost.address), false, 'nothing went to the origin directly');
  volunteer = await startVolunteer();
  await waitFor(
    async () =>
      (await shell(`curl --silent --max-time 20 http://origin.test:${small.port}/file | sha256sum`, 30_000)).stdout.startsWith(small.sha256) || undefined,
    'a fetch through the new volunteer',
    { timeoutMs: 90_000, intervalMs: 2_000 },
  );
});

test('the helper killed: the kill switch holds (nothing to the origin, no DNS in the clear), and a new helper carries again', {
  skip,
  timeout: 200_000,
}, async () => {
  assert.ok(tunClient);
  const killed = tunClient;
  killed.kill('SIGKILL');
  await new Promise((resolve) => killed.once('exit', resolve));
  let failed: { code: number | null; stdout: string; stderr: string } | undefined;
  const seen = await captured(async () => {
    failed = await shell(`curl --silent --max-time 8 http://origin.test:${small.port}/file -o /dev/null; echo "exit $?"`, 30_000);
  });
  assert.ok(failed);
  assert.doesNotMatch(failed.stdout, /exit 0\b/, 'with no helper the fetch cannot succeed');
  assert.equal(seen.dns, 0, 'no DNS in the clear meanwhile');
  assert.equal(seen.destinations.has(originHost.address), false, 'nothing went to the origin directly');
  await startTunClient();
  const run = await shell(`curl --silent --show-error --max-time 60 http://origin.test:${small.port}/file | sha256sum`, 90_000);
  assert.equal(run.stdout.split(' ')[0], small.sha256, run.stderr);
});

test('turning whole-device mode off leaves the namespace exactly as it was', { skip, timeout: 60_000 }, async () => {
  assert.ok(tunClient);
  await terminate(tunClient, 15_000);
  tunClient = undefined;
  assert.equal(await snapshot(), before_);
});
