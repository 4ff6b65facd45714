import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatBytes, formatDuration, formatRate, helpOthersStatusText, pathChangesText, proxyMeStatusText } from '../../../extension/status-text.ts';
import { initialHelpOthersState, initialProxyMeState } from '../../../extension/ui-state.ts';
import { PROXY_ME_PHASES, type ProxyMePhase } from '../../../protocol/extension-state.ts';
import type { RelayState } from '../../../protocol/relay-status.ts';
import { english } from '../support/translators.ts';

describe('Proxy me wording', () => {
  const text = (phase: ProxyMePhase, detail = ''): string => proxyMeStatusText({ ...initialProxyMeState(), on: phase !== 'off', phase, detail }, english);

  test('each phase says what is happening', () => {
    assert.equal(text('off'), 'Off');
    assert.equal(text('starting-helper'), 'Starting the helper…');
    assert.equal(text('finding-volunteer'), 'Finding a volunteer…');
    assert.equal(text('connected'), 'Connected through a volunteer');
    assert.equal(text('switching-volunteer'), 'Switching volunteer…');
    assert.equal(text('no-volunteers'), 'No volunteers available right now, retrying…');
    assert.equal(text('broker-unreachable'), 'Cannot reach the network, retrying…');
    assert.equal(text('helper-not-installed'), 'Helper not installed: run npx ferry helper --install');
    assert.equal(text('helper-stopped', 'Native host has exited.'), 'Helper stopped: Native host has exited.');
    assert.equal(text('failed', 'bad settings'), 'Could not start: bad settings');
  });

  test('no phase is left without words, and only "connected" claims a connection', () => {
    for (const phase of PROXY_ME_PHASES) {
      const words = text(phase, 'reason');
      assert.ok(words.length > 0, phase);
      assert.equal(/Connected/.test(words), phase === 'connected', phase);
    }
  });
});

describe('Help others wording', () => {
  const text = (phase: 'off' | 'failed' | RelayState, clientsNow = 0): string =>
    helpOthersStatusText({ ...initialHelpOthersState(), on: phase !== 'off', phase, clientsNow, lastError: 'boom' }, english);

  test('each state says what is happening, with people counted honestly', () => {
    assert.equal(text('off'), 'Off');
    assert.equal(text('stopped'), 'Off');
    assert.equal(text('connecting'), 'Connecting to the network…');
    assert.equal(text('waiting'), 'Waiting for someone who needs help');
    assert.equal(text('relaying', 1), 'Helping 1 person');
    assert.equal(text('relaying', 3), 'Helping 3 people');
    assert.equal(text('broker-unreachable'), 'Cannot reach the network, retrying…');
    assert.equal(text('failed'), 'Could not start: boom');
  });

  test('a pause says which: a limit, the battery, or a metered connection', () => {
    const paused = { ...initialHelpOthersState(), on: true, phase: 'paused' as const };
    assert.equal(helpOthersStatusText({ ...paused, pauseReason: 'monthly-cap' }, english), 'Paused by a limit you set');
    assert.equal(helpOthersStatusText({ ...paused, pauseReason: 'battery' }, english), 'Paused: this device runs on battery');
    assert.equal(helpOthersStatusText({ ...paused, pauseReason: 'metered' }, english), 'Paused: the connection is metered');
  });

  test('an unreachable broker counts down to the next attempt', () => {
    const state = { ...initialHelpOthersState(), on: true, phase: 'broker-unreachable' as const, retryAt: 20_000 };
    assert.equal(helpOthersStatusText(state, english, 12_100), 'Cannot reach the network, retrying in 8 s');
    assert.equal(helpOthersStatusText(state, english, 25_000), 'Cannot reach the network, retrying in 0 s');
  });
});

test('formatBytes uses binary units with one decimal below 10', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(20 * 1024 * 1024), '20 MB');
  assert.equal(formatBytes(-5), '0 B');
  assert.equal(formatBytes(Number.NaN), '0 B');
});

test('formatDuration is h:mm:ss, hours unbounded', () => {
  assert.equal(formatDuration(0), '0:00:00');
  assert.equal(formatDuration(999), '0:00:00');
  assert.equal(formatDuration(61_000), '0:01:01');
  assert.equal(formatDuration(3_725_000), '1:02:05');
  assert.equal(formatDuration(100 * 3600_000 + 59_000), '100:00:59');
  assert.equal(formatDuration(-5), '0:00:00');
});

test('formatRate and the volunteer-change count read naturally', () => {
  assert.equal(formatRate(1536), '1.5 KB/s');
  assert.equal(formatRate(0.4), '0 B/s');
  assert.equal(pathChangesText(0, english), 'Volunteer changed 0 times');
  assert.equal(pathChangesText(1, english), 'Volunteer changed 1 time');
  assert.equal(pathChangesText(3, english), 'Volunteer changed 3 times');
});
