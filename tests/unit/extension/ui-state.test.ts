import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyClientPathEvent,
  applyRelayStatus,
  applySessionReport,
  initialHelpOthersState,
  initialProxyMeState,
  type ProxyMeState,
} from '../../../extension/ui-state.ts';

const running = (phase: ProxyMeState['phase']): ProxyMeState => ({ ...initialProxyMeState(), on: true, phase });

describe('client path events', () => {
  test('finding, up and down move between finding and connected', () => {
    let state = applyClientPathEvent(running('starting-helper'), { kind: 'finding' });
    assert.equal(state.phase, 'finding-volunteer');
    state = applyClientPathEvent(state, { kind: 'up' });
    assert.equal(state.phase, 'connected');
    state = applyClientPathEvent(state, { kind: 'down', reason: 'the volunteer left' });
    assert.equal(state.phase, 'finding-volunteer');
    assert.equal(state.detail, 'the volunteer left');
  });

  test('broker errors map to no-volunteers, broker-unreachable or path-error, and stay shown while retrying', () => {
    const error = (code: string) => ({ kind: 'error', code, message: `m-${code}`, retryInMs: 3000 }) as const;
    assert.equal(applyClientPathEvent(running('finding-volunteer'), error('NO_VOLUNTEERS')).phase, 'no-volunteers');
    assert.equal(applyClientPathEvent(running('finding-volunteer'), error('BROKER_UNREACHABLE')).phase, 'broker-unreachable');
    assert.equal(applyClientPathEvent(running('finding-volunteer'), error('BROKER_TIMEOUT')).phase, 'broker-unreachable');
    const other = applyClientPathEvent(running('finding-volunteer'), error('DATA_CHANNEL_TIMEOUT'));
    assert.deepEqual([other.phase, other.detail], ['path-error', 'm-DATA_CHANNEL_TIMEOUT']);
    assert.equal(applyClientPathEvent(running('no-volunteers'), { kind: 'finding' }).phase, 'no-volunteers');
  });

  test('late reports cannot hide why Proxy me stopped', () => {
    for (const phase of ['off', 'helper-not-installed', 'helper-stopped', 'failed'] as const) {
      const state = { ...running(phase), detail: 'why' };
      assert.equal(applyClientPathEvent(state, { kind: 'up' }), state, phase);
      assert.equal(applySessionReport(state, { state: 'connected', bytesUp: 1, bytesDown: 1, streams: 1 }), state, phase);
    }
  });
});

describe('session reports', () => {
  test('update the counters and confirm or withdraw "connected"', () => {
    let state = applySessionReport(running('finding-volunteer'), { state: 'connected', bytesUp: 10, bytesDown: 20, streams: 2 });
    assert.deepEqual([state.phase, state.bytesUp, state.bytesDown, state.streams], ['connected', 10, 20, 2]);
    state = applySessionReport(state, { state: 'waiting-for-path', bytesUp: 11, bytesDown: 21, streams: 2 });
    assert.equal(state.phase, 'finding-volunteer');
    assert.equal(applySessionReport(running('no-volunteers'), { state: 'connected', bytesUp: 0, bytesDown: 0, streams: 0 }).phase, 'no-volunteers');
  });
});

describe('relay status', () => {
  const status = { state: 'relaying', clientsNow: 2, clientsTotal: 5, bytesClientToExit: 100, bytesExitToClient: 200 } as const;

  test('is shown while Help others is on', () => {
    const state = applyRelayStatus({ ...initialHelpOthersState(), on: true, phase: 'connecting' }, { ...status, lastError: 'exit slow' });
    assert.deepEqual(state, { on: true, phase: 'relaying', clientsNow: 2, clientsTotal: 5, bytesClientToExit: 100, bytesExitToClient: 200, lastError: 'exit slow' });
  });

  test('is ignored once switched off or failed', () => {
    const off = initialHelpOthersState();
    assert.equal(applyRelayStatus(off, status), off);
    const failed = { ...initialHelpOthersState(), on: true, phase: 'failed' as const, lastError: 'bad config' };
    assert.equal(applyRelayStatus(failed, status), failed);
  });
});
