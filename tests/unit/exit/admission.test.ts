// An exit flooded by one address stays open to everyone else: per-address caps on paths and on new sessions, silent
// sessions lose their path, and detached sessions have their own cap. Real ExitServer and WebSockets on loopback; the
// attacker connects from 127.0.0.2..127.0.0.4, honest clients from 127.0.0.1 (Linux routes all of 127/8 to lo).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import type { ExitConfig } from '../../../exit-server/config.ts';
import { ExitServer } from '../../../exit-server/exit-server.ts';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { nodeChaCha20Poly1305 } from '../../../protocol/adapters/node-aead.ts';
import { AddressHoldings, AddressRateLimit } from '../../../protocol/address-budget.ts';
import { NOISE_PROLOGUE, NOISE_PROTOCOL_NAME } from '../../../protocol/constants.ts';
import { nobleChaCha20Poly1305 } from '../../../protocol/crypto.ts';
import { encodeClientHello } from '../../../protocol/hello.ts';
import { ClientSession, fromBase64Url, generateKeyPair, RecordType } from '../../../protocol/index.ts';
import { NkInitiator } from '../../../protocol/noise.ts';
import { decodeRecord, encodeHandshakeRecord } from '../../../protocol/record.ts';

test('AddressHoldings and AddressRateLimit: holdings are capped per address, starts refill over a minute, the table is bounded', () => {
  const holdings = new AddressHoldings(2);
  assert.deepEqual([holdings.enter('a'), holdings.enter('a'), holdings.enter('a'), holdings.enter('b')], [true, true, false, true]);
  holdings.leave('a');
  assert.equal(holdings.enter('a'), true, 'what left frees its place');

  let now = 0;
  const rate = new AddressRateLimit({ maxPerMinute: 3, maxTrackedAddresses: 2 }, () => now);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => rate.take('a')),
    [true, true, true, false],
  );
  assert.equal(rate.secondsUntilNext('a'), 20, 'one start comes back every 20 s');
  now += 20_000;
  assert.deepEqual([rate.take('a'), rate.take('a')], [true, false]);
  // Two more addresses push 'a' out of the table; it comes back with a full bucket (forgetting costs nothing).
  rate.take('b');
  rate.take('c');
  assert.equal(rate.take('a'), true);
});

async function startExit(config: Partial<ExitConfig>): Promise<{ exit: ExitServer; url: string }> {
  const exit = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true, ...config } });
  const { url } = await exit.listen();
  return { exit, url };
}

async function openSocket(url: string, localAddress: string): Promise<{ socket: WebSocket; received: Uint8Array[] }> {
  const socket = new WebSocket(url, { localAddress });
  const received: Uint8Array[] = [];
  socket.on('message', (data: Buffer) => received.push(new Uint8Array(data)));
  await withTimeout(once(socket, 'open'), `a socket from ${localAddress}`);
  return { socket, received };
}

/** An attacker's session: a real HELLO, then silence. Resolves with the type of the exit's first answer. */
async function helloThenSilence(url: string, exitPublicKey: string, localAddress: string): Promise<{ socket: WebSocket; answer: number }> {
  const { socket, received } = await openSocket(url, localAddress);
  const initiator = new NkInitiator(NOISE_PROTOCOL_NAME, fromBase64Url(exitPublicKey), {
    prologue: new TextEncoder().encode(NOISE_PROLOGUE),
    aead: nobleChaCha20Poly1305,
  });
  socket.send(encodeHandshakeRecord(RecordType.HELLO, initiator.writeMessage1(encodeClientHello({ streamWindowBytes: 1 << 20, sessionWindowBytes: 8 << 20 }))));
  await waitFor(() => received.length > 0, 'the exit to answer the HELLO');
  return { socket, answer: decodeRecord(received[0] ?? new Uint8Array()).type };
}

/** An honest client from 127.0.0.1 with a real ClientSession; resolves once its session is open. */
async function honestClient(
  url: string,
  exitPublicKey: string,
  heartbeatIntervalMs = 1_000,
): Promise<{ session: ClientSession; socket: WebSocket; sent: () => number }> {
  const { socket } = await openSocket(url, '127.0.0.1');
  let sent = 0;
  const session = new ClientSession({
    exitPublicKey: fromBase64Url(exitPublicKey),
    aead: nodeChaCha20Poly1305,
    config: { heartbeatIntervalMs },
    sendRecord: (record) => {
      sent++;
      socket.send(record);
    },
  });
  socket.on('message', (data: Buffer) => session.receiveRecord(new Uint8Array(data)));
  session.start();
  await withTimeout(session.whenOpen(), 'the honest session to open');
  return { session, socket, sent: () => sent };
}

test('one address holding its limit of paths, or starting sessions too fast, is refused; an honest client elsewhere gets in', async () => {
  const { exit, url } = await startExit({ maxPathsPerAddress: 3, maxHandshakesPerAddressPerMinute: 2 });
  const sockets: WebSocket[] = [];
  try {
    for (let index = 0; index < 3; index++) sockets.push((await openSocket(url, '127.0.0.2')).socket);
    const fourth = await openSocket(url, '127.0.0.2');
    sockets.push(fourth.socket);
    const [code] = (await withTimeout(once(fourth.socket, 'close'), 'the fourth path to be refused')) as [number];
    assert.equal(code, 1013);
    const refusal = decodeRecord(fourth.received[0] ?? new Uint8Array());
    assert.ok(refusal.type === RecordType.REFUSED && /already holds 3 paths/.test(refusal.reason), JSON.stringify(refusal));

    const first = await helloThenSilence(url, exit.publicKey, '127.0.0.3');
    const second = await helloThenSilence(url, exit.publicKey, '127.0.0.3');
    const third = await helloThenSilence(url, exit.publicKey, '127.0.0.3');
    sockets.push(first.socket, second.socket, third.socket);
    assert.deepEqual([first.answer, second.answer, third.answer], [RecordType.WELCOME, RecordType.WELCOME, RecordType.REFUSED]);
    assert.equal(exit.snapshot().pathsRefused, 1);
    assert.equal(exit.snapshot().handshakesRefused, 1);

    const honest = await honestClient(url, exit.publicKey);
    assert.equal(honest.session.state, 'open');
    honest.session.close();
    honest.socket.close();
  } finally {
    for (const socket of sockets) socket.terminate();
    await exit.close();
  }
});

test('silent sessions lose their path and the longest-waiting detached ones are freed, so an honest client gets in; a live one is kept', async () => {
  const { exit, url } = await startExit({ maxSessions: 10, maxDetachedSessions: 3, sessionSilenceTimeoutMs: 600 });
  const attackers: WebSocket[] = [];
  try {
    const live = await honestClient(url, exit.publicKey, 50);
    for (let index = 0; index < 9; index++) {
      const attacker = await helloThenSilence(url, exit.publicKey, '127.0.0.4');
      assert.equal(attacker.answer, RecordType.WELCOME);
      attackers.push(attacker.socket);
    }
    // Full: ten sessions, nine of them silent.
    const refused = await helloThenSilence(url, exit.publicKey, '127.0.0.1');
    refused.socket.terminate();
    assert.equal(refused.answer, RecordType.REFUSED, 'the exit is full while the attacker holds its sessions');

    // The exit drops every silent path, keeps three of the detached sessions and frees the rest.
    await Promise.all(attackers.map((socket) => withTimeout(once(socket, 'close'), 'the exit to drop a silent path')));
    await waitFor(() => exit.snapshot().sessionsOpen === 4, 'the exit to free all but three detached sessions');
    assert.equal(exit.snapshot().pathsSilent, 9);
    assert.equal(exit.snapshot().detachedEvicted, 6);

    const honest = await honestClient(url, exit.publicKey, 50);
    assert.equal(honest.session.state, 'open', 'an honest client gets in once the silent sessions lost their slots');
    // The live client's heartbeats (every 50 ms) kept it: it sent through several silence periods and is still open.
    const sentBefore = live.sent();
    await waitFor(() => live.sent() >= sentBefore + 20, 'twenty more heartbeats of the live client (over 1.5 silence periods)');
    assert.equal(live.session.state, 'open');
    assert.equal(exit.snapshot().pathsSilent, 9, 'no honest client was taken for silent');
    for (const client of [live, honest]) {
      client.session.close();
      client.socket.close();
    }
  } finally {
    for (const socket of attackers) socket.terminate();
    await exit.close();
  }
});
