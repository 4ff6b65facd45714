import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MessageFormatError, messageTarget, parseBackgroundMessage, parseOffscreenMessage } from '../../../extension/messages.ts';
import { initialUiState } from '../../../extension/ui-state.ts';
import { ExtensionStateFormatError, parseUiState } from '../../../protocol/extension-state.ts';

const exit = { id: 'local', url: 'ws://127.0.0.1:9000/v1/relay', publicKey: 'A'.repeat(43) };

describe('targets', () => {
  test('only our two targets are recognised (the popup follows storage, it gets no messages)', () => {
    assert.equal(messageTarget({ target: 'background', type: 'get-state' }), 'background');
    assert.equal(messageTarget({ target: 'offscreen' }), 'offscreen');
    for (const other of [null, 'x', [], { target: 'content' }, { target: 'popup' }, { type: 'state' }]) assert.equal(messageTarget(other), undefined);
  });
});

describe('service worker messages', () => {
  test('valid messages parse to exactly their fields', () => {
    assert.deepEqual(parseBackgroundMessage({ target: 'background', type: 'set-proxy-me', on: true, extra: 1 }), {
      target: 'background',
      type: 'set-proxy-me',
      on: true,
    });
    const status = { state: 'waiting', clientsNow: 0, clientsTotal: 3, bytesClientToExit: 5, bytesExitToClient: 6, lastError: 'x' };
    assert.deepEqual(parseBackgroundMessage({ target: 'background', type: 'relay-status', status }).type, 'relay-status');
    assert.deepEqual(
      parseBackgroundMessage({ target: 'background', type: 'client-path', event: { kind: 'error', code: 'NO_VOLUNTEERS', message: 'none', retryInMs: 3000 } }),
      {
        target: 'background',
        type: 'client-path',
        event: { kind: 'error', code: 'NO_VOLUNTEERS', message: 'none', retryInMs: 3000 },
      },
    );
  });

  test('malformed messages are refused with MessageFormatError', () => {
    for (const bad of [
      { target: 'popup', type: 'get-state' },
      { target: 'background', type: 'launch-missiles' },
      { target: 'background', type: 'set-help-others', on: 'yes' },
      { target: 'background', type: 'relay-status', status: { state: 'dancing', clientsNow: 0, clientsTotal: 0, bytesClientToExit: 0, bytesExitToClient: 0 } },
      { target: 'background', type: 'relay-status', status: { state: 'waiting', clientsNow: -1, clientsTotal: 0, bytesClientToExit: 0, bytesExitToClient: 0 } },
      { target: 'background', type: 'client-session', session: { state: 'connected', bytesUp: 1.5, bytesDown: 0, streams: 0, pathChanges: 0, paths: 1 } },
      { target: 'background', type: 'client-session', session: { state: 'connected', bytesUp: 1, bytesDown: 0, streams: 0 } },
      { target: 'background', type: 'client-path', event: { kind: 'sideways' } },
    ]) {
      assert.throws(() => parseBackgroundMessage(bad), MessageFormatError, JSON.stringify(bad));
    }
  });
});

describe('offscreen messages', () => {
  const clientStart = {
    target: 'offscreen',
    type: 'client-start',
    pipeUrl: 'ws://127.0.0.1:4000/pipe',
    token: 't0k',
    brokerUrl: 'http://127.0.0.1:8787',
    exit,
  };

  test('client-start and help-start parse', () => {
    assert.deepEqual(parseOffscreenMessage(clientStart), clientStart);
    const key = 'A'.repeat(43);
    assert.deepEqual(
      parseOffscreenMessage({
        target: 'offscreen',
        type: 'help-start',
        brokerUrl: 'https://b.example',
        maxClients: 2,
        maxBytesPerSecond: 125_000,
        monthlyDataCapBytes: 0,
        pauseOnBattery: true,
        pauseOnMetered: false,
        usage: { month: '2026-11', bytes: 12 },
        exitListKeys: [key],
        pairingTokens: [],
      }),
      {
        target: 'offscreen',
        type: 'help-start',
        brokerUrl: 'https://b.example',
        maxClients: 2,
        maxBytesPerSecond: 125_000,
        monthlyDataCapBytes: 0,
        pauseOnBattery: true,
        pauseOnMetered: false,
        usage: { month: '2026-11', bytes: 12 },
        exitListKeys: [key],
        pairingTokens: [],
      },
    );
  });

  test('wrong URL schemes, empty tokens, bad exits and zero clients are refused', () => {
    for (const bad of [
      { ...clientStart, pipeUrl: 'http://127.0.0.1:4000/pipe' },
      { ...clientStart, brokerUrl: 'ws://127.0.0.1:8787' },
      { ...clientStart, token: '' },
      { ...clientStart, exit: { id: 'x' } },
      { target: 'offscreen', type: 'help-start', brokerUrl: 'http://b', maxClients: 0, maxBytesPerSecond: 0, monthlyDataCapBytes: 0, exitListKeys: [] },
      {
        target: 'offscreen',
        type: 'help-start',
        brokerUrl: 'file:///etc/passwd',
        maxClients: 1,
        maxBytesPerSecond: 0,
        monthlyDataCapBytes: 0,
        exitListKeys: [],
      },
      { target: 'offscreen', type: 'help-start', brokerUrl: 'http://b', maxClients: 1, maxBytesPerSecond: 0, monthlyDataCapBytes: 0, exitListKeys: ['short'] },
      { target: 'offscreen', type: 'help-start', brokerUrl: 'http://b', maxClients: 1, maxBytesPerSecond: 0, monthlyDataCapBytes: 0 },
      { target: 'offscreen', type: 'help-start', brokerUrl: 'http://b', maxClients: 1, maxBytesPerSecond: -1, monthlyDataCapBytes: 0, exitListKeys: [] },
      {
        target: 'offscreen',
        type: 'help-start',
        brokerUrl: 'http://b',
        maxClients: 1,
        maxBytesPerSecond: 0,
        monthlyDataCapBytes: 0,
        usage: { month: '2026-13', bytes: 1 },
        exitListKeys: [],
      },
      { target: 'offscreen', type: 'help-start', brokerUrl: 'http://b', maxClients: 1, exitListKeys: [] },
    ]) {
      assert.throws(() => parseOffscreenMessage(bad), MessageFormatError, JSON.stringify(bad));
    }
  });
});

describe('stored UI state', () => {
  test('the initial state and a connected one round-trip', () => {
    const state = initialUiState();
    assert.deepEqual(parseUiState(state), state);
    const connected = {
      ...state,
      proxyMe: {
        ...state.proxyMe,
        on: true,
        phase: 'switching-volunteer',
        session: 'resuming',
        pathUp: false,
        pathChanges: 2,
        connectedSinceMs: 1_700_000_000_000,
        traffic: [{ atMs: 1_700_000_001_000, bytesUp: 10, bytesDown: 20 }],
        webRtcGuard: 'restricted',
      },
    };
    assert.deepEqual(parseUiState(connected), connected);
  });

  test('a resuming session report parses with its volunteer changes', () => {
    const session = { state: 'resuming', bytesUp: 1, bytesDown: 2, streams: 3, pathChanges: 4, paths: 1 };
    assert.deepEqual(parseBackgroundMessage({ target: 'background', type: 'client-session', session }), {
      target: 'background',
      type: 'client-session',
      session,
    });
  });

  test('an unknown phase is refused', () => {
    const state = initialUiState();
    assert.throws(() => parseUiState({ ...state, proxyMe: { ...state.proxyMe, phase: 'teleporting' } }), ExtensionStateFormatError);
    assert.throws(() => parseUiState({ proxyMe: state.proxyMe }), ExtensionStateFormatError);
    assert.throws(
      () => parseUiState({ ...state, proxyMe: { ...state.proxyMe, traffic: [{ atMs: -1, bytesUp: 0, bytesDown: 0 }] } }),
      ExtensionStateFormatError,
    );
    assert.throws(() => parseUiState({ ...state, proxyMe: { ...state.proxyMe, webRtcGuard: 'maybe' } }), ExtensionStateFormatError);
  });
});

test('help-usage carries the monthly count to the service worker; a malformed count is refused', () => {
  const message = { target: 'background', type: 'help-usage', usage: { month: '2026-11', bytes: 5_000_000 } };
  assert.deepEqual(parseBackgroundMessage(message), message);
  for (const usage of [{ month: '2026-1', bytes: 1 }, { month: '2026-11', bytes: -1 }, { month: '2026-11' }, 'lots', null]) {
    assert.throws(() => parseBackgroundMessage({ ...message, usage }), MessageFormatError, JSON.stringify(usage));
  }
});
