// ProxyMe's rules with stand-ins for chrome.* (which cannot exist in node): the native port, chrome.proxy,
// chrome.privacy's WebRTC policy and the offscreen document are small recorders; the exit list is a plain function.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NetworkMemory } from '../../../extension/background/extension-storage.ts';
import type { NativePort } from '../../../extension/background/native-port.ts';
import { ProxyMe, type ProxyMeDeps } from '../../../extension/background/proxy-me.ts';
import { ExitListError } from '../../../extension/broker-exits.ts';
import type { OffscreenMessage } from '../../../extension/messages.ts';
import { noPairings, type Pairings } from '../../../extension/pairings.ts';
import { DEFAULT_SETTINGS } from '../../../extension/settings.ts';
import { initialProxyMeState } from '../../../extension/ui-state.ts';
import { LocalOperator } from '../../../harness/operator.ts';
import type { ProxyMeState, WebRtcGuardState } from '../../../protocol/extension-state.ts';
import type { ExtensionToNative } from '../../../protocol/local-channel.ts';
import { createPairingToken } from '../../../protocol/pairing.ts';
import type { ExitInfo } from '../../../protocol/signaling.ts';

const exit: ExitInfo = { id: 'local', url: 'ws://127.0.0.1:9000/v1/relay', publicKey: 'A'.repeat(43) };
/** Stands for the broker's signed list: ProxyMe passes it to the helper as it is, without reading it. */
const exitList = { payload: 'cGF5bG9hZA', signature: 'c2lnbmF0dXJl' };
const ready = { type: 'ready', version: '0.1.0', pid: 42, socksPort: 1080, httpPort: 0, pipeUrl: 'ws://127.0.0.1:4000/pipe', token: 'tok' };

class RecordingPort implements NativePort {
  readonly posted: ExtensionToNative[] = [];
  disconnected = false;
  private messageListener: (message: unknown) => void = () => undefined;
  private disconnectListener: (error: string | undefined) => void = () => undefined;
  onPost: () => void = () => undefined;
  post(message: ExtensionToNative): void {
    this.posted.push(message);
    this.onPost();
  }
  disconnect(): void {
    this.disconnected = true;
  }
  onMessage(listener: (message: unknown) => void): void {
    this.messageListener = listener;
  }
  onDisconnect(listener: (error: string | undefined) => void): void {
    this.disconnectListener = listener;
  }
  fromHelper(message: unknown): void {
    this.messageListener(message);
  }
  hostGone(error: string | undefined): void {
    this.disconnectListener(error);
  }
}

function harness(
  fetchExits: ProxyMeDeps['fetchExits'] = async () => ({ exitList, exits: [exit] }),
  webRtcAllowed: WebRtcGuardState = 'restricted',
  pairings: Pairings = noPairings(),
  more: { exitListKeys?: string[]; networkMemory?: NetworkMemory } = {},
) {
  let state: ProxyMeState = initialProxyMeState();
  const port = new RecordingPort();
  const proxyCalls: string[] = [];
  const offscreenMessages: OffscreenMessage[] = [];
  const offscreenCalls: string[] = [];
  const waiters: Array<{ check: (s: ProxyMeState) => boolean; resolve: () => void }> = [];
  /** Re-checks every waiter; called after anything a fake records. */
  const notify = (): void => {
    for (const waiter of waiters.splice(0)) {
      if (waiter.check(state)) waiter.resolve();
      else waiters.push(waiter);
    }
  };
  const proxyMe = new ProxyMe({
    loadSettings: async () => ({ ...DEFAULT_SETTINGS, bypassList: ['<-loopback>'], ...(more.exitListKeys ? { exitListKeys: more.exitListKeys } : {}) }),
    ...(more.networkMemory ? { networkMemory: more.networkMemory } : {}),
    loadPairings: async () => pairings,
    fetchExits,
    connectNative: () => port,
    browserProxy: {
      pointAtSocks: async (socksPort, bypassList) => {
        proxyCalls.push(`socks ${socksPort} ${bypassList.join(',')}`);
        notify();
      },
      restore: async () => {
        proxyCalls.push('restore');
        notify();
      },
      isControlledByUs: async () => false,
    },
    webRtcPolicy: {
      restrict: async () => {
        proxyCalls.push(`webrtc ${webRtcAllowed}`);
        notify();
        return webRtcAllowed;
      },
      restore: async () => {
        proxyCalls.push('webrtc restore');
        notify();
      },
    },
    now: () => 1_700_000_000_000,
    offscreen: {
      acquire: async () => void offscreenCalls.push('acquire'),
      release: async () => void offscreenCalls.push('release'),
      send: async (message) => {
        offscreenMessages.push(message);
        notify();
      },
    },
    updateState: async (change) => {
      state = change(state);
      notify();
    },
    log: () => undefined,
  });
  /** Resolves once the state satisfies `check` (bounded by the test runner's timeout). */
  const until = (check: (s: ProxyMeState) => boolean): Promise<void> =>
    check(state) ? Promise.resolve() : new Promise((resolve) => waiters.push({ check, resolve }));
  port.onPost = notify;
  return { proxyMe, port, proxyCalls, offscreenMessages, offscreenCalls, until, state: () => state };
}

describe('Proxy me', { timeout: 10_000 }, () => {
  test('a missing helper is reported with the install path, and nothing is proxied', async () => {
    const h = harness();
    await h.proxyMe.switchOn();
    h.port.hostGone('Specified native messaging host not found.');
    await h.until((s) => s.phase === 'helper-not-installed');
    assert.equal(h.state().on, true);
    assert.equal(
      h.proxyCalls.some((call) => call.startsWith('socks')),
      false,
    );
  });

  test("a friend's link held for this broker goes with the client path; one of another broker does not", async () => {
    const token = createPairingToken();
    const held = (brokerOrigin: string): Pairings => ({ made: [], held: { token, brokerOrigin, addedAt: 1 } });
    for (const [brokerOrigin, expected] of [
      [new URL(DEFAULT_SETTINGS.brokerUrl).origin, token],
      ['https://other-broker.example.org', undefined],
    ] as const) {
      const h = harness(undefined, undefined, held(brokerOrigin));
      await h.proxyMe.switchOn();
      h.port.fromHelper(ready);
      await h.until(() => h.offscreenMessages.length === 1);
      const start = h.offscreenMessages[0];
      assert.equal(start?.type === 'client-start' ? start.pairingToken : 'not a start', expected);
      await h.proxyMe.switchOff();
    }
  });

  test('the NAT class the helper measured and its STUN servers go with the client path', async () => {
    const h = harness();
    await h.proxyMe.switchOn();
    h.port.fromHelper({ ...ready, nat: 'symmetric', stunUrls: ['stun:stun.example.org:3478'] });
    await h.until(() => h.offscreenMessages.length === 1);
    const start = h.offscreenMessages[0];
    assert.equal(start?.type === 'client-start' ? start.nat : 'not a start', 'symmetric');
    assert.deepEqual(start?.type === 'client-start' ? start.stunUrls : 'not a start', ['stun:stun.example.org:3478'], 'and its STUN servers');
    await h.proxyMe.switchOff();
  });

  test('ready points the browser at the SOCKS port and starts the client path', async () => {
    const h = harness();
    await h.proxyMe.switchOn();
    assert.deepEqual(h.port.posted, [{ type: 'start', exitList, exitId: exit.id, socksPort: 0 }]);
    h.port.fromHelper(ready);
    await h.until((s) => s.phase === 'finding-volunteer' && h.offscreenMessages.length === 1);
    assert.deepEqual(h.proxyCalls, ['webrtc restricted', 'socks 1080 <-loopback>,127.0.0.1:8787,127.0.0.1:4000']);
    assert.equal(h.state().webRtcGuard, 'restricted');
    assert.deepEqual(h.offscreenMessages[0], {
      target: 'offscreen',
      type: 'client-start',
      pipeUrl: ready.pipeUrl,
      token: 'tok',
      brokerUrl: DEFAULT_SETTINGS.brokerUrl,
      exit,
      pathCount: 2,
      stripe: false,
    });
    await h.proxyMe.onClientPathEvent({ kind: 'up', pathsUp: 1 });
    assert.equal(h.state().phase, 'finding-volunteer', 'an open data channel alone is not "connected"');
    h.port.fromHelper({ type: 'status', state: 'connected', bytesUp: 100, bytesDown: 200, streams: 1, pathChanges: 2, paths: 1 });
    await h.until((s) => s.phase === 'connected');
    assert.deepEqual([h.state().connectedSinceMs, h.state().pathChanges, h.state().bytesDown], [1_700_000_000_000, 2, 200]);

    await h.proxyMe.switchOff();
    assert.deepEqual(h.port.posted.at(-1), { type: 'stop' });
    assert.equal(h.port.disconnected, true);
    assert.deepEqual(h.proxyCalls, ['webrtc restricted', 'socks 1080 <-loopback>,127.0.0.1:8787,127.0.0.1:4000', 'restore', 'webrtc restore']);
    assert.deepEqual(h.offscreenMessages.at(-1), { target: 'offscreen', type: 'client-stop' });
    assert.deepEqual(h.offscreenCalls, ['acquire', 'release']);
    assert.deepEqual(h.state(), initialProxyMeState());
  });

  test('an unexpected helper exit fails closed: the proxy setting stays until switched off', async () => {
    const h = harness();
    await h.proxyMe.switchOn();
    h.port.fromHelper(ready);
    await h.until((s) => s.phase === 'finding-volunteer');
    h.port.hostGone('Native host has exited.');
    await h.until((s) => s.phase === 'helper-stopped');
    assert.equal(h.state().detail, 'Native host has exited.');
    assert.deepEqual(h.proxyCalls, ['webrtc restricted', 'socks 1080 <-loopback>,127.0.0.1:8787,127.0.0.1:4000']);
    // Late reports from the offscreen document do not hide the reason.
    await h.proxyMe.onClientPathEvent({ kind: 'up', pathsUp: 1 });
    assert.equal(h.state().phase, 'helper-stopped');
    await h.proxyMe.switchOff();
    assert.deepEqual(h.proxyCalls, ['webrtc restricted', 'socks 1080 <-loopback>,127.0.0.1:8787,127.0.0.1:4000', 'restore', 'webrtc restore']);
  });

  test('a WebRTC policy held by someone else is reported, and Proxy me still runs', async () => {
    const h = harness(undefined, 'not-controllable');
    await h.proxyMe.switchOn();
    h.port.fromHelper(ready);
    await h.until((s) => s.phase === 'finding-volunteer' && h.offscreenMessages.length === 1);
    assert.equal(h.state().webRtcGuard, 'not-controllable');
    await h.proxyMe.switchOff();
    assert.equal(h.state().webRtcGuard, 'untouched');
  });

  test('an unreachable broker is retried while the helper stays connected', async () => {
    let calls = 0;
    const h = harness(async () => {
      calls += 1;
      throw new ExitListError('BROKER_UNREACHABLE', 'Cannot reach the broker at http://127.0.0.1:9.');
    });
    void h.proxyMe.switchOn();
    await h.until((s) => s.phase === 'broker-unreachable');
    assert.equal(calls, 1);
    assert.equal(h.port.disconnected, false);
    await h.proxyMe.switchOff();
    assert.equal(h.port.disconnected, true);
    assert.deepEqual(h.state(), initialProxyMeState());
  });

  test("the broker's own address blocked: a list kept from an earlier run that names rendezvous channels is checked again and used, with the channel that worked last", async () => {
    const operator = new LocalOperator();
    const rendezvous = { brokerKey: 'A'.repeat(43), channels: [{ kind: 'cache' as const, url: 'https://cache.example.net/broker' }] };
    const signed = operator.signExitList([exit], { rendezvous });
    const saved: unknown[] = [];
    const memory: NetworkMemory = {
      loadExitList: async () => signed,
      saveExitList: async (list) => void saved.push(list),
      loadLastChannel: async () => 'cache cache.example.net',
      saveLastChannel: async (channel) => void saved.push(channel),
    };
    const h = harness(
      async () => {
        throw new ExitListError('BROKER_UNREACHABLE', 'Cannot reach the broker at http://127.0.0.1:9.');
      },
      undefined,
      undefined,
      { exitListKeys: [operator.exitListKey], networkMemory: memory },
    );
    await h.proxyMe.switchOn();
    assert.deepEqual(h.port.posted, [{ type: 'start', exitList: signed, exitId: exit.id, socksPort: 0 }], 'the kept list goes to the helper');
    h.port.fromHelper(ready);
    await h.until(() => h.offscreenMessages.length === 1);
    const start = h.offscreenMessages[0];
    assert.deepEqual(start?.type === 'client-start' && start.rendezvous, { ...rendezvous, lastWorked: 'cache cache.example.net' });
    await h.proxyMe.onClientPathEvent({ kind: 'broker-reached', channel: 'cache cache.example.net' });
    assert.equal(h.state().brokerChannel, 'cache cache.example.net');
    assert.deepEqual(saved, ['cache cache.example.net']);
    await h.proxyMe.switchOff();
  });

  test('a kept list is not used when it names no rendezvous channel, nor when the pinned key did not sign it', async () => {
    const operator = new LocalOperator();
    for (const [signed, keys] of [
      [operator.signExitList([exit]), [operator.exitListKey]],
      [
        operator.signExitList([exit], { rendezvous: { brokerKey: 'A'.repeat(43), channels: [{ kind: 'direct', url: 'https://b.example' }] } }),
        [new LocalOperator().exitListKey],
      ],
    ] as const) {
      const memory: NetworkMemory = {
        loadExitList: async () => signed,
        saveExitList: async () => {},
        loadLastChannel: async () => undefined,
        saveLastChannel: async () => {},
      };
      const h = harness(
        async () => {
          throw new ExitListError('BROKER_UNREACHABLE', 'Cannot reach the broker at http://127.0.0.1:9.');
        },
        undefined,
        undefined,
        { exitListKeys: [...keys], networkMemory: memory },
      );
      void h.proxyMe.switchOn();
      await h.until((s) => s.phase === 'broker-unreachable');
      assert.deepEqual(h.port.posted, [], 'the helper got no list');
      await h.proxyMe.switchOff();
    }
  });

  test('a broker list not signed by the pinned key stops with the reason, and the helper is never started', async () => {
    const h = harness(async () => {
      throw new ExitListError('EXIT_LIST_NOT_SIGNED', "The broker's exit list is not signed by the network operator's key.");
    });
    await h.proxyMe.switchOn();
    assert.equal(h.state().phase, 'failed');
    assert.match(h.state().detail ?? '', /not signed/);
    assert.equal(
      h.port.posted.some((message) => message.type === 'start'),
      false,
    );
    assert.equal(h.port.disconnected, true);
  });

  test('a settings problem (unknown exit) stops with a reason instead of retrying', async () => {
    const h = harness(async () => {
      throw new ExitListError('UNKNOWN_EXIT', 'The broker has no exit "zz".');
    });
    await h.proxyMe.switchOn();
    assert.deepEqual([h.state().phase, h.state().detail], ['failed', 'The broker has no exit "zz".']);
    assert.equal(h.port.disconnected, true);
  });

  test('a closed pipe asks the helper for a new token, which restarts the client path', { timeout: 5_000 }, async () => {
    const h = harness();
    await h.proxyMe.switchOn();
    h.port.fromHelper(ready);
    await h.until((s) => s.phase === 'finding-volunteer' && h.offscreenMessages.length === 1);
    await h.proxyMe.onClientPathEvent({ kind: 'pipe-closed', reason: 'code 1006' });
    // PIPE_RECONNECT_DELAY_MS later, the helper is asked for a new token.
    await h.until(() => h.port.posted.some((m) => m.type === 'new-token'));
    h.port.fromHelper({ type: 'token', token: 'tok2' });
    await h.until(() => h.offscreenMessages.length === 2);
    assert.equal((h.offscreenMessages[1] as { token?: string }).token, 'tok2');
    await h.proxyMe.switchOff();
  });
});
