// The NAT probe of browser volunteers behind real NATs: `ferry nat-probe` runs behind a symmetric NAT (its HTTP port
// forwarded, as an operator would), and volunteers behind each kind of NAT probe themselves with the same code the
// extension runs. A full-cone volunteer must come out 'unrestricted'; port-restricted and symmetric ones 'restricted',
// which is what coturn's turnutils_natdiscovery says of the same routers (nat-discovery.test.ts). Needs root and
// `ip netns` (skipped, saying so, without them).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NatLab, type NatLabHost, type NatLabKind, natLabPrerequisites } from '../../harness/nat-lab.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { collectLines } from '../../harness/processes.ts';
import { waitFor } from '../../harness/wait.ts';
import { NAT_PROBE_PATH } from '../../protocol/nat-probe.ts';

const SETUP_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 120_000;
/** Bound on one probe run: tsx start, gathering (≤ 3 s), the HTTP answer, the 6 s wait for the channel (ms). */
const PROBE_RUN_TIMEOUT_MS = 40_000;
const PROBE_PORT = 8788;
const FERRY = join(REPO_ROOT, 'bin', 'ferry.js');
const CLIENT = join(REPO_ROOT, 'tests', 'integration', 'support', 'nat-probe-client.ts');

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip === undefined ? false : `skipped: ${prerequisites.skip}`;
if (skip) process.stdout.write(`# nat-probe-lab: ${skip}\n`);

/** Host 0 runs the probe; the others are volunteers. */
const VOLUNTEER_KINDS: readonly NatLabKind[] = ['full-cone', 'port-restricted', 'symmetric'];
const EXPECTED = { 'full-cone': 'unrestricted', 'port-restricted': 'restricted', symmetric: 'restricted' } as const;

let lab: NatLab | undefined;
let probeUrl = '';

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the NAT lab cannot run: ${prerequisites.missing}`);
    lab = await NatLab.start({ hosts: ['symmetric', ...VOLUNTEER_KINDS] });
    const probeHost = lab.hosts[0];
    assert.ok(probeHost);
    await lab.forwardTcpPort(probeHost, PROBE_PORT);
    const probe = lab.spawn(probeHost.namespace, process.execPath, [
      FERRY,
      'nat-probe',
      '--host',
      probeHost.address,
      '--port',
      String(PROBE_PORT),
      '--stun',
      lab.stun.url,
    ]);
    const out = collectLines(probe.stdout);
    await waitFor(() => out.some((line) => line.includes('ready')), 'the NAT probe to listen', { timeoutMs: 20_000 });
    probeUrl = `http://${probeHost.publicAddress}:${PROBE_PORT}${NAT_PROBE_PATH}`;
  },
  { timeout: SETUP_TIMEOUT_MS },
);

after(async () => {
  await lab?.close();
});

test('behind each NAT a volunteer learns the class the probe can tell: full cone unrestricted, the others restricted', {
  skip,
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const running: NatLab | undefined = lab;
  assert.ok(running);
  for (const [index, kind] of VOLUNTEER_KINDS.entries()) {
    const host: NatLabHost | undefined = running.hosts[index + 1];
    assert.ok(host && host.kind === kind);
    const run = await running.run(host.namespace, process.execPath, ['--import', 'tsx', CLIENT, probeUrl, running.stun.url], {
      timeoutMs: PROBE_RUN_TIMEOUT_MS,
    });
    const line = run.stdout.split('\n').find((candidate) => candidate.startsWith('{'));
    assert.ok(line, `the ${kind} volunteer printed no result (code ${run.code}): ${run.stderr.slice(-600)}`);
    assert.deepEqual(JSON.parse(line), { nat: EXPECTED[kind as keyof typeof EXPECTED] }, `behind a ${kind} NAT`);
  }
});
