// `ferry pairing new` and the volunteer's pairing flags, as a person types them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../../harness/paths.ts';
import { pairingIdOf, tokenOfPairingLink } from '../../../protocol/pairing.ts';

function ferry(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'ferry.js'), ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('ferry pairing new prints a token for the volunteer and the matching link for the friend', () => {
  const result = ferry('pairing', 'new', '--broker', 'https://broker.example.org');
  assert.equal(result.status, 0, result.stderr);
  const token = /^token: (\S+)$/m.exec(result.stdout)?.[1] ?? '';
  const link = /^link: (\S+)$/m.exec(result.stdout)?.[1] ?? '';
  assert.equal(tokenOfPairingLink(link, 'https://broker.example.org'), token);
  assert.ok(pairingIdOf(token).length > 0);
});

test('bad pairing input is refused before anything runs, saying what to fix', () => {
  const noBroker = ferry('pairing', 'new');
  assert.equal(noBroker.status, 1);
  assert.match(noBroker.stderr, /--broker URL is required/);
  const badVolunteer = ferry('volunteer', '--broker', 'http://127.0.0.1:9', '--exit-list-key', 'A'.repeat(43), '--nat', 'unknown', '--pairing-token', 'short');
  assert.equal(badVolunteer.status, 1);
  assert.match(badVolunteer.stderr, /pairingTokens/);
  const badSlots = ferry('volunteer', '--broker', 'http://127.0.0.1:9', '--exit-list-key', 'A'.repeat(43), '--personal-slots', 'many');
  assert.equal(badSlots.status, 1);
  assert.match(badSlots.stderr, /--personal-slots must be a whole number/);
});
