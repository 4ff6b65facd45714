// `ferry exit-list` as an operator runs it: its own process, files in a scratch directory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT } from '../../../harness/paths.ts';
import { verifyExitList } from '../../../protocol/exit-list.ts';
import { generateKeyPair, toBase64Url } from '../../../protocol/index.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ferry-exit-list-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function ferry(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'ferry.js'), 'exit-list', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const exitKey = toBase64Url(generateKeyPair().publicKey);

describe('ferry exit-list', () => {
  test('keygen, sign and verify: the list verifies against the printed key, and only that key', () => {
    const keyPath = join(scratch, 'operator.key');
    const made = ferry('keygen', '--key', keyPath);
    assert.equal(made.status, 0, made.stderr);
    const publicKey = /public key .*: ([A-Za-z0-9_-]{43})$/m.exec(made.stdout)?.[1] ?? '';
    assert.equal(statSync(keyPath).mode & 0o777, 0o600, 'the signing key is readable only by its owner');
    const again = ferry('keygen', '--key', keyPath);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /never overwritten/);

    const exitsFile = join(scratch, 'exits.json');
    writeFileSync(exitsFile, JSON.stringify([{ id: 'b', url: 'ws://192.0.2.2/v1/relay', publicKey: exitKey }]));
    const listPath = join(scratch, 'list.json');
    const signed = ferry(
      'sign',
      '--key',
      keyPath,
      '--exit',
      `a=wss://exit.example.org/v1/relay?x=1=${exitKey}`,
      '--exits-file',
      exitsFile,
      '--valid-days',
      '3',
      '--out',
      listPath,
    );
    assert.equal(signed.status, 0, signed.stderr);
    const verified = verifyExitList(JSON.parse(readFileSync(listPath, 'utf8')), [publicKey], Date.now());
    assert.deepEqual(
      verified.exits.map((exit) => [exit.id, exit.url]),
      [
        ['b', 'ws://192.0.2.2/v1/relay'],
        ['a', 'wss://exit.example.org/v1/relay?x=1'],
      ],
    );
    assert.equal(verified.expiresAt - verified.issuedAt, 3 * 24 * 60 * 60 * 1000);

    const ok = ferry('verify', '--list', listPath, '--exit-list-key', publicKey);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /signed by .*expires/);
    const otherKey = toBase64Url(new Uint8Array(32).fill(9));
    const refused = ferry('verify', '--list', listPath, '--exit-list-key', otherKey);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /not signed by the network operator's key/);
  });

  test("sign --broker-key --channel: the broker's rendezvous key and channels are signed in, in order, and verify prints them", () => {
    const keyPath = join(scratch, 'rendezvous.key');
    const publicKey = /public key .*: ([A-Za-z0-9_-]{43})$/m.exec(ferry('keygen', '--key', keyPath).stdout)?.[1] ?? '';
    const brokerKey = toBase64Url(generateKeyPair().publicKey);
    const listPath = join(scratch, 'rendezvous-list.json');
    const signed = ferry(
      'sign',
      '--key',
      keyPath,
      '--exit',
      `a=wss://exit.example.org/v1/relay=${exitKey}`,
      '--broker-key',
      brokerKey,
      '--channel',
      'direct=https://broker.example.org',
      '--channel',
      'fronted=cdn.example.net:8443=https://broker.example.org',
      '--channel',
      'cache=https://cache.example.net/c/s/broker.example.org',
      '--out',
      listPath,
    );
    assert.equal(signed.status, 0, signed.stderr);
    const verified = verifyExitList(JSON.parse(readFileSync(listPath, 'utf8')), [publicKey], Date.now());
    assert.deepEqual(verified.rendezvous, {
      brokerKey,
      channels: [
        { kind: 'direct', url: 'https://broker.example.org' },
        { kind: 'fronted', url: 'https://broker.example.org', front: 'cdn.example.net:8443' },
        { kind: 'cache', url: 'https://cache.example.net/c/s/broker.example.org' },
      ],
    });
    const shown = ferry('verify', '--list', listPath, '--exit-list-key', publicKey);
    assert.match(
      shown.stdout,
      /rendezvous key .*\n {2}direct broker\.example\.org .*\n {2}fronted via cdn\.example\.net:8443 to broker\.example\.org .*\n {2}cache cache\.example\.net/,
    );
  });

  test('mistakes are refused with what to fix', () => {
    const keyPath = join(scratch, 'second.key');
    assert.equal(ferry('keygen', '--key', keyPath).status, 0);
    for (const [args, message] of [
      [['sign', '--key', keyPath, '--exit', `a=https://exit.example.org/=${exitKey}`], /ws:\/\/ or wss:\/\//],
      [['sign', '--key', keyPath, '--exit', 'only-an-id'], /ID=URL=PUBLICKEY/],
      [['sign', '--key', keyPath], /at least one exit/],
      [['sign', '--key', keyPath, '--exit', `a=ws://x/=${exitKey}`, '--valid-days', '0'], /--valid-days/],
      [['sign', '--key', join(scratch, 'missing.key'), '--exit', `a=ws://x/=${exitKey}`], /cannot read --key/],
      [['frobnicate'], /keygen, sign or verify/],
      [['sign', '--key', keyPath, '--exit', `a=ws://x/=${exitKey}`, '--broker-key', exitKey], /go together/],
      [
        ['sign', '--key', keyPath, '--exit', `a=ws://x/=${exitKey}`, '--broker-key', exitKey, '--channel', 'pigeon=https://b.example'],
        /direct=URL, fronted=FRONT=URL or cache=URL/,
      ],
      [['sign', '--key', keyPath, '--exit', `a=ws://x/=${exitKey}`, '--broker-key', 'short', '--channel', 'direct=https://b.example'], /brokerKey/],
    ] as const) {
      const run = ferry(...args);
      assert.equal(run.status, 1, args.join(' '));
      assert.match(run.stderr, message, args.join(' '));
    }
  });
});
