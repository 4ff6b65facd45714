// Proxy me in real Chromium when the broker's own address does not answer: the extension seals its offer to the
// broker's key from the signed list, its direct channel fails, and the helper carries the envelope through a cache
// stand-in (HTTPS with this run's own CA, GET only, re-chunked pages). Then, with the extension's broker address dead
// as well, Proxy me starts from the list it kept, tries the cache first (it worked last), and connects again.
// (Fronting through nginx, with the broker's address dropped in a namespace, is the namespace suite's.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SDP_MARKERS, type StandIn, startCacheStandIn } from '../../harness/cdn-stand-ins.ts';
import { freeLoopbackPort } from '../../harness/free-port.ts';
import { LocalNetwork } from '../../harness/local-network.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { type OriginServer, startOriginServer } from '../../harness/origin-server.ts';
import { startServersInProcess } from '../../harness/servers.ts';
import { socksFetch } from '../../harness/socks-fetch.ts';
import { makeTestCa } from '../../harness/test-ca.ts';
import { KNOWN_EXIT_LIST_STORAGE_KEY, LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY } from '../../protocol/extension-state.ts';
import { generateKeyPair } from '../../protocol/index.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ferry-e2e-rendezvous-'));
let origin: OriginServer;
let servers: Awaited<ReturnType<typeof startServersInProcess>>;
let cache: StandIn;
let network: LocalNetwork;
let deadPort: number;

before(async () => {
  const ca = makeTestCa(scratch);
  origin = await startOriginServer(2 * 1024 * 1024);
  const brokerPort = await freeLoopbackPort();
  deadPort = await freeLoopbackPort();
  cache = await startCacheStandIn({
    certificate: ca.issue(['localhost']),
    upstream: `http://127.0.0.1:${brokerPort}`,
    upstreamHost: `127.0.0.1:${brokerPort}`,
  });
  servers = await startServersInProcess({
    brokerPort,
    rendezvous: {
      keyPair: generateKeyPair(),
      channels: [
        // The broker's own address as the censor leaves it: nothing answers there.
        { kind: 'direct', url: `http://127.0.0.1:${deadPort}`, timeoutMs: 2_000 },
        { kind: 'cache', url: `https://localhost:${cache.port}` },
      ],
    },
  });
  network = await LocalNetwork.start({
    servers,
    volunteers: 1,
    headless: true,
    clientBypassList: ['<-loopback>'],
    clientSettings: { proxyPaths: 1 },
    clientHelperFlags: ['--rendezvous-ca', ca.caPath],
    connectClient: false,
  });
});

after(async () => {
  await network?.stop();
  await servers?.stop();
  await cache?.close();
  await origin?.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function connectedDownload(): Promise<void> {
  await network.client.setSwitch('proxy-me', true);
  const state = await network.client.waitForProxyMe(['connected']);
  const result = await socksFetch(state.proxyMe.socksPort, `http://localhost:${origin.port}/file`, { timeoutSeconds: 60 });
  assert.ok(result.ok, result.stderr);
  assert.equal(result.sha256, origin.sha256);
}

test('the direct channel dead: the sealed offer reaches the broker through the cache, and the popup says so', async () => {
  await connectedDownload();
  const channel = `cache localhost:${cache.port}`;
  assert.equal((await network.client.state()).proxyMe.brokerChannel, channel);
  assert.match((await network.client.popup.locator('#proxy-me-broker-channel').textContent()) ?? '', new RegExp(`Broker reached through.*${channel}`));
  const requests = cache.log.filter((entry) => entry.path.startsWith('/v1/rendezvous/'));
  assert.ok(requests.length >= 1 && requests.every((entry) => entry.method === 'GET' && entry.status === 200));
  assert.ok(!cache.log.some((entry) => SDP_MARKERS.test(entry.path)), 'the cache saw no SDP');
  await network.client.setSwitch('proxy-me', false);
  await network.client.waitForProxyMe(['off']);
});

test("the broker's address dead for the extension too: Proxy me starts from the kept list and goes through the cache first", async () => {
  const before = cache.log.length;
  await network.client.changeSettings({ brokerUrl: `http://127.0.0.1:${deadPort}` });
  await connectedDownload();
  const requests = cache.log.slice(before).filter((entry) => entry.path.startsWith('/v1/rendezvous/'));
  assert.ok(requests.length >= 1, 'the cache carried the offer');
  assert.equal((await network.client.state()).proxyMe.brokerChannel, `cache localhost:${cache.port}`);
});

test('the settings page lists the channels, the one that worked last first; on a profile that never reached the broker, a pasted configuration is checked, kept, and Proxy me connects', async () => {
  const user = network.client;
  await user.setSwitch('proxy-me', false);
  await user.waitForProxyMe(['off']);
  const options = await user.browser.openExtensionPage('extension/options/options.html');
  try {
    const listed = options.locator('#network-channels-list li');
    await listed.first().waitFor({ timeout: 10_000 });
    const channels = await listed.allTextContents();
    assert.equal(channels.length, 2);
    assert.match(channels[0] ?? '', new RegExp(`^Through a cache \\(by the helper\\): .*cache localhost:${cache.port}.*worked last, so tried first`));
    assert.match(channels[1] ?? '', new RegExp(`^Direct: .*direct 127\\.0\\.0\\.1:${deadPort}`));
    assert.match((await options.locator('#network-config-valid-until').textContent()) ?? '', /valid until/);

    // What a friend would copy: the kept configuration as the page copies it. Then a fresh start, as on a computer
    // that never reached the broker: nothing kept.
    const kept = await options.evaluate(async (key) => (await chrome.storage.local.get(key))[key], KNOWN_EXIT_LIST_STORAGE_KEY);
    await options.evaluate(async (keys) => chrome.storage.local.remove(keys), [KNOWN_EXIT_LIST_STORAGE_KEY, LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY]);
    await options.reload();
    await options.locator('#network-channels-unknown').waitFor({ timeout: 10_000 });
    await user.setSwitch('proxy-me', true);
    await user.waitForProxyMe(['broker-unreachable'], 45_000);
    await user.setSwitch('proxy-me', false);
    await user.waitForProxyMe(['off']);

    const paste = async (text: string): Promise<void> => {
      await options.locator('#network-config-paste').fill(text);
      await options.locator('#network-config-use').click();
    };
    await paste('not a configuration');
    await options
      .locator('#network-config-refusal')
      .filter({ hasText: /Not kept: this is not a signed configuration/ })
      .waitFor({ timeout: 10_000 });
    await paste(JSON.stringify(new LocalOperator().signExitList([servers.exit])));
    await options
      .locator('#network-config-refusal')
      .filter({ hasText: /Not kept: .*sign/i })
      .waitFor({ timeout: 10_000 });
    assert.equal(await options.locator('#network-channels-unknown').count(), 1, 'a refused configuration is not kept');
    await paste(JSON.stringify(kept));
    await options
      .locator('#network-config-notice')
      .filter({ hasText: /Checked and kept/ })
      .waitFor({ timeout: 10_000 });
    assert.equal(await listed.count(), 2, 'the pasted channels are listed');

    await connectedDownload();
    assert.equal((await user.state()).proxyMe.brokerChannel, `cache localhost:${cache.port}`);
  } finally {
    await options.close();
  }
});
