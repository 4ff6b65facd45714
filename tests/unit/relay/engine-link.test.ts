// The engine link between `ferry volunteer` and its page in Chromium: each side reads the other's messages through
// one parser, and a malformed, unknown or oversized message is an EngineLinkError naming what is wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalOperator } from '../../../harness/operator.ts';
import { createRelayWorkerConfig } from '../../../relay-worker/config.ts';
import { EngineLinkError, MAX_ENGINE_LINK_MESSAGE_BYTES, parseEngineCommand, parseEngineReport } from '../../../relay-worker/engine-link.ts';

const status = { state: 'waiting', clientsNow: 0, clientsTotal: 2, bytesClientToExit: 10, bytesExitToClient: 20 } as const;

test('commands and reports read back as sent', () => {
  const config = createRelayWorkerConfig({ brokerUrl: 'http://127.0.0.1:9', kind: 'headless', exitListKeys: [new LocalOperator().exitListKey] });
  const start = parseEngineCommand(JSON.stringify({ type: 'start', config, usage: { month: '2026-11', bytes: 5 } }));
  assert.deepEqual(start, { type: 'start', config: JSON.parse(JSON.stringify(config)), usage: { month: '2026-11', bytes: 5 } });
  assert.deepEqual(parseEngineCommand('{"type":"stop"}'), { type: 'stop' });
  assert.deepEqual(parseEngineReport(JSON.stringify({ type: 'status', status })), { type: 'status', status });
  assert.deepEqual(parseEngineReport(JSON.stringify({ type: 'stopped', status })), { type: 'stopped', status });
  assert.deepEqual(parseEngineReport('{"type":"usage","usage":{"month":"2026-11","bytes":7}}'), { type: 'usage', usage: { month: '2026-11', bytes: 7 } });
  assert.deepEqual(parseEngineReport('{"type":"ready","userAgent":"HeadlessChrome/156"}'), { type: 'ready', userAgent: 'HeadlessChrome/156' });
  assert.deepEqual(parseEngineReport('{"type":"failed","message":"no WebRTC"}'), { type: 'failed', message: 'no WebRTC' });
});

test('bad messages are EngineLinkErrors that say what is wrong', () => {
  const refusals: Array<[() => unknown, RegExp]> = [
    [() => parseEngineCommand('not json'), /not JSON/],
    [() => parseEngineCommand('[1]'), /must be a JSON object/],
    [() => parseEngineCommand('{"type":"restart"}'), /unknown command type "restart"/],
    [() => parseEngineCommand('{"type":"start"}'), /"start" needs a "config" object/],
    [() => parseEngineCommand('{"type":"start","config":{},"usage":{"month":"2026/11","bytes":1}}'), /"usage.month" must be YYYY-MM/],
    [() => parseEngineReport('{"type":"usage","usage":{"month":"2026-11","bytes":-1}}'), /usage.bytes/],
    [() => parseEngineReport('{"type":"hello"}'), /unknown report type "hello"/],
    [() => parseEngineReport('{"type":"ready"}'), /"userAgent"/],
    [() => parseEngineReport(`{"type":"failed","message":"${'x'.repeat(MAX_ENGINE_LINK_MESSAGE_BYTES)}"}`), /over 65536/],
  ];
  for (const [parse, message] of refusals) assert.throws(parse, (error: unknown) => error instanceof EngineLinkError && message.test(error.message));
  // A status is checked by the relay-status contract, with its own error.
  assert.throws(() => parseEngineReport('{"type":"status","status":{"state":"dancing"}}'), /"state"/);
});
