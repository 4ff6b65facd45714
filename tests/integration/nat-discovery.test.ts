// NAT classes measured behind real NATs: in the namespace lab (harness/nat-lab.ts: nftables routers, coturn on two
// addresses) our RFC 5780 discovery (protocol/adapters/nat-discovery.ts) runs inside each host's namespace, and so
// does coturn's own turnutils_natdiscovery; both must report the same mapping and filtering behaviour, and the class
// must be the one the router was built as. Needs root and `ip netns` (skipped, saying so, without them); a missing
// nft or coturn is a failure (scripts/setup.js installs them).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NatLab, type NatLabKind, natLabPrerequisites } from '../../harness/nat-lab.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { collectLines, terminate } from '../../harness/processes.ts';
import { waitFor, withTimeout } from '../../harness/wait.ts';
import type { NatDiscoveryResult, NatFiltering, NatMapping } from '../../protocol/adapters/nat-discovery.ts';
import { generateKeyPair, toBase64Url } from '../../protocol/index.ts';
import { type NativeReady, parseNativeToExtension } from '../../protocol/local-channel.ts';
import type { NatClass } from '../../protocol/signaling.ts';

/** Bound on one run of our discovery in a namespace, tsx start-up included (ms); discovery itself is bounded by 3 s. */
const PROBE_TIMEOUT_MS = 20_000;
/** Bound on one turnutils_natdiscovery run (ms): about 6 s when the NAT drops the filtering tests' answers. */
const TURNUTILS_TIMEOUT_MS = 30_000;
/** Bound on one test, a backstop behind each step's own bound (ms). */
const TEST_TIMEOUT_MS = 90_000;
/** Bound on building the lab and starting coturn (ms). */
const LAB_START_TIMEOUT_MS = 60_000;
/** Bound on a volunteer's or helper's start, its NAT measurement (3 s) included (ms). */
const PROGRAM_START_TIMEOUT_MS = 30_000;
const PROBE = join(REPO_ROOT, 'tests', 'integration', 'support', 'nat-probe.ts');
const HELLO_CATCHER = join(REPO_ROOT, 'tests', 'integration', 'support', 'hello-catcher.ts');
const FERRY = join(REPO_ROOT, 'bin', 'ferry.js');
/** Where the stand-in broker listens, on the lab's public segment. */
const BROKER_PORT = 8787;

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip === undefined ? false : `skipped: ${prerequisites.skip}`;
if (skip) process.stdout.write(`# nat-discovery: ${skip}\n`);

let lab: NatLab | undefined;

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the NAT lab cannot run: ${prerequisites.missing}`);
    lab = await NatLab.start({ log: (line) => process.stdout.write(`# ${line}\n`) });
  },
  { timeout: LAB_START_TIMEOUT_MS },
);

after(async () => {
  await lab?.close();
});

function requireLab(): NatLab {
  assert.ok(lab, 'the lab started');
  return lab;
}

const BEHAVIOUR_WORDS: Record<string, Exclude<NatMapping, 'no-nat'>> = {
  'Endpoint Independent': 'endpoint-independent',
  'Address Dependent': 'address-dependent',
  'Address and Port Dependent': 'address-and-port-dependent',
};

/** Mapping and filtering behaviour from turnutils_natdiscovery -m -f output ("NAT with Endpoint Independent Mapping!"). */
function parseTurnutils(output: string): { mapping: NatMapping; filtering: NatFiltering } {
  const noNat = /No NAT! \(Endpoint Independent Mapping\)/.test(output);
  const mapping = /NAT with (Endpoint Independent|Address Dependent|Address and Port Dependent) Mapping!/.exec(output)?.[1];
  const filtering = /NAT with (Endpoint Independent|Address Dependent|Address and Port Dependent) Filtering!/.exec(output)?.[1];
  assert.ok(noNat || mapping !== undefined, `turnutils_natdiscovery reported no mapping behaviour:\n${output}`);
  assert.ok(filtering !== undefined, `turnutils_natdiscovery reported no filtering behaviour:\n${output}`);
  return { mapping: noNat ? 'no-nat' : BEHAVIOUR_WORDS[mapping!]!, filtering: BEHAVIOUR_WORDS[filtering]! };
}

const EXPECTED: Record<NatLabKind, { natClass: NatClass; mapping: NatMapping[]; filtering: NatFiltering }> = {
  'no-nat': { natClass: 'full-cone', mapping: ['no-nat'], filtering: 'endpoint-independent' },
  'full-cone': { natClass: 'full-cone', mapping: ['endpoint-independent'], filtering: 'endpoint-independent' },
  'port-restricted': { natClass: 'port-restricted', mapping: ['endpoint-independent'], filtering: 'address-and-port-dependent' },
  // A random port per destination: the port differs even when only the server's port does.
  symmetric: { natClass: 'symmetric', mapping: ['address-and-port-dependent'], filtering: 'address-and-port-dependent' },
};

for (const kind of ['no-nat', 'full-cone', 'port-restricted', 'symmetric'] as const) {
  const where = kind === 'no-nat' ? 'on the public segment without NAT' : `behind a ${kind} router`;
  test(`${where} our RFC 5780 discovery and coturn's turnutils_natdiscovery agree, and the class is ${EXPECTED[kind].natClass}`, {
    skip,
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const lab = requireLab();
    const host = lab.host(kind);
    const { host: stunHost, port: stunPort } = lab.stun.primary;

    const ours = await lab.run(host.namespace, process.execPath, ['--import', 'tsx', PROBE, stunHost, String(stunPort)], { timeoutMs: PROBE_TIMEOUT_MS });
    assert.equal(ours.code, 0, `our discovery failed in ${host.namespace}: ${ours.stdout}${ours.stderr}`);
    const result = JSON.parse(ours.stdout) as NatDiscoveryResult;

    const theirs = await lab.run(host.namespace, 'turnutils_natdiscovery', ['-m', '-f', stunHost], { timeoutMs: TURNUTILS_TIMEOUT_MS });
    assert.equal(theirs.code, 0, `turnutils_natdiscovery failed in ${host.namespace}: ${theirs.stdout}${theirs.stderr}`);
    const reference = parseTurnutils(theirs.stdout);

    // turnutils says "Endpoint Independent Mapping" for a host without NAT too (it compares with a wildcard address).
    const ourMapping = result.mapping === 'no-nat' && reference.mapping === 'endpoint-independent' ? 'endpoint-independent' : result.mapping;
    assert.deepEqual({ mapping: ourMapping, filtering: result.filtering }, reference, 'we agree with turnutils_natdiscovery');
    assert.ok(EXPECTED[kind].mapping.includes(result.mapping), `mapping ${result.mapping}`);
    assert.equal(result.filtering, EXPECTED[kind].filtering);
    assert.equal(result.natClass, EXPECTED[kind].natClass);
    assert.equal(result.mappedAddress.split(':')[0], host.publicAddress, 'the server saw the router (or the host itself)');
    assert.equal(result.server, `${stunHost}:${stunPort}`);
    assert.equal(result.otherAddress, `${lab.stun.other.host}:${lab.stun.other.port}`);
  });
}

test('behind a NAT, a STUN server that is not there fails as NAT_SERVER_UNREACHABLE within its bound', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const lab = requireLab();
  // An address on the public segment that nobody holds (the lab's own range).
  const started = Date.now();
  const run = await lab.run(lab.host('port-restricted').namespace, process.execPath, ['--import', 'tsx', PROBE, '203.0.113.99', '3478'], {
    timeoutMs: PROBE_TIMEOUT_MS,
  });
  assert.equal(run.code, 1, run.stderr);
  const { error } = JSON.parse(run.stdout) as { error: { code: string; message: string } };
  assert.equal(error.code, 'NAT_SERVER_UNREACHABLE', error.message);
  assert.match(error.message, /203\.0\.113\.99:3478 did not answer/);
  assert.ok(Date.now() - started < PROBE_TIMEOUT_MS / 2, 'bounded');
});

test('ferry volunteer --stun measures its class behind a port-restricted NAT and announces it in hello.nat; --nat skips the measurement', {
  skip,
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const lab = requireLab();
  const catcher = lab.spawn(lab.publicNamespace, process.execPath, ['--import', 'tsx', HELLO_CATCHER, lab.publicServiceAddress, String(BROKER_PORT)]);
  const caught = collectLines(catcher.stdout);
  const hellos = () => caught.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { type: string; nat?: string });
  const volunteerArgs = [
    'volunteer',
    '--engine',
    'node-datachannel',
    '--broker',
    `http://${lab.publicServiceAddress}:${BROKER_PORT}`,
    '--exit-list-key',
    new LocalOperator().exitListKey,
  ];
  const wait = { timeoutMs: PROGRAM_START_TIMEOUT_MS, intervalMs: 50 };
  try {
    await waitFor(() => caught.includes('listening'), 'the stand-in broker to listen', wait);

    const measured = lab.spawn(lab.host('port-restricted').namespace, process.execPath, [FERRY, ...volunteerArgs, '--stun', lab.stun.url]);
    const measuredLog = collectLines(measured.stderr);
    const hello = await waitFor(() => hellos()[0], 'the hello of the measuring volunteer', wait).catch((error: unknown) => {
      throw new Error(`${String(error)}; the volunteer's log: ${measuredLog.join(' | ')}; the broker's: ${caught.join(' | ')}`);
    });
    assert.equal(hello.type, 'hello');
    assert.equal(hello.nat, 'port-restricted', measuredLog.join('\n'));
    assert.match(
      measuredLog.join('\n'),
      /NAT class port-restricted \(endpoint-independent mapping, address-and-port-dependent filtering; measured against stun:203\.0\.113\.1:3478 in \d+ ms\)/,
    );
    await terminate(measured);

    const byHand = lab.spawn(lab.host('symmetric').namespace, process.execPath, [FERRY, ...volunteerArgs, '--stun', lab.stun.url, '--nat', 'restricted']);
    const byHandLog = collectLines(byHand.stderr);
    const handHello = await waitFor(() => hellos()[1], 'the hello of the volunteer given --nat', wait);
    assert.equal(handHello.nat, 'restricted');
    assert.ok(!byHandLog.some((line) => line.includes('NAT class')), 'no measurement with --nat');
    await terminate(byHand);
  } finally {
    await terminate(catcher);
  }
});

test('ferry helper --native --stun measures its class behind a symmetric NAT and reports it in ready.nat', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const lab = requireLab();
  const operator = new LocalOperator();
  const exit = { id: 'lab-exit', url: `ws://${lab.publicServiceAddress}:9/v1/relay`, publicKey: toBase64Url(generateKeyPair().publicKey) };
  const helper = lab.spawn(
    lab.host('symmetric').namespace,
    process.execPath,
    [FERRY, 'helper', '--native', '--exit-list-key', operator.exitListKey, '--stun', lab.stun.url],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  helper.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    // Native messaging: a 32-bit little-endian length, then JSON, both ways.
    const body = Buffer.from(JSON.stringify({ type: 'start', exitList: operator.signExitList([exit]), exitId: exit.id }));
    const header = Buffer.alloc(4);
    header.writeUInt32LE(body.length);
    helper.stdin?.write(Buffer.concat([header, body]));
    const ready = await withTimeout(
      new Promise<NativeReady>((resolve, reject) => {
        let buffered = Buffer.alloc(0);
        helper.stdout?.on('data', (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk]);
          while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32LE(0)) {
            const message = parseNativeToExtension(JSON.parse(buffered.subarray(4, 4 + buffered.readUInt32LE(0)).toString('utf8')));
            buffered = buffered.subarray(4 + buffered.readUInt32LE(0));
            if (message.type === 'ready') resolve(message);
            else if (message.type === 'error') reject(new Error(`the helper refused to start: ${message.code} ${message.message}`));
          }
        });
      }),
      'the helper to report ready',
      PROGRAM_START_TIMEOUT_MS,
    );
    assert.equal(ready.nat, 'symmetric', stderr);
    assert.match(stderr, /NAT class symmetric \(address-and-port-dependent mapping/);
  } finally {
    helper.stdin?.end();
    await terminate(helper);
  }
});

test('close() ends the lab processes and deletes every namespace it made', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const lab = requireLab();
  const sleeper = lab.spawn(lab.host('symmetric').namespace, 'sleep', ['600']);
  const pid = sleeper.pid;
  assert.ok(pid !== undefined);
  const namespaces = [lab.publicNamespace, ...lab.hosts.flatMap((host) => [host.namespace, ...(host.routerNamespace ? [host.routerNamespace] : [])])];
  await lab.close();
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const namespace of namespaces) assert.ok(!left.includes(namespace), `${namespace} is gone`);
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the process started in the lab is gone');
});
