import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bypassEntryFor, proxyBypassList } from '../../../extension/proxy-bypass.ts';

test('the broker and the pipe bypass the tunnel by host and port only', () => {
  assert.equal(bypassEntryFor('https://broker.example.org'), 'broker.example.org:443');
  assert.equal(bypassEntryFor('http://127.0.0.1:8787'), '127.0.0.1:8787');
  assert.equal(bypassEntryFor('ws://127.0.0.1:41234/pipe'), '127.0.0.1:41234');
  assert.equal(bypassEntryFor('http://[::1]:9000/'), '[::1]:9000');
  assert.deepEqual(proxyBypassList(['<-loopback>', '127.0.0.1:8787'], 'http://127.0.0.1:8787', 'ws://127.0.0.1:5000/pipe'), [
    '<-loopback>',
    '127.0.0.1:8787',
    '127.0.0.1:5000',
  ]);
});
