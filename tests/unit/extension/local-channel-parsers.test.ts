import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalChannelFormatError, MAX_PIPE_CONTROL_CHARS, parseNativeMessage, parsePipeControl } from '../../../extension/local-channel-parsers.ts';

const ready = { type: 'ready', version: '0.1.0', pid: 1234, socksPort: 1080, httpPort: 0, pipeUrl: 'ws://127.0.0.1:4000/pipe', token: 'abc' };

describe('native messages', () => {
  test('ready, token, status and error parse', () => {
    assert.deepEqual(parseNativeMessage(ready), ready);
    assert.deepEqual(parseNativeMessage({ type: 'token', token: 'new' }), { type: 'token', token: 'new' });
    assert.deepEqual(parseNativeMessage({ type: 'status', session: 'handshaking', bytesUp: 1, bytesDown: 2, streams: 0, pathChanges: 0 }), {
      type: 'status',
      session: 'handshaking',
      bytesUp: 1,
      bytesDown: 2,
      streams: 0,
      pathChanges: 0,
    });
    assert.equal((parseNativeMessage({ type: 'status', session: 'resuming', bytesUp: 1, bytesDown: 2, streams: 3, pathChanges: 4 }) as { session: string }).session, 'resuming');
    assert.deepEqual(parseNativeMessage({ type: 'error', code: 'PORT_IN_USE', message: 'port 1080 is taken' }).type, 'error');
  });

  test('the pipe must stay on this machine, and ports must be real', () => {
    for (const bad of [
      { ...ready, pipeUrl: 'ws://203.0.113.5:4000/pipe' },
      { ...ready, pipeUrl: 'wss://127.0.0.1:4000/pipe' },
      { ...ready, socksPort: 0 },
      { ...ready, socksPort: 65536 },
      { ...ready, token: '' },
      { type: 'status', session: 'flying', bytesUp: 0, bytesDown: 0, streams: 0, pathChanges: 0 },
      { type: 'status', session: 'connected', bytesUp: 0, bytesDown: 0, streams: 0 },
      { type: 'status', session: 'connected', bytesUp: 0, bytesDown: 0, streams: 0, pathChanges: -1 },
      { type: 'hello' },
      'ready',
    ]) {
      assert.throws(() => parseNativeMessage(bad), LocalChannelFormatError, JSON.stringify(bad));
    }
  });
});

describe('pipe control', () => {
  test('need-path (with or without a reason) and session parse', () => {
    assert.deepEqual(parsePipeControl('{"type":"need-path","reason":"silent for 10 s"}'), { type: 'need-path', reason: 'silent for 10 s' });
    assert.deepEqual(parsePipeControl('{"type":"need-path"}'), { type: 'need-path', reason: '' });
    assert.deepEqual(parsePipeControl(JSON.stringify({ type: 'session', state: 'resuming', bytesUp: 3, bytesDown: 4, streams: 1, pathChanges: 2 })), {
      type: 'session',
      state: 'resuming',
      bytesUp: 3,
      bytesDown: 4,
      streams: 1,
      pathChanges: 2,
    });
  });

  test('non-JSON, unknown types and oversized messages are refused', () => {
    for (const bad of ['nope', '[]', '{"type":"path-up"}', '{"type":"need-path","reason":7}', '{"type":"session","state":"connected","bytesUp":0,"bytesDown":0,"streams":0}', `{"type":"need-path","pad":"${'x'.repeat(MAX_PIPE_CONTROL_CHARS)}"}`]) {
      assert.throws(() => parsePipeControl(bad), LocalChannelFormatError, bad.slice(0, 40));
    }
  });
});
