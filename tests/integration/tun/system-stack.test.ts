// The helper's whole-device mode, its TCP end: the system stack (native-helper/tun/system-stack.ts) against the
// kernel's own TCP. In a lab namespace a TUN device takes the traffic for 10.99.0.0/24 (the test creates it as the
// privileged service will); plain programs with no proxy settings (curl, a Node client) connect there, the stack ends
// their TCP on the kernel's listener and hands each connection to a dialer, here one that connects straight to servers
// of the child's own (the tunnel's place; the whole path is tun-mode's test). Each transfer must arrive whole.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fetchInParallel } from '../../../harness/lab-servers.ts';
import { NatLab, natLabPrerequisites } from '../../../harness/nat-lab.ts';
import { REPO_ROOT } from '../../../harness/paths.ts';
import { collectLines, terminate } from '../../../harness/processes.ts';
import { waitFor } from '../../../harness/wait.ts';

const CHILD = join(REPO_ROOT, 'tests', 'integration', 'support', 'tun-stack-child.ts');
const ECHO_CLIENT = join(REPO_ROOT, 'tests', 'integration', 'support', 'echo-client.ts');
const TUN = 'ferry0';
const DESTINATION = '10.99.0.5';
const FILE_BYTES = 50 * 1024 * 1024;

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip;
let lab: NatLab | undefined;
let namespace = '';
let stack: ChildProcess | undefined;
let stackOut: string[] = [];
let ready: { sha256: string; bytes: number; smallSha256: string } | undefined;

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the lab cannot run: ${prerequisites.missing}`);
    lab = await NatLab.start({ hosts: ['no-nat'] });
    const host = lab.hosts[0];
    assert.ok(host);
    namespace = host.namespace;
    for (const command of [
      ['ip', 'tuntap', 'add', 'dev', TUN, 'mode', 'tun'],
      ['ip', 'addr', 'add', '198.18.0.1/30', 'dev', TUN],
      ['ip', 'link', 'set', TUN, 'up'],
      ['ip', 'route', 'add', '10.99.0.0/24', 'dev', TUN],
    ]) {
      const run = await lab.run(namespace, command[0] as string, command.slice(1), { timeoutMs: 5_000 });
      assert.equal(run.code, 0, `${command.join(' ')}: ${run.stderr}`);
    }
    stack = lab.spawn(namespace, process.execPath, ['--import', 'tsx', CHILD, TUN, '198.18.0.1', '198.18.0.2', String(FILE_BYTES)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    stackOut = collectLines(stack.stdout);
    const errors = collectLines(stack.stderr);
    const line = await waitFor(() => stackOut.find((entry) => entry.startsWith('{"ready"')), 'the system stack to start', {
      timeoutMs: 30_000,
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${errors.join('\n')}`);
    });
    ready = JSON.parse(line) as { sha256: string; bytes: number; smallSha256: string };
  },
  { timeout: 90_000 },
);

after(async () => {
  if (stack) await terminate(stack, 5_000);
  await lab?.close();
});

async function counters(): Promise<Record<string, number>> {
  assert.ok(stack);
  const before = stackOut.length;
  stack.stdin?.write('counters\n');
  const line = await waitFor(() => stackOut.slice(before).find((entry) => entry.startsWith('{"counters"')), 'the counters');
  const parsed = JSON.parse(line) as { counters: Record<string, number>; flows: number; dialed: number };
  return { ...parsed.counters, flows: parsed.flows, dialed: parsed.dialed };
}

async function shell(script: string, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assert.ok(lab);
  return lab.run(namespace, 'sh', ['-c', script], { timeoutMs });
}

test('curl, with no proxy settings, fetches 50 MiB through the TUN byte-identical', { skip, timeout: 180_000 }, async () => {
  assert.ok(ready);
  const run = await shell(`curl --silent --show-error --max-time 150 http://${DESTINATION}/file | sha256sum`, 170_000);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.split(' ')[0], ready.sha256);
});

test('50 parallel connections each fetch a file, every one whole', { skip, timeout: 180_000 }, async () => {
  assert.ok(ready && lab);
  const directory = await lab.tempDirectory();
  const sums = await fetchInParallel(lab, namespace, directory, `http://${DESTINATION}:8080/file`, 50);
  assert.deepEqual(new Set(sums), new Set([ready.smallSha256]));
});

test('a connection carries data both ways at once (8 MiB echoed back whole) and half-closes cleanly', { skip, timeout: 120_000 }, async () => {
  assert.ok(lab);
  const run = await lab.run(namespace, process.execPath, ['--import', 'tsx', ECHO_CLIENT, DESTINATION, '7', String(8 * 1024 * 1024)], { timeoutMs: 100_000 });
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { sent: string; received: string; bytes: number };
  assert.equal(result.bytes, 8 * 1024 * 1024);
  assert.equal(result.received, result.sent);
});

test('a destination the tunnel cannot open: the application sees its connection reset, and the stack counts it', { skip, timeout: 60_000 }, async () => {
  const before = await counters();
  const run = await shell(`curl --silent --max-time 30 http://${DESTINATION}:81/; echo "exit $?"`, 40_000);
  assert.match(run.stdout, /exit (7|52|56)\b/, 'curl: could not connect, empty reply or connection reset');
  assert.equal((await counters()).dialFailures, (before.dialFailures ?? 0) + 1);
});

test('UDP other than DNS, and other protocols, are dropped and counted: nothing goes around the tunnel', { skip, timeout: 60_000 }, async () => {
  assert.ok(lab);
  const before = await counters();
  const send = `const s=require('node:dgram').createSocket('udp4');s.send('x',9999,'${DESTINATION}',()=>s.close())`;
  const run = await lab.run(namespace, process.execPath, ['-e', send], { timeoutMs: 10_000 });
  assert.equal(run.code, 0, run.stderr);
  await waitFor(async () => ((await counters()).droppedUdp ?? 0) > (before.droppedUdp ?? 0) || undefined, 'the UDP datagram to be counted as dropped');
});

test("DNS to any server through the TUN is answered by the stack (here a stand-in for the exit's resolver), as a UDP reply from that server", {
  skip,
  timeout: 60_000,
}, async () => {
  assert.ok(lab);
  const before = await counters();
  const query = `const r=new (require('node:dns').promises.Resolver)();r.setServers(['10.99.0.53']);Promise.all([r.resolve4('origin.test'),r.resolve4('missing.test').catch((e)=>e.code)]).then((x)=>console.log(JSON.stringify(x)))`;
  const run = await lab.run(namespace, process.execPath, ['-e', query], { timeoutMs: 20_000 });
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), [['10.99.0.5'], 'ENOTFOUND']);
  assert.equal((await counters()).dnsAnswered, (before.dnsAnswered ?? 0) + 2);
});
