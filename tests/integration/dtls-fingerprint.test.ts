// Which DTLS handshake crosses the border: in a data channel the answerer sends the ClientHello, so in Ferry it is the
// volunteer's. Captured on the wire in lab namespaces (tcpdump on the answerer's interface) and compared field by
// field (version, cipher suites, extensions, groups, signature algorithms, SRTP profiles): the extension volunteer's
// ClientHello must equal that of a plain Chromium page answering the same kind of offer, and a test fails if they
// drift apart. Extension order is compared as a set: Chromium shuffles it on every handshake (seen here), by design. `ferry volunteer` (libdatachannel, OpenSSL) is captured too and its difference
// printed: docs/threat-model.md says why it matters, and what is still to do.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FerryBrowser } from '../../harness/chromium.ts';
import { FerryUser } from '../../harness/ferry-user.ts';
import { NatLab, natLabPrerequisites } from '../../harness/nat-lab.ts';
import { LocalOperator } from '../../harness/operator.ts';
import { type DtlsClientHelloFields, dtlsClientHello, readPcap } from '../../harness/packet-capture.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { collectLines, terminate } from '../../harness/processes.ts';
import { waitFor } from '../../harness/wait.ts';
import { FERRY, startCapture, startLabServers, waitForBrokerPools } from './support/lab-servers.ts';

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

/** Captures the answerer's host while `answer()` runs, and returns the first DTLS ClientHello it sent. */
async function captureClientHello(answer: () => Promise<void>): Promise<DtlsClientHelloFields> {
  assert.ok(lab);
  const answerer = lab.hosts[1];
  assert.ok(answerer);
  captures += 1;
  const file = join(await lab.tempDirectory(), `dtls-${captures}.pcap`);
  const tcpdump = await startCapture(lab, answerer.namespace, file, ['udp']);
  try {
    await answer();
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    await terminate(tcpdump, 2_000);
  }
  const sent = readPcap(file).filter((packet) => packet.protocol === 'udp' && packet.source === answerer.address);
  const hello = dtlsClientHello(sent.map((packet) => packet.payload));
  assert.ok(hello, `the answerer sent a whole DTLS ClientHello (${sent.length} UDP datagrams captured)`);
  return hello;
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

test('ferry volunteer (libdatachannel): its ClientHello is captured and how it differs from a browser is printed', { skip, timeout: 90_000 }, async (t) => {
  assert.ok(lab && plainPage);
  const answererHost = lab.hosts[1];
  assert.ok(answererHost);
  const volunteer = lab.spawn(answererHost.namespace, process.execPath, [FERRY, 'volunteer', '--broker', brokerUrl, '--exit-list-key', operatorKey]);
  try {
    await waitForBrokerPools(lab, brokerUrl, /ferry_broker_volunteers\{kind="headless",nat="unknown"\} 1/, 'ferry volunteer to wait at the broker');
    const hello = await captureClientHello(offerThroughBroker);
    const reference = comparable(plainPage);
    const mine = comparable(hello);
    const differing = (Object.keys(reference) as Array<keyof DtlsClientHelloFields>).filter(
      (field) => JSON.stringify(mine[field]) !== JSON.stringify(reference[field]),
    );
    t.diagnostic(`ferry volunteer's ClientHello differs from a browser's in: ${differing.join(', ') || 'nothing'}`);
    for (const field of differing) t.diagnostic(`  ${field}: ${JSON.stringify(mine[field])} (a browser: ${JSON.stringify(reference[field])})`);
    assert.ok(hello.cipherSuites.length > 0);
  } finally {
    await terminate(volunteer, 2_000);
  }
});
