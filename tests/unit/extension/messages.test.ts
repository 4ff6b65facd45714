import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MessageFormatError,
  messageTarget,
  parseBackgroundMessage,
  parseOffscreenMessage,
  parsePopupMessage,
  parseUiState,
} from '../../../extension/messages.ts';
import { initialUiState } from '../../../extension/ui-state.ts';

const exit = { id: 'local', url: 'ws://127.0.0.1:9000/v1/relay', publicKey: 'A'.repeat(43) };

describe('targets', () => {
  test('only our three targets are recognised', () => {
    assert.equal(messageTarget({ target: 'background', type: 'get-state' }), 'background');
    assert.equal(messageTarget({ target: 'offscreen' }), 'offscreen');
    assert.equal(messageTarget({ target: 'popup' }), 'popup');
    for (const other of [null, 'x', [], { target: 'content' }, { type: 'state' }]) assert.equal(messageTarget(other), undefined);
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
    assert.deepEqual(parseBackgroundMessage({ target: 'background', type: 'client-path', event: { kind: 'error', code: 'NO_VOLUNTEERS', message: 'none', retryInMs: 3000 } }), {
      target: 'background',
      type: 'client-path',
      event: { kind: 'error', code: 'NO_VOLUNTEERS', message: 'none', retryInMs: 3000 },
    });
  });

  test('malformed messages are refused with MessageFormatError', () => {
    for (const bad of [
      { target: 'popup', type: 'get-state' },
      { target: 'background', type: 'launch-missiles' },
      { target: 'background', type: 'set-help-others', on: 'yes' },
      { target: 'background', type: 'relay-status', status: { state: 'dancing', clientsNow: 0, clientsTotal: 0, bytesClientToExit: 0, bytesExitToClient: 0 } },
      { target: 'background', type: 'relay-status', status: { state: 'waiting', clientsNow: -1, clientsTotal: 0, bytesClientToExit: 0, bytesExitToClient: 0 } },
      { target: 'background', type: 'client-session', session: { state: 'connected', bytesUp: 1.5, bytesDown: 0, streams: 0 } },
      { target: 'background', type: 'client-path', event: { kind: 'sideways' } },
    ]) {
      assert.throws(() => parseBackgroundMessage(bad), MessageFormatError, JSON.stringify(bad));
    }
  });
});

describe('offscreen messages', () => {
  const clientStart = { target: 'offscreen', type: 'client-start', pipeUrl: 'ws://127.0.0.1:4000/pipe', token: 't0k', brokerUrl: 'http://127.0.0.1:8787', exit };

  test('client-start and help-start parse', () => {
    assert.deepEqual(parseOffscreenMessage(clientStart), clientStart);
    assert.deepEqual(parseOffscreenMessage({ target: 'offscreen', type: 'help-start', brokerUrl: 'https://b.example', maxClients: 2 }), {
      target: 'offscreen',
      type: 'help-start',
      brokerUrl: 'https://b.example',
      maxClients: 2,
    });
  });

  test('wrong URL schemes, empty tokens, bad exits and zero clients are refused', () => {
    for (const bad of [
      { ...clientStart, pipeUrl: 'http://127.0.0.1:4000/pipe' },
      { ...clientStart, brokerUrl: 'ws://127.0.0.1:8787' },
      { ...clientStart, token: '' },
      { ...clientStart, exit: { id: 'x' } },
      { target: 'offscreen', type: 'help-start', brokerUrl: 'http://b', maxClients: 0 },
      { target: 'offscreen', type: 'help-start', brokerUrl: 'file:///etc/passwd', maxClients: 1 },
    ]) {
      assert.throws(() => parseOffscreenMessage(bad), MessageFormatError, JSON.stringify(bad));
    }
  });
});

describe('popup state', () => {
  test('the initial state round-trips through a broadcast', () => {
    const state = initialUiState();
    assert.deepEqual(parsePopupMessage({ target: 'popup', type: 'state', state }).state, state);
  });

  test('an unknown phase is refused', () => {
    const state = initialUiState();
    assert.throws(() => parseUiState({ ...state, proxyMe: { ...state.proxyMe, phase: 'teleporting' } }), MessageFormatError);
    assert.throws(() => parseUiState({ proxyMe: state.proxyMe }), MessageFormatError);
  });
});
