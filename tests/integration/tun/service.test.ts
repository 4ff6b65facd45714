// Whole-device mode's privileged part: `ferry helper --tun-service` as root in a lab namespace, asked by its user's
// helper (here a client run as `nobody` with runuser). What it changes (device, rules, table, kill switch, DNS) is
// checked as the system shows it, and after `down`, after SIGTERM, and after kill -9 followed by
// `ferry helper --tun-cleanup`, the namespace's addresses, routes, rules, ruleset and resolv.conf are compared as text
// with what they were before. It refuses any other user (by the socket's owner, and by peer credentials when the
// socket is opened to all), anything outside its command set, and malformed requests.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NatLab, natLabPrerequisites } from '../../../harness/nat-lab.ts';
import { REPO_ROOT } from '../../../harness/paths.ts';
import { collectLines, terminate } from '../../../harness/processes.ts';
import { waitFor } from '../../../harness/wait.ts';
import { namespaceNetworkText } from '../../../harness/whole-device-lab.ts';

const FERRY = join(REPO_ROOT, 'bin', 'ferry.js');
const ASK = join(REPO_ROOT, 'tests', 'integration', 'support', 'tun-service-ask.ts');
const HELPER_USER = 'nobody';
const HELPER_UID = 65534;
const OTHER_USER = 'daemon';
const BROKER = '203.0.113.10';

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip;
let lab: NatLab | undefined;
let namespace = '';
let socketPath = '';
let stateDir = '';
let before_ = '';

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the lab cannot run: ${prerequisites.missing}`);
    lab = await NatLab.start({ hosts: ['no-nat'] });
    const host = lab.hosts[0];
    assert.ok(host);
    namespace = host.namespace;
    // A namespace of its own resolv.conf: the service changes this one, never the machine's.
    await lab.writeEtcFile(namespace, 'resolv.conf', 'nameserver 203.0.113.53\nsearch lab.test\n');
    const route = await lab.run(namespace, 'ip', ['route', 'add', 'default', 'via', lab.publicServiceAddress], { timeoutMs: 5_000 });
    assert.equal(route.code, 0, route.stderr);
    const directory = await lab.tempDirectory();
    // The run folder must be passable by the helper's user to reach its socket.
    const chmod = await lab.run(namespace, 'chmod', ['755', directory], { timeoutMs: 5_000 });
    assert.equal(chmod.code, 0, chmod.stderr);
    socketPath = join(directory, 'run', 'tun.sock');
    stateDir = join(directory, 'state');
    // Compared as text: wait until IPv6 has finished checking its link-local address ("tentative" goes away).
    await waitFor(async () => !(await snapshot()).includes('tentative') || undefined, 'IPv6 duplicate address detection to finish', { timeoutMs: 15_000 });
    before_ = await snapshot();
  },
  { timeout: 60_000 },
);

after(async () => {
  await lab?.close();
});

/** What the namespace's network configuration is, as text: compared whole before and after. */
function snapshot(): Promise<string> {
  assert.ok(lab);
  return namespaceNetworkText(lab, namespace);
}

async function startService(): Promise<{ child: ChildProcess; log: string[] }> {
  assert.ok(lab);
  const child = lab.spawn(
    namespace,
    process.execPath,
    [FERRY, 'helper', '--tun-service', '--allow-user', HELPER_USER, '--socket', socketPath, '--state-dir', stateDir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const out = collectLines(child.stdout);
  const log = collectLines(child.stderr);
  await waitFor(() => out.some((line) => line.includes('whole-device service listening')) || undefined, 'the service to listen', { timeoutMs: 20_000 }).catch(
    (error: unknown) => {
      throw new Error(`${String(error)}: ${log.join('\n')}`);
    },
  );
  return { child, log };
}

/** One request from `user` (runuser), answered as JSON. */
async function ask(user: string, request: unknown): Promise<Record<string, unknown>> {
  return runAs(user, [socketPath, JSON.stringify(request)]);
}

async function runAs(user: string, args: string[]): Promise<Record<string, unknown>> {
  assert.ok(lab);
  const run = await lab.run(namespace, 'runuser', ['-u', user, '--', process.execPath, '--import', 'tsx', ASK, ...args], { timeoutMs: 40_000 });
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

async function inNamespace(script: string): Promise<string> {
  assert.ok(lab);
  const run = await lab.run(namespace, 'sh', ['-c', script], { timeoutMs: 10_000 });
  return run.stdout;
}

test('up for its user: a device the user can attach to, all IPv4 into it but the bypass, a kill switch, DNS; down restores everything as it was', {
  skip,
  timeout: 120_000,
}, async () => {
  const service = await startService();
  try {
    const up = await ask(HELPER_USER, { op: 'up', bypass: [BROKER] });
    assert.equal(up.ok, true, JSON.stringify(up));
    assert.deepEqual((up.state as { bypass: string[] }).bypass, [BROKER]);
    assert.match(
      await inNamespace('ip -d link show ferry0'),
      new RegExp(`tun type tun pi off .*persist on user ${HELPER_USER}`),
      'a persistent device owned by the user',
    );
    assert.match(await inNamespace('ip -o addr show dev ferry0'), /inet 198\.18\.0\.1\/29/);
    const rules = await inNamespace('ip rule show');
    assert.match(rules, new RegExp(`29990:\\s+from all to ${BROKER.replaceAll('.', '\\.')} lookup main`));
    assert.match(rules, /30000:\s+from all lookup 1789/);
    assert.match(await inNamespace('ip route show table 1789'), /default dev ferry0/);
    assert.match(await inNamespace(`ip route get 203.0.113.99`), /dev ferry0/, 'any other address goes into the device');
    assert.match(await inNamespace(`ip route get ${BROKER}`), /dev eth0/, 'the bypass keeps its own route');
    assert.match(await inNamespace('nft list table inet ferry_tun'), /policy drop;[\s\S]*oifname "ferry0" accept/);
    assert.equal(await inNamespace('grep -v "^#" /etc/resolv.conf'), 'nameserver 198.18.0.3\n');
    // The unprivileged helper can attach to the device it was given.
    assert.deepEqual(await runAs(HELPER_USER, ['attach', 'ferry0']), { attached: 'ferry0' });
    assert.match(String((await runAs(OTHER_USER, ['attach', 'ferry0'])).unavailable), /cannot attach to TUN device ferry0: Operation not permitted/);

    const moved = await ask(HELPER_USER, { op: 'bypass', add: ['203.0.113.20'], remove: [BROKER] });
    assert.deepEqual((moved.state as { bypass: string[] }).bypass, ['203.0.113.20']);
    assert.match(await inNamespace('ip route get 203.0.113.20'), /dev eth0/);
    assert.match(await inNamespace(`ip route get ${BROKER}`), /dev ferry0/);
    assert.match(await inNamespace('nft list set inet ferry_tun bypass'), /elements = \{ 203\.0\.113\.20 \}/);

    const down = await ask(HELPER_USER, { op: 'down' });
    assert.equal(down.ok, true);
    assert.equal(await snapshot(), before_);
  } finally {
    await terminate(service.child, 10_000);
  }
  assert.equal(await snapshot(), before_);
});

test("it refuses other users (the socket is its user's; and by peer credentials when the socket is opened to all), other ops and malformed requests", {
  skip,
  timeout: 120_000,
}, async () => {
  const service = await startService();
  try {
    assert.match(String((await ask(OTHER_USER, { op: 'status' })).unavailable), /belongs to another user/);
    const chmod = await inNamespace(`chmod 666 ${socketPath} && echo ok`);
    assert.equal(chmod.trim(), 'ok');
    assert.deepEqual(await ask(OTHER_USER, { op: 'up', bypass: [] }), { ok: false, code: 'FORBIDDEN', message: `this service serves uid ${HELPER_UID} only` });
    assert.equal((await ask('root', { op: 'status' })).code, 'FORBIDDEN', 'root is not its user either');
    assert.match(service.log.join('\n'), /refused a connection from uid 1 /);

    assert.equal((await ask(HELPER_USER, { op: 'exec', command: 'sh' })).code, 'UNKNOWN_OP');
    assert.equal((await ask(HELPER_USER, { op: 'up', bypass: ['1.2.3.4; reboot'] })).code, 'BAD_REQUEST');
    assert.equal((await ask(HELPER_USER, { op: 'up', bypass: ['1.2.3.400'] })).code, 'BAD_REQUEST');
    assert.equal((await ask(HELPER_USER, { op: 'up', bypass: [], device: 'eth0' })).code, 'BAD_REQUEST');
    assert.equal((await ask(HELPER_USER, { op: 'bypass', add: ['203.0.113.20'] })).code, 'NOT_UP');
    assert.equal((await runAs(HELPER_USER, ['raw', socketPath, 'not json'])).code, 'BAD_REQUEST');
    assert.equal(await snapshot(), before_, 'none of it changed anything');
  } finally {
    await terminate(service.child, 10_000);
  }
});

test('SIGTERM while up restores everything; after kill -9, ferry helper --tun-cleanup does (twice is harmless)', { skip, timeout: 120_000 }, async () => {
  assert.ok(lab);
  const first = await startService();
  assert.equal((await ask(HELPER_USER, { op: 'up', bypass: [BROKER] })).ok, true);
  await terminate(first.child, 10_000);
  assert.equal(await snapshot(), before_, 'after SIGTERM');

  const second = await startService();
  assert.equal((await ask(HELPER_USER, { op: 'up', bypass: [BROKER] })).ok, true);
  second.child.kill('SIGKILL');
  await new Promise((resolve) => second.child.once('exit', resolve));
  assert.notEqual(await snapshot(), before_, 'a killed service leaves its changes');
  for (let run = 0; run < 2; run++) {
    const cleaned: { code: number | null; stdout: string; stderr: string } = await lab.run(
      namespace,
      process.execPath,
      [FERRY, 'helper', '--tun-cleanup', '--state-dir', stateDir],
      { timeoutMs: 30_000 },
    );
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.match(cleaned.stdout, /cleaned up/);
  }
  assert.equal(await snapshot(), before_, 'after kill -9 and the cleanup');
});
