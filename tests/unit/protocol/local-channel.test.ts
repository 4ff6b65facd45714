import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodePipeControl,
  framePipeRecord,
  LocalChannelFormatError,
  MAX_PIPE_CONTROL_BYTES,
  parseExtensionToPipe,
  parseHelperToPipe,
  parseNativeToExtension,
  unframePipeRecord,
} from '../../../protocol/local-channel.ts';

// The extension reads pipe control messages as text: size and JSON first, then the message.
const parsePipeControl = (text: string) => parseHelperToPipe(decodePipeControl(text));
const parseNativeMessage = parseNativeToExtension;

const ready = { type: 'ready', version: '0.1.0', pid: 1234, socksPort: 1080, httpPort: 0, pipeUrl: 'ws://127.0.0.1:4000/pipe', token: 'abc' };

describe('native messages', () => {
  test('ready, token, status and error parse', () => {
    assert.deepEqual(parseNativeMessage(ready), ready);
    assert.deepEqual(parseNativeMessage({ type: 'token', token: 'new' }), { type: 'token', token: 'new' });
    assert.deepEqual(parseNativeMessage({ type: 'status', state: 'handshaking', bytesUp: 1, bytesDown: 2, streams: 0, pathChanges: 0, paths: 1 }), {
      type: 'status',
      state: 'handshaking',
      bytesUp: 1,
      bytesDown: 2,
      streams: 0,
      pathChanges: 0,
      paths: 1,
    });
    assert.equal(
      (parseNativeMessage({ type: 'status', state: 'resuming', bytesUp: 1, bytesDown: 2, streams: 3, pathChanges: 4, paths: 0 }) as { state: string }).state,
      'resuming',
    );
    assert.deepEqual(parseNativeMessage({ type: 'error', code: 'PORT_IN_USE', message: 'port 1080 is taken' }).type, 'error');
  });

  test("ready may carry the helper's STUN servers: stun: URLs only", () => {
    const withStun = { ...ready, stunUrls: ['stun:stun.example.org:3478'] };
    assert.deepEqual(parseNativeMessage(withStun), withStun);
    for (const stunUrls of [['turn:relay.example.org'], 'stun:one', Array.from({ length: 9 }, () => 'stun:a')]) {
      assert.throws(() => parseNativeMessage({ ...ready, stunUrls }), LocalChannelFormatError, JSON.stringify(stunUrls));
    }
  });

  test('the pipe must stay on this machine, and ports must be real', () => {
    for (const bad of [
      { ...ready, pipeUrl: 'ws://203.0.113.5:4000/pipe' },
      { ...ready, pipeUrl: 'wss://127.0.0.1:4000/pipe' },
      { ...ready, socksPort: 0 },
      { ...ready, socksPort: 65536 },
      { ...ready, token: '' },
      { type: 'status', state: 'flying', bytesUp: 0, bytesDown: 0, streams: 0, pathChanges: 0, paths: 0 },
      { type: 'status', state: 'connected', bytesUp: 0, bytesDown: 0, streams: 0 },
      { type: 'status', state: 'connected', bytesUp: 0, bytesDown: 0, streams: 0, pathChanges: 0 },
      { type: 'status', state: 'connected', bytesUp: 0, bytesDown: 0, streams: 0, pathChanges: -1 },
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
    assert.deepEqual(parsePipeControl('{"type":"need-path","reason":"lost a record","pathId":3}'), { type: 'need-path', reason: 'lost a record', pathId: 3 });
    assert.deepEqual(parsePipeControl(JSON.stringify({ type: 'session', state: 'resuming', bytesUp: 3, bytesDown: 4, streams: 1, pathChanges: 2, paths: 1 })), {
      type: 'session',
      state: 'resuming',
      bytesUp: 3,
      bytesDown: 4,
      streams: 1,
      pathChanges: 2,
      paths: 1,
    });
  });

  test('non-JSON, unknown types and oversized messages are refused', () => {
    for (const bad of [
      'nope',
      '[]',
      '{"type":"path-up"}',
      '{"type":"need-path","reason":7}',
      '{"type":"need-path","reason":"x","pathId":0}',
      '{"type":"session","state":"connected","bytesUp":0,"bytesDown":0,"streams":0}',
      `{"type":"need-path","pad":"${'x'.repeat(MAX_PIPE_CONTROL_BYTES)}"}`,
    ]) {
      assert.throws(() => parsePipeControl(bad), LocalChannelFormatError, bad.slice(0, 40));
    }
  });
});

describe('pipe control from the extension', () => {
  test('path-up, path-down and path-error parse', () => {
    assert.deepEqual(parseExtensionToPipe({ type: 'path-up', pathId: 1, role: 'carry' }), { type: 'path-up', pathId: 1, role: 'carry' });
    assert.deepEqual(parseExtensionToPipe({ type: 'path-up', pathId: 255, role: 'standby' }), { type: 'path-up', pathId: 255, role: 'standby' });
    assert.deepEqual(parseExtensionToPipe({ type: 'path-down', pathId: 2, reason: 'the data channel closed' }), {
      type: 'path-down',
      pathId: 2,
      reason: 'the data channel closed',
    });
    assert.deepEqual(parseExtensionToPipe({ type: 'path-error', code: 'NO_VOLUNTEERS', message: 'none free' }), {
      type: 'path-error',
      code: 'NO_VOLUNTEERS',
      message: 'none free',
    });
  });

  test('a helper-bound message of the wrong direction, or without its fields, is refused', () => {
    for (const bad of [
      { type: 'need-path' },
      { type: 'path-up' },
      { type: 'path-up', pathId: 1 },
      { type: 'path-up', pathId: 0, role: 'carry' },
      { type: 'path-up', pathId: 256, role: 'carry' },
      { type: 'path-up', pathId: 1, role: 'lead' },
      { type: 'path-down', reason: 'no id' },
      { type: 'path-down' },
      { type: 'path-error', code: 'X' },
      { type: 'path-down', pathId: 1, reason: 'x'.repeat(5_000) },
      null,
      [],
    ]) {
      assert.throws(() => parseExtensionToPipe(bad), LocalChannelFormatError, JSON.stringify(bad)?.slice(0, 40));
    }
  });
});

describe('pipe records', () => {
  test('a record goes with its path id in front, and comes back the same', () => {
    const record = Uint8Array.of(3, 1, 2, 3);
    const framed = framePipeRecord(7, record);
    assert.deepEqual([...framed], [7, 3, 1, 2, 3]);
    assert.deepEqual(unframePipeRecord(framed), { pathId: 7, record });
  });

  test('a message with no record, or path id 0, is no record', () => {
    assert.equal(unframePipeRecord(Uint8Array.of(7)), undefined);
    assert.equal(unframePipeRecord(new Uint8Array(0)), undefined);
    assert.equal(unframePipeRecord(Uint8Array.of(0, 3, 1)), undefined);
  });
});

test("whole-device mode's peer addresses: path-up's selected volunteer address and path-connecting's candidates are IPv4 only, bounded", () => {
  assert.deepEqual(parseExtensionToPipe({ type: 'path-up', pathId: 3, role: 'carry', peerAddress: '203.0.113.7' }), {
    type: 'path-up',
    pathId: 3,
    role: 'carry',
    peerAddress: '203.0.113.7',
  });
  assert.deepEqual(parseExtensionToPipe({ type: 'path-connecting', addresses: ['203.0.113.7', '198.51.100.2'] }), {
    type: 'path-connecting',
    addresses: ['203.0.113.7', '198.51.100.2'],
  });
  for (const bad of [
    { type: 'path-up', pathId: 3, role: 'carry', peerAddress: 'volunteer.local' },
    { type: 'path-connecting', addresses: ['::1'] },
    { type: 'path-connecting', addresses: ['1.2.3.256'] },
    { type: 'path-connecting', addresses: 'x' },
    { type: 'path-connecting', addresses: Array.from({ length: 17 }, () => '1.1.1.1') },
  ]) {
    assert.throws(() => parseExtensionToPipe(bad), LocalChannelFormatError, JSON.stringify(bad).slice(0, 60));
  }
});

test('the whole-device switch over the pipe: on/off with host names one way, the state with a reason the other', () => {
  assert.deepEqual(parseExtensionToPipe({ type: 'whole-device', on: true, transportHosts: ['broker.example.org', '203.0.113.5'] }), {
    type: 'whole-device',
    on: true,
    transportHosts: ['broker.example.org', '203.0.113.5'],
  });
  for (const bad of [
    { type: 'whole-device', on: 'yes', transportHosts: [] },
    { type: 'whole-device', on: true },
    { type: 'whole-device', on: true, transportHosts: ['a b'] },
    { type: 'whole-device', on: true, transportHosts: Array.from({ length: 17 }, () => 'x.example') },
  ]) {
    assert.throws(() => parseExtensionToPipe(bad), LocalChannelFormatError, JSON.stringify(bad).slice(0, 60));
  }
  assert.deepEqual(parseHelperToPipe({ type: 'whole-device-state', state: 'failed', reason: 'the service is not running' }), {
    type: 'whole-device-state',
    state: 'failed',
    reason: 'the service is not running',
  });
  assert.throws(() => parseHelperToPipe({ type: 'whole-device-state', state: 'maybe' }), LocalChannelFormatError);
});
