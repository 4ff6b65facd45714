// Matching by measured NAT class, behind real NATs: in the namespace lab (harness/nat-lab.ts) a real broker runs on
// the public segment, three `ferry volunteer`s measure their class behind a full-cone, a port-restricted and a
// symmetric NAT, and clients behind each kind measure theirs and ask the broker for a volunteer. Every match the
// broker makes must connect, and every client that has a volunteer it can reach must get one; a client that has
// none gets NO_VOLUNTEERS instead of a match that could never connect. Needs root and `ip netns` (skipped, saying so,
// without them).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startLabServers } from '../../harness/lab-servers.ts';
import { NatLab, type NatLabKind, natLabPrerequisites } from '../../harness/nat-lab.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { collectLines, terminate } from '../../harness/processes.ts';
import { waitFor } from '../../harness/wait.ts';

/** Bound on building the lab, starting coturn, the broker and three volunteers (ms). */
const SETUP_TIMEOUT_MS = 90_000;
/** Bound on the whole matching test (ms). */
const TEST_TIMEOUT_MS = 240_000;
/** Bound on one client run: tsx start, RFC 5780 (≤ 3 s), gathering, the broker's wait, ICE (≤ 15 s) (ms). */
const CLIENT_TIMEOUT_MS = 60_000;
const FERRY = join(REPO_ROOT, 'bin', 'ferry.js');
const CLIENT = join(REPO_ROOT, 'tests', 'integration', 'support', 'nat-client.ts');
const BROKER_PORT = 8787;
const EXIT_PORT = 8788;
const ROUNDS = 3;

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip === undefined ? false : `skipped: ${prerequisites.skip}`;
if (skip) process.stdout.write(`# nat-matching: ${skip}\n`);

/** Volunteers behind hosts 0..2, clients behind hosts 3..5, one of each kind each. */
const VOLUNTEER_KINDS: readonly NatLabKind[] = ['full-cone', 'port-restricted', 'symmetric'];
const CLIENT_KINDS: readonly NatLabKind[] = ['full-cone', 'port-restricted', 'symmetric'];

let lab: NatLab | undefined;
const volunteers = new Map<NatLabKind, ReturnType<NatLab['spawn']>>();
/** What each volunteer printed, for the message of a failed connection. */
const volunteerOutput = new Map<NatLabKind, string[][]>();

function volunteerLog(): string {
  return [...volunteerOutput].map(([kind, streams]) => `${kind} volunteer:\n${streams.flat().slice(-15).join('\n')}`).join('\n');
}

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the NAT lab cannot run: ${prerequisites.missing}`);
    lab = await NatLab.start({ hosts: [...VOLUNTEER_KINDS, ...CLIENT_KINDS] });
    const operator = new LocalOperator();
    // A real exit on the public segment: a volunteer whose exit refuses closes its pair at once, which can beat the
    // data channel's open on a loaded machine (seen in CI). The stand-in clients never send it a hello; it holds each
    // socket for its handshake timeout, long after the data channel has opened.
    const { brokerUrl } = await startLabServers(lab, { operator, exitPort: EXIT_PORT, brokerPort: BROKER_PORT, brokerFlags: ['--stun', lab.stun.url] });
    for (const [index, kind] of VOLUNTEER_KINDS.entries()) {
      const host = lab.hosts[index];
      assert.ok(host && host.kind === kind);
      const volunteer = lab.spawn(host.namespace, process.execPath, [
        FERRY,
        'volunteer',
        '--engine',
        'node-datachannel',
        '--broker',
        brokerUrl,
        '--exit-list-key',
        operator.exitListKey,
        '--stun',
        lab.stun.url,
        '--max-clients',
        '8',
      ]);
      volunteers.set(kind, volunteer);
      volunteerOutput.set(kind, [collectLines(volunteer.stdout), collectLines(volunteer.stderr)]);
    }
    // The broker counts each volunteer in its pool once it has said hello with its measured class.
    await waitFor(
      async () => {
        const metrics = await lab?.run(lab.publicNamespace, 'curl', ['-s', `${brokerUrl}/metrics`], { timeoutMs: 5_000 });
        const text = metrics?.stdout ?? '';
        return ['full-cone', 'port-restricted', 'symmetric'].every((nat) =>
          new RegExp(`ferry_broker_volunteers\\{kind="headless",nat="${nat}"\\} 1`).test(text),
        );
      },
      'the three volunteers to be in their measured pools',
      { timeoutMs: 45_000, intervalMs: 500 },
    );
  },
  { timeout: SETUP_TIMEOUT_MS },
);

after(async () => {
  await lab?.close();
});

interface ClientResult {
  status: number;
  code?: string;
  nat: string;
  connected: boolean;
  /** The stand-in client's own WebRTC stack failed before it tried the volunteer (support/nat-client.ts). */
  localError?: string;
}

/**
 * Runs a client; runs it once more if the stand-in's own WebRTC stack failed before trying its volunteer, which
 * tells nothing of the match. A second local failure, or any failure to connect, is the test's to report.
 */
async function runClient(clientKind: NatLabKind): Promise<ClientResult> {
  const first = await runClientOnce(clientKind);
  if (first.localError === undefined) return first;
  process.stdout.write(`# nat-matching: the ${clientKind} client's own WebRTC failed (${first.localError}); running it again\n`);
  const second = await runClientOnce(clientKind);
  assert.equal(second.localError, undefined, `the ${clientKind} client's own WebRTC failed twice: ${JSON.stringify([first, second])}`);
  return second;
}

async function runClientOnce(clientKind: NatLabKind): Promise<ClientResult> {
  assert.ok(lab);
  const host = lab.hosts[VOLUNTEER_KINDS.length + CLIENT_KINDS.indexOf(clientKind)];
  assert.ok(host && host.kind === clientKind);
  const result = await lab.run(
    host.namespace,
    process.execPath,
    ['--import', 'tsx', CLIENT, `http://${lab.publicServiceAddress}:${BROKER_PORT}`, lab.stun.url],
    {
      timeoutMs: CLIENT_TIMEOUT_MS,
    },
  );
  const line = result.stdout.split('\n').find((candidate) => candidate.startsWith('{'));
  assert.ok(line, `the ${clientKind} client printed no result (code ${result.code}): ${result.stderr.slice(-800)}`);
  return JSON.parse(line) as ClientResult;
}

test('every match the broker makes connects, and every client with a reachable volunteer is matched', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const kind of CLIENT_KINDS) {
      const result = await runClient(kind);
      assert.equal(result.nat, kind, 'the client measured its own NAT');
      assert.equal(result.status, 200, `round ${round}: the ${kind} client has a volunteer it can reach, so it must be matched (${result.code})`);
      assert.equal(
        result.connected,
        true,
        `round ${round}: the ${kind} client was matched, so the data channel must open: ${JSON.stringify(result)}\n${volunteerLog()}`,
      );
    }
  }
});

test('a symmetric client whose only reachable volunteer is gone gets NO_VOLUNTEERS, never an impossible match', {
  skip,
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const fullCone = volunteers.get('full-cone');
  assert.ok(fullCone);
  await terminate(fullCone);
  const result = await runClient('symmetric');
  assert.equal(result.status, 503);
  assert.equal(result.code, 'NO_VOLUNTEERS');
  // The others still serve the clients that can reach them.
  const portRestricted = await runClient('port-restricted');
  assert.deepEqual([portRestricted.status, portRestricted.connected], [200, true]);
});
