// Which DTLS handshakes cross the border, captured on the wire in lab namespaces (dumpcap on the answerer's host; each
// hello read by our parser and by tshark, which must agree) and compared field by field (version, cipher suites,
// extensions, groups, signature algorithms, SRTP profiles). In a data channel the answerer, the volunteer, sends the
// ClientHello, and the offerer, the client, the ServerHello:
// - the reference: a plain Chromium page answering an offer;
// - the extension volunteer's ClientHello, and `ferry volunteer`'s with its default engine (its own headless
//   Chromium), must equal it; extension order is compared as a set, since Chromium shuffles it on every handshake;
// - the Ferry client's ServerHello (Proxy me, the extension's offscreen document) must equal a plain page's;
// - `ferry volunteer --engine node-datachannel` (libdatachannel, OpenSSL) is captured and its difference printed:
//   docs/threat-model.md says why that engine is the explicit, lighter choice and what it costs.
// A test fails if the browser handshakes drift apart.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FerryBrowser } from '../../harness/chromium.ts';
import { FerryUser } from '../../harness/ferry-user.ts';
import { closeUserAndHelper, FERRY, startCapture, startLabServers, waitForBrokerPools } from '../../harness/lab-servers.ts';
import { NatLab, natLabPrerequisites } from '../../harness/nat-lab.ts';
import { LocalOperator } from '../../harness/operator.ts';
import {
  type DtlsClientHelloFields,
  type DtlsServerHelloFields,
  dtlsClientHello,
  dtlsServerHello,
  normaliseGrease,
  readPcap,
  tsharkFields,
} from '../../harness/packet-capture.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { collectLines, terminate } from '../../harness/processes.ts';
import { waitFor } from '../../harness/wait.ts';
import { DATA_CHANNEL_LABEL } from '../../protocol/signaling.ts';

const OFFERER = join(REPO_ROOT, 'tests', 'integration', 'support', 'dtls-offerer.ts');
const BROKER_PORT = 8787;
const EXIT_PORT = 8788;

const prerequisites = await natLabPrerequisites();
const skip = prerequisites.skip;
let lab: NatLab | undefined;
let brokerUrl = '';
let operatorKey = '';
let captures = 0;

before(
  async () => {
    if (skip) return;
    if (prerequisites.missing) throw new Error(`the lab cannot run: ${prerequisites.missing}`);
    lab = await NatLab.start({ hosts: ['no-nat', 'no-nat'] });
    const service = lab.publicServiceAddress;
    // Chromium gathers no host candidate in a page on a network with no default route (the extension does): give
    // both hosts one, into the public segment, as any real host has.
    for (const host of lab.hosts) {
      const route = await lab.run(host.namespace, 'ip', ['route', 'add', 'default', 'via', service], { timeoutMs: 5_000 });
      assert.equal(route.code, 0, route.stderr);
    }
    const operator = new LocalOperator();
    operatorKey = operator.exitListKey;
    ({ brokerUrl } = await startLabServers(lab, { operator, exitPort: EXIT_PORT, brokerPort: BROKER_PORT }));
  },
  { timeout: 60_000 },
);

after(async () => {
  await lab?.close();
});

/**
 * Captures the answerer's host while `connect()` runs: the first DTLS ClientHello the answerer sent (a data channel's
 * answerer is the DTLS client) and the first ServerHello the offerer sent back.
 */
async function captureHandshake(connect: () => Promise<void>): Promise<{ clientHello: DtlsClientHelloFields; serverHello: DtlsServerHelloFields | undefined }> {
  assert.ok(lab);
  const [offerer, answerer] = lab.hosts;
  assert.ok(offerer && answerer);
  captures += 1;
  const file = join(await lab.tempDirectory(), `dtls-${captures}.pcap`);
  const capture = await startCapture(lab, answerer.namespace, file, 'udp');
  try {
    await connect();
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    await terminate(capture, 5_000);
  }
  const packets = readPcap(file).filter((packet) => packet.protocol === 'udp');
  const sent = packets.filter((packet) => packet.source === answerer.address);
  const clientHello = dtlsClientHello(sent.map((packet) => packet.payload));
  assert.ok(clientHello, `the answerer sent a whole DTLS ClientHello (${sent.length} UDP datagrams captured)`);
  // Wireshark's reading of the same capture (it reassembles the fragments itself): a dissector that is not ours.
  // The first whole hello: the frames before it carry fragments, whose fields tshark shows only once reassembled.
  const dissected = tsharkFields(file, `ip.src == ${answerer.address} && dtls.handshake.type == 1`, [
    'dtls.handshake.ciphersuite',
    'dtls.handshake.extension.type',
    'dtls.handshake.extensions_supported_group',
    'dtls.handshake.sig_hash_alg',
    'dtls.use_srtp.protection_profile',
  ]).find((row) => (row[0] ?? '') !== '');
  assert.ok(dissected, 'tshark finds the ClientHello too');
  const numbers = (field: string | undefined): number[] =>
    field === undefined || field === '' ? [] : field.split(',').map((value) => normaliseGrease(Number(value)));
  assert.deepEqual(
    {
      cipherSuites: numbers(dissected[0]),
      extensions: numbers(dissected[1]),
      supportedGroups: numbers(dissected[2]),
      signatureAlgorithms: numbers(dissected[3]),
      srtpProfiles: numbers(dissected[4]),
    },
    {
      cipherSuites: clientHello.cipherSuites,
      extensions: clientHello.extensions,
      supportedGroups: clientHello.supportedGroups,
      signatureAlgorithms: clientHello.signatureAlgorithms,
      srtpProfiles: clientHello.srtpProfiles,
    },
    'tshark reads the same hello as our parser',
  );
  const serverHello = dtlsServerHello(packets.filter((packet) => packet.source === offerer.address).map((packet) => packet.payload));
  return { clientHello, serverHello };
}

/** The answerer's ClientHello while `answer()` runs. */
async function captureClientHello(answer: () => Promise<void>): Promise<DtlsClientHelloFields> {
  return (await captureHandshake(answer)).clientHello;
}

/** An offer from host 0 through the broker, answered by whichever volunteer waits there; resolves once its channel opened. */
async function offerThroughBroker(): Promise<void> {
  assert.ok(lab);
  const offerer = lab.hosts[0];
  assert.ok(offerer);
  const run = await lab.run(offerer.namespace, process.execPath, ['--import', 'tsx', OFFERER, 'broker', brokerUrl, 'local'], { timeoutMs: 40_000 });
  assert.match(run.stdout, /"open":true/, `the data channel to the volunteer did not open: ${run.stdout} ${run.stderr.slice(-800)}`);
}

let plainPage: DtlsClientHelloFields | undefined;

/** The fields as a classifier can compare them: the extensions as a set, the rest as sent. */
function comparable(hello: DtlsClientHelloFields): DtlsClientHelloFields {
  return { ...hello, extensions: [...hello.extensions].sort((a, b) => a - b) };
}

test('a plain Chromium page answering an offer: its ClientHello is the reference', { skip, timeout: 90_000 }, async () => {
  assert.ok(lab);
  const [offererHost, answererHost] = lab.hosts;
  assert.ok(offererHost && answererHost);
  // Real host addresses, not mDNS names, in its candidates (mDNS does not resolve in the lab); ICE only, not DTLS.
  const browser = await FerryBrowser.launch({
    headless: true,
    namespace: answererHost.namespace,
    extraArgs: ['--disable-features=WebRtcHideLocalIpsWithMdns'],
  });
  try {
    const page = await browser.context.newPage();
    plainPage = await captureClientHello(async () => {
      const offerer = lab?.spawn(offererHost.namespace, process.execPath, ['--import', 'tsx', OFFERER, 'page'], { stdio: ['pipe', 'pipe', 'pipe'] });
      assert.ok(offerer);
      const out = collectLines(offerer.stdout);
      const offerLine = await waitFor(() => out.find((line) => line.startsWith('{"offer"')), 'the offer', { timeoutMs: 15_000 });
      const { offer } = JSON.parse(offerLine) as { offer: RTCSessionDescriptionInit };
      const answer = await page.evaluate(async (remote) => {
        const pc = new RTCPeerConnection();
        (window as unknown as { pc: RTCPeerConnection }).pc = pc;
        await pc.setRemoteDescription(remote);
        await pc.setLocalDescription(await pc.createAnswer());
        await new Promise<void>((resolve) => {
          if (pc.iceGatheringState === 'complete') resolve();
          pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
          setTimeout(resolve, 3_000);
        });
        return { type: 'answer', sdp: pc.localDescription?.sdp ?? '' };
      }, offer);
      offerer.stdin?.write(`${JSON.stringify({ answer })}\n`);
      await waitFor(() => out.find((line) => line.startsWith('{"open"')), 'the data channel', { timeoutMs: 30_000 });
      assert.ok(
        out.some((line) => line === '{"open":true}'),
        out.join('\n'),
      );
    });
    assert.ok(plainPage.cipherSuites.length > 0 && plainPage.extensions.length > 0, JSON.stringify(plainPage));
  } finally {
    await browser.close();
  }
});

test("the extension volunteer's ClientHello equals the plain page's, field by field", { skip, timeout: 120_000 }, async () => {
  assert.ok(lab && plainPage, 'the reference was captured');
  const answererHost = lab.hosts[1];
  assert.ok(answererHost);
  const volunteer = await FerryUser.launch({ brokerUrl, exitListKey: operatorKey, headless: true, namespace: answererHost.namespace });
  try {
    await volunteer.setSwitch('help-others', true);
    await volunteer.waitForHelpOthers(['waiting']);
    const hello = await captureClientHello(offerThroughBroker);
    // Chromium (BoringSSL) shuffles its extensions' order on every handshake, so that no one can match on it: the
    // same set, in any order, is the same browser. Every other field must be equal, in order.
    assert.deepEqual(comparable(hello), comparable(plainPage));
  } finally {
    await volunteer.close();
  }
});

/** A `ferry volunteer` in the answerer's host, waiting at the broker; `engine` undefined = its default. */
async function startFerryVolunteer(engine?: 'node-datachannel'): Promise<ChildProcess> {
  assert.ok(lab);
  const answererHost = lab.hosts[1];
  assert.ok(answererHost);
  const volunteer = lab.spawn(answererHost.namespace, process.execPath, [
    FERRY,
    'volunteer',
    ...(engine === undefined ? [] : ['--engine', engine]),
    '--broker',
    brokerUrl,
    '--exit-list-key',
    operatorKey,
  ]);
  await waitForBrokerPools(lab, brokerUrl, /ferry_broker_volunteers\{kind="headless",nat="unknown"\} 1/, 'ferry volunteer to wait at the broker', 60_000);
  return volunteer;
}

let plainOffererServerHello: DtlsServerHelloFields | undefined;

test("ferry volunteer (default engine: its own headless Chromium): its ClientHello equals the plain page's; a plain page's ServerHello to it is the client's reference", {
  skip,
  timeout: 150_000,
}, async (t) => {
  assert.ok(lab && plainPage, 'the reference was captured');
  const [offererHost] = lab.hosts;
  assert.ok(offererHost);
  const volunteer = await startFerryVolunteer();
  // The offering side is a plain Chromium page too: in a data channel the offerer is the DTLS server, so its
  // ServerHello is what the Ferry client's must look like.
  const offerer = await FerryBrowser.launch({ headless: true, namespace: offererHost.namespace, extraArgs: ['--disable-features=WebRtcHideLocalIpsWithMdns'] });
  try {
    const page = await offerer.context.newPage();
    const { clientHello, serverHello } = await captureHandshake(async () => {
      const opened = await page.evaluate(
        async ({ broker, label }) => {
          const pc = new RTCPeerConnection();
          const channel = pc.createDataChannel(label);
          const open = new Promise<boolean>((resolve) => {
            channel.onopen = () => resolve(true);
            setTimeout(() => resolve(false), 30_000);
          });
          await pc.setLocalDescription(await pc.createOffer());
          await new Promise<void>((resolve) => {
            if (pc.iceGatheringState === 'complete') resolve();
            pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
            setTimeout(resolve, 3_000);
          });
          const response = await fetch(`${broker}/v1/client`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ offer: { type: 'offer', sdp: pc.localDescription?.sdp ?? '' }, exitId: 'local', nat: 'unknown' }),
          });
          const reply = (await response.json()) as { answer?: RTCSessionDescriptionInit };
          if (reply.answer === undefined) return `no answer: ${JSON.stringify(reply)}`;
          await pc.setRemoteDescription(reply.answer);
          return (await open) ? 'open' : 'the data channel did not open';
        },
        { broker: brokerUrl, label: DATA_CHANNEL_LABEL },
      );
      assert.equal(opened, 'open');
    });
    // The same set of extensions in any order, every other field equal in order: the same browser on the wire.
    assert.deepEqual(comparable(clientHello), comparable(plainPage));
    assert.ok(serverHello, 'the plain page offerer sent a whole ServerHello');
    assert.ok(serverHello.cipherSuite !== 0 && serverHello.extensions.length > 0, JSON.stringify(serverHello));
    t.diagnostic(`a plain page's ServerHello: ${JSON.stringify(serverHello)}`);
    plainOffererServerHello = serverHello;
  } finally {
    await offerer.close();
    await terminate(volunteer, 5_000);
  }
});

test("the Ferry client's ServerHello (Proxy me, the extension's offscreen document) equals a plain Chromium page's", { skip, timeout: 180_000 }, async () => {
  assert.ok(lab && plainOffererServerHello, "the plain page's ServerHello was captured");
  const [offererHost] = lab.hosts;
  assert.ok(offererHost);
  const volunteer = await startFerryVolunteer();
  const user = await FerryUser.launch({
    brokerUrl,
    exitListKey: operatorKey,
    headless: true,
    installHelper: true,
    namespace: offererHost.namespace,
    settings: { proxyPaths: 1 },
  });
  try {
    const { serverHello } = await captureHandshake(async () => {
      await user.setSwitch('proxy-me', true);
      await user.waitForProxyMe(['connected'], 90_000);
    });
    assert.ok(serverHello, 'the client sent a whole ServerHello');
    // A server does not shuffle its extensions: every field, the order included, must be equal.
    assert.deepEqual(serverHello, plainOffererServerHello);
  } finally {
    await closeUserAndHelper(user);
    await terminate(volunteer, 5_000);
  }
});

test('ferry volunteer --engine node-datachannel (libdatachannel): its ClientHello is captured and how it differs from a browser is printed', {
  skip,
  timeout: 90_000,
}, async (t) => {
  assert.ok(lab && plainPage);
  const volunteer = await startFerryVolunteer('node-datachannel');
  try {
    const hello = await captureClientHello(offerThroughBroker);
    const reference = comparable(plainPage);
    const mine = comparable(hello);
    const differing = (Object.keys(reference) as Array<keyof DtlsClientHelloFields>).filter(
      (field) => JSON.stringify(mine[field]) !== JSON.stringify(reference[field]),
    );
    t.diagnostic(`the node-datachannel engine's ClientHello differs from a browser's in: ${differing.join(', ') || 'nothing'}`);
    for (const field of differing) t.diagnostic(`  ${field}: ${JSON.stringify(mine[field])} (a browser: ${JSON.stringify(reference[field])})`);
    assert.ok(hello.cipherSuites.length > 0);
  } finally {
    await terminate(volunteer, 2_000);
  }
});
