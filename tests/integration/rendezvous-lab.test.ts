// The fronted rendezvous over real network namespaces (harness/nat-lab.ts), with Debian's nginx as the CDN:
//
//   public segment: broker (with a rendezvous key), exit, origin          203.0.113.10
//   host 0: a Node volunteer (ferry volunteer)                           203.0.113.11
//   host 1: the client (helper + the extension's client path), whose nftables drop every packet to 203.0.113.10,
//           and whose /etc/hosts names the CDN                           203.0.113.12
//   host 2: nginx, TLS as "cdn.test" (this run's own CA), routing Host broker.test to the broker   203.0.113.13
//   host 3: a cache stand-in as "cache.test" (GET only, pages kept 15 s and re-chunked, errors as 404)  203.0.113.14
//
// The signed list names three channels: direct to the broker (dropped), fronted via cdn.test, and the cache. A capture
// on the client's interface shows the TLS name is the front's and no packet goes to the broker's address; nginx's log
// shows Host = broker.test, and no SDP or address; a request for another Host is refused. With the front dropped as
// well, the offer goes through the cache. Every address is the lab's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SDP_MARKERS } from '../../harness/cdn-stand-ins.ts';
import { FerryUser } from '../../harness/ferry-user.ts';
import { closeUserAndHelper, FERRY, startCapture, startLabOrigin, startLabServers, waitForBrokerPools } from '../../harness/lab-servers.ts';
import { NatLab, natLabPrerequisites } from '../../harness/nat-lab.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { type CapturedPacket, clientHelloServerName, readPcap, tsharkFields } from '../../harness/packet-capture.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { collectLines } from '../../harness/processes.ts';
import { makeTestCa } from '../../harness/test-ca.ts';
import { waitFor } from '../../harness/wait.ts';
import type { NetworkRendezvous } from '../../protocol/exit-list.ts';
import { KNOWN_EXIT_LIST_STORAGE_KEY } from '../../protocol/extension-state.ts';
import { generateKeyPair, toBase64Url } from '../../protocol/index.ts';

const CLIENT = join(REPO_ROOT, 'tests', 'integration', 'support', 'rendezvous-client.ts');
const CACHE = join(REPO_ROOT, 'tests', 'integration', 'support', 'cache-process.ts');
const BROKER_PORT = 8787;
const EXIT_PORT = 8788;
const FRONT_NAME = 'cdn.test';
const BROKER_NAME = 'broker.test';
const CACHE_NAME = 'cache.test';
const SETUP_TIMEOUT_MS = 90_000;

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip;
let lab: NatLab | undefined;
let captureFile = '';
let nginxLog = '';
let nginxConfig = '';
let caPath = '';
let origin = { port: 0, sha256: '' };
let exit = { id: 'local', url: '', publicKey: '' };
let rendezvous = { brokerKey: '', channels: [] as unknown[] };
let operatorKey = '';
let signedList: unknown;
const FRONT_HOST_INDEX = 2;
const CLIENT_HOST_INDEX = 1;
/** What the cache stand-in logged, one JSON line per request. */
let cacheLog: string[] = [];

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the lab cannot run: ${prerequisites.missing}`);
    lab = await NatLab.start({ hosts: ['no-nat', 'no-nat', 'no-nat', 'no-nat'] });
    const dir = await lab.tempDirectory();
    const [volunteerHost, clientHost, frontHost, cacheHost] = lab.hosts;
    assert.ok(volunteerHost && clientHost && frontHost && cacheHost);
    const ca = makeTestCa(dir);
    caPath = ca.caPath;
    const frontCertificate = ca.issue([FRONT_NAME]);
    const operator = new LocalOperator();
    const service = lab.publicServiceAddress;

    origin = await startLabOrigin(lab, lab.publicNamespace, 2 * 1024 * 1024);
    const brokerKey = generateKeyPair();
    const keyFile = join(dir, 'broker-rendezvous.key');
    await writeFile(keyFile, `${toBase64Url(brokerKey.secretKey)}\n`, { mode: 0o600 });
    rendezvous = {
      brokerKey: toBase64Url(brokerKey.publicKey),
      channels: [
        { kind: 'direct', url: `http://${service}:${BROKER_PORT}`, timeoutMs: 2_000 },
        { kind: 'fronted', url: `https://${BROKER_NAME}`, front: FRONT_NAME },
        { kind: 'cache', url: `https://${CACHE_NAME}` },
      ],
    };
    operatorKey = operator.exitListKey;
    // The exit reaches the origin on its own namespace's loopback.
    const servers = await startLabServers(lab, {
      operator,
      exitPort: EXIT_PORT,
      brokerPort: BROKER_PORT,
      exitFlags: ['--allow-loopback'],
      brokerFlags: ['--rendezvous-key-file', keyFile],
      rendezvous: rendezvous as NetworkRendezvous,
    });
    exit = servers.exit;
    signedList = servers.signedList;

    const volunteer = lab.spawn(volunteerHost.namespace, process.execPath, [
      FERRY,
      'volunteer',
      '--engine',
      'node-datachannel',
      '--broker',
      `http://${service}:${BROKER_PORT}`,
      '--exit-list-key',
      operator.exitListKey,
    ]);
    const volunteerOut = [collectLines(volunteer.stdout), collectLines(volunteer.stderr)];
    // The broker counts the volunteer once it has said hello.
    await waitForBrokerPools(lab, servers.brokerUrl, /ferry_broker_volunteers\{kind="headless",nat="unknown"\} 1/, 'the volunteer to wait at the broker').catch(
      (error: unknown) => {
        throw new Error(`${error instanceof Error ? error.message : String(error)}; the volunteer said: ${volunteerOut.flat().slice(-20).join('\n')}`);
      },
    );

    // The CDN: nginx in its own namespace, serving only Host broker.test, passing it to the broker.
    nginxLog = join(dir, 'nginx-access.log');
    nginxConfig = join(dir, 'nginx.conf');
    await writeFile(
      nginxConfig,
      `daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
events { worker_connections 64; }
http {
  log_format front 'host=$host sni=$ssl_server_name method=$request_method uri=$uri status=$status';
  access_log ${nginxLog} front;
  client_body_temp_path ${join(dir, 'nginx-body')};
  proxy_temp_path ${join(dir, 'nginx-proxy')};
  server {
    listen ${frontHost.address}:443 ssl;
    server_name ${FRONT_NAME};
    ssl_certificate ${frontCertificate.certPath};
    ssl_certificate_key ${frontCertificate.keyPath};
    location / {
      if ($host != ${BROKER_NAME}) { return 421; }
      proxy_pass http://${service}:${BROKER_PORT};
      proxy_set_header Host $host;
    }
  }
}
`,
    );
    lab.spawn(frontHost.namespace, '/usr/sbin/nginx', ['-c', nginxConfig, '-p', dir]);
    await waitFor(
      async () =>
        (await lab?.run(clientHost.namespace, 'sh', ['-c', `exec 3<>/dev/tcp/${frontHost.address}/443`], { timeoutMs: 2_000 }))?.code === 0 || undefined,
      'nginx to listen',
      { timeoutMs: 15_000, intervalMs: 200 },
    ).catch(() => undefined);

    const cacheCertificate = ca.issue([CACHE_NAME]);
    const cache = lab.spawn(cacheHost.namespace, process.execPath, [
      '--import',
      'tsx',
      CACHE,
      cacheHost.address,
      cacheCertificate.certPath,
      cacheCertificate.keyPath,
      `http://${service}:${BROKER_PORT}`,
      `${service}:${BROKER_PORT}`,
    ]);
    cacheLog = collectLines(cache.stdout);
    await waitFor(() => cacheLog.some((line) => line.includes('"ready"')), 'the cache stand-in to listen', { timeoutMs: 20_000 });

    // The client's namespace: the CDN's and the cache's names resolve; the broker's address is dropped.
    await lab.writeHostsFile(clientHost.namespace, [
      { address: frontHost.address, name: FRONT_NAME },
      { address: cacheHost.address, name: CACHE_NAME },
    ]);
    const dropBroker = `table inet ferry_censor {\n  chain output {\n    type filter hook output priority 0;\n    ip daddr ${service} drop\n  }\n}\n`;
    const nft = await lab.run(clientHost.namespace, 'sh', ['-c', `printf '%s' '${dropBroker}' | nft -f -`], { timeoutMs: 5_000 });
    assert.equal(nft.code, 0, nft.stderr);
    captureFile = join(dir, 'client.pcap');
    await startCapture(lab, clientHost.namespace, captureFile);
  },
  { timeout: SETUP_TIMEOUT_MS },
);

after(async () => {
  await lab?.close();
});

/** The TLS server names of the ClientHellos in a capture. */
function serverNames(packets: readonly CapturedPacket[]): string[] {
  return packets.flatMap((packet) => {
    const name = packet.protocol === 'tcp' ? clientHelloServerName(packet.payload) : undefined;
    return name === undefined ? [] : [name];
  });
}

/** The client's Chromium in `namespace`, with the helper installed: the broker's address is dropped from the start, so the list comes from an earlier run (or a friend), as kept. */
function launchClientBrowser(running: NatLab, namespace: string): Promise<FerryUser> {
  return FerryUser.launch({
    brokerUrl: `http://${running.publicServiceAddress}:${BROKER_PORT}`,
    exitListKey: operatorKey,
    headless: true,
    installHelper: true,
    helperFlags: ['--rendezvous-ca', caPath],
    namespace,
    settings: { [KNOWN_EXIT_LIST_STORAGE_KEY]: signedList, proxyPaths: 1 },
  });
}

/** The client stand-in in `namespace`: its sealed offers over the list's channels, then one download; its result. */
async function runClient(running: NatLab, namespace: string): Promise<{ ok: boolean; sha256?: string; reached: string[] }> {
  const run = await running.run(
    namespace,
    process.execPath,
    [
      '--import',
      'tsx',
      CLIENT,
      JSON.stringify(exit),
      JSON.stringify(rendezvous),
      caPath,
      `http://${running.publicServiceAddress}:${BROKER_PORT}`,
      `http://127.0.0.1:${origin.port}/file`,
    ],
    { timeoutMs: 100_000 },
  );
  const line = run.stdout.split('\n').find((candidate) => candidate.startsWith('{'));
  assert.ok(line, `the client printed no result: ${run.stderr.slice(-2000)}`);
  const result = JSON.parse(line) as { ok: boolean; sha256?: string; reached: string[]; errors: string[]; error?: string };
  assert.ok(result.ok, `${result.error ?? ''} ${result.errors.join('; ')} ${run.stderr.slice(-1500)}`);
  assert.equal(result.sha256, origin.sha256);
  return result;
}

test('the broker address dropped: the helper fronts the sealed offer through nginx, and the download is intact', { skip, timeout: 120_000 }, async () => {
  assert.ok(lab);
  const clientHost = lab.hosts[CLIENT_HOST_INDEX];
  const frontHost = lab.hosts[FRONT_HOST_INDEX];
  assert.ok(clientHost && frontHost);
  const result = await runClient(lab, clientHost.namespace);
  assert.deepEqual([...new Set(result.reached)], [`fronted via ${FRONT_NAME} to ${BROKER_NAME}`]);

  // What crossed the client's wire: TLS named only the front, and nothing went to the broker's address.
  await new Promise((resolve) => setTimeout(resolve, 500)); // dumpcap writes what it captured every 100 ms; let the last land
  const packets = readPcap(captureFile);
  const names = serverNames(packets);
  assert.ok(names.length >= 1, 'the capture holds the ClientHello to the front');
  assert.deepEqual([...new Set(names)], [FRONT_NAME], 'every TLS name the client sent is the front');
  // Wireshark's reading of the same capture says the same: a dissector that is not ours.
  const tsharkNames = tsharkFields(captureFile, 'tls.handshake.type == 1', ['tls.handshake.extensions_server_name']).map(([name]) => name);
  assert.ok(tsharkNames.length >= 1, 'tshark finds the ClientHello too');
  assert.deepEqual([...new Set(tsharkNames)], [FRONT_NAME], "tshark: every TLS name is the front's");
  assert.deepEqual(tsharkFields(captureFile, `ip.dst == ${lab.publicServiceAddress}`, ['frame.number']), [], "tshark: no packet to the broker's address");
  assert.deepEqual(
    packets.filter((packet) => packet.destination === lab?.publicServiceAddress),
    [],
    "no packet on the client's wire went to the broker's address",
  );
  assert.ok(
    packets.some((packet) => packet.destination === frontHost.address),
    'the capture saw the traffic to the front',
  );

  // What the CDN saw: Host = the broker, TLS name = the front; no SDP, no candidate, no client address.
  const log = readFileSync(nginxLog, 'utf8');
  const rendezvousLines = log.split('\n').filter((entry) => entry.includes('uri=/v1/rendezvous'));
  assert.ok(rendezvousLines.length >= 1, log);
  for (const entry of rendezvousLines) assert.match(entry, new RegExp(`^host=${BROKER_NAME} sni=${FRONT_NAME} method=POST uri=/v1/rendezvous status=200$`));
  assert.doesNotMatch(log, SDP_MARKERS);
  assert.ok(!log.includes(clientHost.address), "nginx's log holds no client address");
});

test('Proxy me in real Chromium, in the client namespace: from the list it kept, through the front, to a volunteer', { skip, timeout: 150_000 }, async () => {
  assert.ok(lab);
  const clientHost = lab.hosts[CLIENT_HOST_INDEX];
  assert.ok(clientHost);
  const user = await launchClientBrowser(lab, clientHost.namespace);
  try {
    await user.setSwitch('proxy-me', true);
    const state = await user.waitForProxyMe(['connected'], 90_000).catch(async (error: unknown) => {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}; popup: ${await user.statusText('proxy-me')}; browser: ${user.browser.recentOutput.slice(-1500)}`,
      );
    });
    assert.equal(state.proxyMe.brokerChannel, `fronted via ${FRONT_NAME} to ${BROKER_NAME}`);
    const file = join(await lab.tempDirectory(), 'chromium-download');
    const fetched = await lab.run(
      clientHost.namespace,
      'curl',
      ['-s', '--max-time', '60', '--socks5-hostname', `127.0.0.1:${state.proxyMe.socksPort}`, '-o', file, `http://127.0.0.1:${origin.port}/file`],
      { timeoutMs: 70_000 },
    );
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), origin.sha256);
    // The capture of the client's wire, now with Chromium's traffic in it too: still the front's name only, and
    // nothing to the broker.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const packets = readPcap(captureFile);
    assert.deepEqual([...new Set(serverNames(packets))], [FRONT_NAME]);
    assert.equal(packets.filter((packet) => packet.destination === lab?.publicServiceAddress).length, 0);
  } finally {
    await closeUserAndHelper(user);
  }
});

test('nginx refuses a request for a Host it does not front', { skip, timeout: 30_000 }, async () => {
  assert.ok(lab);
  const clientHost = lab.hosts[CLIENT_HOST_INDEX];
  assert.ok(clientHost);
  const refused = await lab.run(
    clientHost.namespace,
    'curl',
    ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', caPath, '-H', 'Host: elsewhere.test', `https://${FRONT_NAME}/v1/rendezvous`],
    { timeoutMs: 10_000 },
  );
  assert.equal(refused.stdout, '421', refused.stderr);
});

test('the front dropped as well: the sealed offer goes through the cache (GET only, re-chunked page), and the download is intact', {
  skip,
  timeout: 120_000,
}, async () => {
  assert.ok(lab);
  const clientHost = lab.hosts[CLIENT_HOST_INDEX];
  const frontHost = lab.hosts[FRONT_HOST_INDEX];
  assert.ok(clientHost && frontHost);
  const dropFront = await lab.run(clientHost.namespace, 'nft', ['add', 'rule', 'inet', 'ferry_censor', 'output', 'ip', 'daddr', frontHost.address, 'drop'], {
    timeoutMs: 5_000,
  });
  assert.equal(dropFront.code, 0, dropFront.stderr);
  const before = cacheLog.length;
  const result = await runClient(lab, clientHost.namespace);
  assert.deepEqual([...new Set(result.reached)], [`cache ${CACHE_NAME}`]);
  const requests = cacheLog
    .slice(before)
    .filter((line) => line.startsWith('{"method"'))
    .map((line) => JSON.parse(line) as { method: string; path: string; status: number });
  assert.ok(requests.length >= 1 && requests.every((entry) => entry.method === 'GET' && entry.path.startsWith('/v1/rendezvous/') && entry.status === 200));
  assert.doesNotMatch(cacheLog.join('\n'), SDP_MARKERS, 'the cache saw no SDP');
  assert.ok(!cacheLog.join('\n').includes(clientHost.address), "the cache's log holds no client address");
});

test('every channel dropped: the popup says the network cannot be reached, naming each channel and why it failed', { skip, timeout: 120_000 }, async () => {
  assert.ok(lab);
  const clientHost = lab.hosts[CLIENT_HOST_INDEX];
  const cacheHost = lab.hosts[3];
  assert.ok(clientHost && cacheHost);
  const dropCache = await lab.run(clientHost.namespace, 'nft', ['add', 'rule', 'inet', 'ferry_censor', 'output', 'ip', 'daddr', cacheHost.address, 'drop'], {
    timeoutMs: 5_000,
  });
  assert.equal(dropCache.code, 0, dropCache.stderr);
  const user = await launchClientBrowser(lab, clientHost.namespace);
  try {
    await user.setSwitch('proxy-me', true);
    // Bounded: the three channels' timeouts (2 + 10 + 12 s), then the popup says so.
    await user.waitForProxyMe(['broker-unreachable'], 45_000);
    assert.match(await user.statusText('proxy-me'), /Cannot reach the network/);
    const detail = (await user.popup.locator('#proxy-me-detail').textContent()) ?? '';
    assert.match(detail, new RegExp(`direct ${lab.publicServiceAddress.replaceAll('.', '\\.')}:${BROKER_PORT}: no answer within 2 s`));
    assert.match(detail, new RegExp(`fronted via ${FRONT_NAME} to ${BROKER_NAME}: no answer within 10 s`));
    assert.match(detail, new RegExp(`cache ${CACHE_NAME}: no answer within 12 s`));
  } finally {
    await closeUserAndHelper(user);
  }
});
