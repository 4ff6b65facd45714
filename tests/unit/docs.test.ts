// The docs stay true to the code: every error code a peer or an operator can meet is listed in
// docs/wire-protocol.md, the docs stand on their own (no pointers outside the repository), and their links resolve.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const wireProtocol = read('docs/wire-protocol.md');

function sources(folder: string): string[] {
  return readdirSync(join(root, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name))
    .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8'));
}

function codes(texts: string[], pattern: RegExp): string[] {
  return [...new Set(texts.flatMap((text) => [...text.matchAll(pattern)].map((match) => match[1] ?? '')))].sort();
}

function assertListed(kind: string, found: string[]): void {
  assert.ok(found.length > 0, `found no ${kind} in the code: the pattern is stale`);
  const missing = found.filter((code) => !wireProtocol.includes(code));
  assert.deepEqual(missing, [], `${kind} used in the code but not listed in docs/wire-protocol.md`);
}

test('every FERRY_ERR code the code raises is listed in docs/wire-protocol.md', () => {
  assertListed(
    'FERRY_ERR codes',
    codes(['protocol', 'exit-server', 'native-helper', 'relay-worker', 'signaling-server'].flatMap(sources), /'(FERRY_ERR_[A-Z_]+)'/g),
  );
});

test('every broker error code, HTTP and volunteer socket, is listed', () => {
  const signaling = read('protocol/signaling.ts');
  const union = signaling.slice(signaling.indexOf('export type BrokerErrorCode'), signaling.indexOf(';', signaling.indexOf('export type BrokerErrorCode')));
  assertListed('broker HTTP error codes', [...codes([union], /'([A-Z_]+)'/g), 'INTERNAL_ERROR']);
  const hub = read('signaling-server/volunteer-hub.ts');
  assertListed('volunteer socket error codes', codes([hub], /(?:#refuse\(connection, |code: )'([A-Z_]+)'/g));
});

test('every local-channel error code (helper errors, path errors) is listed', () => {
  assertListed('helper error codes', codes([read('native-helper/native-host.ts')], /code: '([A-Z_]+)'/g));
  assertListed('path error codes', [
    ...codes([...sources('extension/offscreen'), read('protocol/broker-offer.ts')], /new PathError\('([A-Z_]+)'/g),
    'PATH_FAILED',
  ]);
  assertListed('local-channel format error code', codes([read('protocol/local-channel.ts')], /readonly code = '([A-Z_]+)'/g));
});

test('every metric the broker and the exit serve is listed in docs/operations.md', () => {
  const operations = read('docs/operations.md');
  const names = codes([read('signaling-server/prometheus.ts'), read('exit-server/metrics.ts')], /name: '(ferry_[a-z_]+)'/g);
  assert.ok(names.length > 0, 'found no metric names in the code: the pattern is stale');
  assert.deepEqual(
    names.filter((name) => !operations.includes(`\`${name}`)),
    [],
    'metrics served but not listed in docs/operations.md',
  );
});

test('the docs stand on their own: no pointers outside the repository, and every relative link resolves', () => {
  const documents = [
    'README.md',
    ...readdirSync(join(root, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => `docs/${name}`),
  ];
  for (const document of documents) {
    const text = read(document);
    assert.doesNotMatch(text, /\.\.\/shared|\.\.\/\.library/, `${document} points outside the repository`);
    for (const [, target = ''] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(join(root, dirname(document), target)), `${document} links to ${target}, which does not exist`);
    }
  }
});
