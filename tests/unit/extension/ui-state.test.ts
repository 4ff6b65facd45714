import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applyClientPathEvent,
  applyRelayStatus,
  applySessionReport,
  type ClientPathEvent,
  initialHelpOthersState,
  initialProxyMeState,
} from '../../../extension/ui-state.ts';
import type { ProxyMeState } from '../../../protocol/extension-state.ts';
import type { SessionState } from '../../../protocol/local-channel.ts';

const T0 = 1_700_000_000_000;
const running = (phase: ProxyMeState['phase']): ProxyMeState => ({ ...initialProxyMeState(), on: true, phase });
const report = (state: SessionState, bytes = 0, pathChanges = 0) => ({ state, bytesUp: bytes, bytesDown: 2 * bytes, streams: 1, pathChanges, paths: 1 });

/** Runs events in order, one second apart: path events as objects, session reports as their state's name. */
function play(start: ProxyMeState, steps: Array<ClientPathEvent | SessionState>): ProxyMeState {
  return steps.reduce(
    (state, step, index) =>
      typeof step === 'string' ? applySessionReport(state, report(step, index), T0 + index * 1000) : applyClientPathEvent(state, step, T0 + index * 1000),
    start,
  );
}

describe('connected means the helper said so', () => {
  test('a data channel alone is not "connected"; the helper session report over it is', () => {
    let state = applyClientPathEvent(running('starting-helper'), { kind: 'finding' }, T0);
    assert.equal(state.phase, 'finding-volunteer');
    state = applyClientPathEvent(state, { kind: 'up', pathsUp: 1 }, T0 + 1000);
    assert.deepEqual([state.phase, state.pathUp], ['finding-volunteer', true]);
    state = applySessionReport(state, report('handshaking'), T0 + 1500);
    assert.equal(state.phase, 'finding-volunteer');
    state = applySessionReport(state, report('connected', 10), T0 + 2000);
    assert.deepEqual([state.phase, state.connectedSinceMs, state.bytesUp, state.bytesDown], ['connected', T0 + 2000, 10, 20]);
  });

  test('a "connected" report with no path up (sent before the path broke) does not claim a connection', () => {
    const state = applySessionReport(running('finding-volunteer'), report('connected'), T0);
    assert.equal(state.phase, 'finding-volunteer');
    // ...but the path report that follows it confirms it.
    assert.equal(applyClientPathEvent(state, { kind: 'up', pathsUp: 1 }, T0 + 10).phase, 'connected');
  });
});

describe('switching volunteer', () => {
  const connected = play(running('starting-helper'), [{ kind: 'finding' }, { kind: 'up', pathsUp: 1 }, 'connected']);

  test('the data channel closing while the session is alive reads "switching", and the clock keeps running', () => {
    assert.equal(connected.phase, 'connected');
    const since = connected.connectedSinceMs;
    const state = applyClientPathEvent(connected, { kind: 'down', reason: 'the data channel to the volunteer closed', pathsUp: 0 }, T0 + 10_000);
    assert.deepEqual([state.phase, state.detail, state.pathUp], ['switching-volunteer', 'the data channel to the volunteer closed', false]);
    assert.equal(state.connectedSinceMs, since);
    // The next attempt's "finding" keeps the wording.
    assert.equal(applyClientPathEvent(state, { kind: 'finding' }, T0 + 10_001).phase, 'switching-volunteer');
  });

  test('resuming -> switching volunteer -> connected again, with the volunteer change counted', () => {
    let state = applySessionReport(connected, report('resuming', 5), T0 + 5000);
    assert.equal(state.phase, 'switching-volunteer');
    state = play(state, [{ kind: 'down', reason: 'silent', pathsUp: 0 }, { kind: 'finding' }, { kind: 'up', pathsUp: 1 }]);
    assert.equal(state.phase, 'switching-volunteer');
    state = applySessionReport(state, report('connected', 9, 1), T0 + 9000);
    assert.deepEqual([state.phase, state.pathChanges, state.connectedSinceMs], ['connected', 1, connected.connectedSinceMs]);
  });

  test('a stale "connected" from the broken path does not make the next path look connected', () => {
    let state = applyClientPathEvent(connected, { kind: 'down', reason: 'closed', pathsUp: 0 }, T0 + 5000);
    state = applyClientPathEvent(state, { kind: 'up', pathsUp: 1 }, T0 + 5100);
    assert.equal(state.phase, 'switching-volunteer');
  });

  test('a session that could not carry on reads "finding", not "switching"', () => {
    const lost = applySessionReport(applySessionReport(connected, report('resuming'), T0 + 5000), report('waiting-for-path'), T0 + 6000);
    assert.equal(lost.phase, 'finding-volunteer');
    // Never connected in this run: nothing to switch from.
    assert.equal(applyClientPathEvent(running('finding-volunteer'), { kind: 'down', reason: 'x', pathsUp: 0 }, T0).phase, 'finding-volunteer');
  });
});

describe('client path events', () => {
  test('broker errors map to no-volunteers, broker-unreachable or path-error, and stay shown while retrying', () => {
    const error = (code: string) => ({ kind: 'error', code, message: `m-${code}`, retryInMs: 3000 }) as const;
    assert.equal(applyClientPathEvent(running('finding-volunteer'), error('NO_VOLUNTEERS'), T0).phase, 'no-volunteers');
    assert.equal(applyClientPathEvent(running('finding-volunteer'), error('BROKER_UNREACHABLE'), T0).phase, 'broker-unreachable');
    assert.equal(applyClientPathEvent(running('finding-volunteer'), error('BROKER_TIMEOUT'), T0).phase, 'broker-unreachable');
    const other = applyClientPathEvent(running('finding-volunteer'), error('DATA_CHANNEL_TIMEOUT'), T0);
    assert.deepEqual([other.phase, other.detail], ['path-error', 'm-DATA_CHANNEL_TIMEOUT']);
    assert.equal(applyClientPathEvent(running('no-volunteers'), { kind: 'finding' }, T0).phase, 'no-volunteers');
    // A volunteer answering ends "no volunteers".
    assert.equal(applyClientPathEvent(running('no-volunteers'), { kind: 'up', pathsUp: 1 }, T0).phase, 'finding-volunteer');
  });

  test('late reports cannot hide why Proxy me stopped', () => {
    for (const phase of ['off', 'helper-not-installed', 'helper-stopped', 'failed'] as const) {
      const state = { ...running(phase), detail: 'why' };
      assert.equal(applyClientPathEvent(state, { kind: 'up', pathsUp: 1 }, T0), state, phase);
      assert.equal(applySessionReport(state, report('connected', 1), T0), state, phase);
    }
  });
});

describe('session reports', () => {
  test('update the counters and the traffic samples; unchanged counters add no sample', () => {
    let state = applySessionReport(running('finding-volunteer'), report('handshaking', 10), T0);
    state = applySessionReport(state, report('handshaking', 10), T0 + 1000);
    assert.deepEqual(state.traffic, [{ atMs: T0, bytesUp: 10, bytesDown: 20 }]);
    state = applySessionReport(state, report('handshaking', 30), T0 + 2000);
    assert.equal(state.traffic.length, 2);
  });
});

describe('relay status', () => {
  const status = { state: 'relaying', clientsNow: 2, clientsTotal: 5, bytesClientToExit: 100, bytesExitToClient: 200 } as const;

  test('is shown while Help others is on', () => {
    const state = applyRelayStatus({ ...initialHelpOthersState(), on: true, phase: 'connecting' }, { ...status, lastError: 'exit slow' });
    assert.deepEqual(state, {
      on: true,
      phase: 'relaying',
      clientsNow: 2,
      clientsTotal: 5,
      bytesClientToExit: 100,
      bytesExitToClient: 200,
      lastError: 'exit slow',
      retryAt: 0,
      pauseReason: '',
    });
  });

  test('carries the broker retry time while unreachable, and clears it after', () => {
    const on = { ...initialHelpOthersState(), on: true, phase: 'connecting' as const };
    const unreachable = applyRelayStatus(on, { ...status, state: 'broker-unreachable', clientsNow: 0, retryAt: 1_234 });
    assert.equal(unreachable.retryAt, 1_234);
    assert.equal(applyRelayStatus(unreachable, { ...status, state: 'waiting', clientsNow: 0 }).retryAt, 0);
  });

  test('carries why it is paused, for the popup to say', () => {
    const on = { ...initialHelpOthersState(), on: true, phase: 'waiting' as const };
    const paused = applyRelayStatus(on, { ...status, state: 'paused', clientsNow: 0, pausedBy: 'the device runs on battery', pauseReason: 'battery' });
    assert.equal(paused.pauseReason, 'battery');
    assert.equal(applyRelayStatus(paused, { ...status, state: 'waiting', clientsNow: 0 }).pauseReason, '');
  });

  test('is ignored once switched off or failed', () => {
    const off = initialHelpOthersState();
    assert.equal(applyRelayStatus(off, status), off);
    const failed = { ...initialHelpOthersState(), on: true, phase: 'failed' as const, lastError: 'bad config' };
    assert.equal(applyRelayStatus(failed, status), failed);
  });
});
