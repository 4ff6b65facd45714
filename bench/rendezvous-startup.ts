/**
 * @module bench/rendezvous-startup
 * Proxy me on -> first proxied byte, through each rendezvous channel: direct (the baseline), fronted through a TLS
 * front stand-in that routes by Host, and through a cache stand-in (harness/cdn-stand-ins.ts), all on this machine
 * with a CA made for the run. One network serves all three: before each start the extension is told which channel
 * worked last (its own memory, chrome.storage.local), so that channel is tried first and carries the offer; runs
 * alternate between the channels, so a busy moment of the machine does not fall on one channel only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCacheStandIn, startFrontStandIn } from '../harness/cdn-stand-ins.ts';
import { freeLoopbackPort } from '../harness/free-port.ts';
import { LocalNetwork } from '../harness/local-network.ts';
import type { OriginServer } from '../harness/origin-server.ts';
import { startServersInProcess } from '../harness/servers.ts';
import { makeTestCa } from '../harness/test-ca.ts';
import { LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY } from '../protocol/extension-state.ts';
import { generateKeyPair } from '../protocol/index.ts';
import { channelName, type RendezvousChannel, type RendezvousChannelKind } from '../protocol/rendezvous.ts';

/** The broker's public name behind the front (the front routes by it; nothing resolves it). */
const BROKER_HOST = 'broker.test';

export type RendezvousStartups = Record<RendezvousChannelKind, number[]>;

/**
 * `runs` start-ups through each channel (s), each from switching Proxy me on to the first byte of a small page.
 * `timeToFirstByte(socksPort, url)` is the bench's curl measurement.
 */
export async function measureRendezvousStartups(
  origin: OriginServer,
  runs: number,
  timeToFirstByte: (socksPort: number, url: string) => Promise<number>,
): Promise<RendezvousStartups> {
  const scratch = mkdtempSync(join(tmpdir(), 'ferry-bench-rendezvous-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const ca = makeTestCa(scratch);
    const certificate = ca.issue(['localhost']);
    const brokerPort = await freeLoopbackPort();
    const brokerUpstream = `http://127.0.0.1:${brokerPort}`;
    const front = await startFrontStandIn({ certificate, routes: { [BROKER_HOST]: brokerUpstream } });
    cleanups.push(() => front.close());
    const cache = await startCacheStandIn({ certificate, upstream: brokerUpstream, upstreamHost: `127.0.0.1:${brokerPort}` });
    cleanups.push(() => cache.close());
    const channels: Record<RendezvousChannelKind, RendezvousChannel> = {
      direct: { kind: 'direct', url: brokerUpstream },
      fronted: { kind: 'fronted', url: `https://${BROKER_HOST}`, front: `localhost:${front.port}` },
      cache: { kind: 'cache', url: `https://localhost:${cache.port}` },
    };
    const servers = await startServersInProcess({ brokerPort, rendezvous: { keyPair: generateKeyPair(), channels: Object.values(channels) } });
    cleanups.push(() => servers.stop());
    const network = await LocalNetwork.start({
      servers,
      volunteers: 1,
      headless: true,
      clientBypassList: ['<-loopback>'],
      clientSettings: { proxyPaths: 1 },
      clientHelperFlags: ['--rendezvous-ca', ca.caPath],
      connectClient: false,
    });
    cleanups.push(() => network.stop());
    const startups: RendezvousStartups = { direct: [], fronted: [], cache: [] };
    for (let run = 0; run < runs; run++) {
      for (const kind of Object.keys(channels) as RendezvousChannelKind[]) {
        const name = channelName(channels[kind]);
        await network.client.changeSettings({ [LAST_RENDEZVOUS_CHANNEL_STORAGE_KEY]: name });
        const started = performance.now();
        await network.client.setSwitch('proxy-me', true);
        const state = await network.client.waitForProxyMe(['finding-volunteer', 'connected']);
        const untilCurl = (performance.now() - started) / 1000;
        const firstByte = await timeToFirstByte(state.proxyMe.socksPort, `http://localhost:${origin.port}/page.html`);
        const reached = (await network.client.state()).proxyMe.brokerChannel;
        if (reached !== name) throw new Error(`the ${kind} start-up reached the broker through "${reached}", not "${name}"`);
        startups[kind].push(untilCurl + firstByte);
        await network.client.setSwitch('proxy-me', false);
        await network.client.waitForProxyMe(['off']);
      }
    }
    return startups;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
}
