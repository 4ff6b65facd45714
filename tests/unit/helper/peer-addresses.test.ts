// The volunteers' addresses whole-device mode keeps out of the device: an answer's candidates while its path connects
// (for a bounded time), then each live path's selected address until it goes down or its pipe closes; listeners hear
// each change once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { candidateAddresses } from '../../../extension/offscreen/client-path.ts';
import { waitFor } from '../../../harness/wait.ts';
import { startHelperCore } from '../../../native-helper/helper-core.ts';
import { PEER_CONNECTING_BYPASS_MS, PeerAddresses } from '../../../native-helper/tun/peer-addresses.ts';
import { generateKeyPair, toBase64Url } from '../../../protocol/index.ts';
import { FERRY_EXTENSION_ID } from '../../../protocol/local-channel.ts';

test('connecting addresses last a bounded time; a live path keeps its own until it goes down', () => {
  let now = 1_000;
  const peers = new PeerAddresses(() => now);
  const heard: string[][] = [];
  peers.onChange((addresses) => heard.push(addresses));
  peers.connecting(['203.0.113.7', '192.0.2.9']);
  assert.deepEqual(peers.current, ['192.0.2.9', '203.0.113.7']);
  peers.up(1, '203.0.113.7');
  assert.equal(heard.length, 1, 'no change, no call');
  now += PEER_CONNECTING_BYPASS_MS + 1;
  peers.connecting([]);
  assert.deepEqual(peers.current, ['203.0.113.7'], 'the unused candidate expired; the live path stays');
  peers.down(1);
  assert.deepEqual(peers.current, []);
  assert.deepEqual(heard, [['192.0.2.9', '203.0.113.7'], ['203.0.113.7'], []]);
  peers.clear();
});

test("an answer's candidates: IPv4 literals only, each once", () => {
  const sdp = [
    'v=0',
    'a=candidate:1 1 UDP 2122252543 203.0.113.7 50000 typ host',
    'a=candidate:2 1 UDP 2122252543 203.0.113.7 50001 typ host',
    'a=candidate:3 1 udp 1686052607 198.51.100.2 61000 typ srflx raddr 203.0.113.7 rport 50000',
    'a=candidate:4 1 udp 2122262783 fd00::2 50002 typ host',
    'a=candidate:5 1 udp 2122262783 3f0d4b2e-1234.local 50003 typ host',
  ].join('\r\n');
  assert.deepEqual(candidateAddresses(sdp), ['203.0.113.7', '198.51.100.2']);
});

test("the helper forgets a closed pipe's volunteers: no path-down comes for them, and they must not go on bypassing the device", async () => {
  const helper = await startHelperCore({
    exit: { id: 'local', url: 'ws://127.0.0.1:9/v1/relay', publicKey: toBase64Url(generateKeyPair().publicKey) },
    allowedOrigin: `chrome-extension://${FERRY_EXTENSION_ID}`,
    socksPort: 0,
    httpPort: 0,
    wholeDevice: { platform: 'darwin' },
  });
  try {
    const pipe = new WebSocket(`${helper.pipeUrl}?token=${helper.issueToken()}`, { origin: `chrome-extension://${FERRY_EXTENSION_ID}` });
    await new Promise((resolveOpen, reject) => {
      pipe.once('open', resolveOpen);
      pipe.once('error', reject);
    });
    pipe.send(JSON.stringify({ type: 'path-connecting', addresses: ['198.51.100.4'] }));
    pipe.send(JSON.stringify({ type: 'path-up', pathId: 1, role: 'carry', peerAddress: '203.0.113.7' }));
    await waitFor(() => helper.tunnel.peerAddresses.current.length === 2 || undefined, 'the helper to note both addresses');
    assert.deepEqual(helper.tunnel.peerAddresses.current, ['198.51.100.4', '203.0.113.7']);
    pipe.close();
    await waitFor(() => helper.tunnel.peerAddresses.current.length === 0 || undefined, 'the closed pipe’s addresses to be forgotten');
  } finally {
    await helper.close();
  }
});
