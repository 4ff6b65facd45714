// Issue 10's attack, at its own scale: an attacker opens 1,000 sessions at an exit (a real HELLO each, then nothing)
// and keeps every socket open. A real client must still reach the exit. Real ExitServer with its default limits
// except the silence timeout (shortened so the test is quick); the attacker connects from 127.0.0.2..127.0.0.21,
// the honest client from 127.0.0.1 (Linux routes all of 127/8 to lo).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { defaultExitConfig } from '../../../exit-server/config.ts';
import { ExitServer } from '../../../exit-server/exit-server.ts';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { nodeChaCha20Poly1305 } from '../../../protocol/adapters/node-aead.ts';
import { NOISE_PROLOGUE, NOISE_PROTOCOL_NAME } from '../../../protocol/constants.ts';
import { nobleChaCha20Poly1305 } from '../../../protocol/crypto.ts';
import { encodeClientHello } from '../../../protocol/hello.ts';
import { ClientSession, fromBase64Url, generateKeyPair, RecordType } from '../../../protocol/index.ts';
import { NkInitiator } from '../../../protocol/noise.ts';
import { decodeRecord, encodeHandshakeRecord } from '../../../protocol/record.ts';

const ATTACKER_SESSIONS = 1_000;
const ATTACKER_ADDRESSES = 20;
/** Shortened from the default 30 s; the defence is the same, the test quicker. */
const SILENCE_TIMEOUT_MS = 3_000;
const FLOOD_TIMEOUT_MS = 120_000;

/** One attacker session: a real HELLO, then silence. Resolves with the socket and the type of the exit's answer. */
async function silentSession(url: string, exitPublicKey: Uint8Array, localAddress: string): Promise<{ socket: WebSocket; answer: number }> {
  const socket = new WebSocket(url, { localAddress });
  const answers: number[] = [];
  socket.on('message', (data: Buffer) => answers.push(decodeRecord(new Uint8Array(data)).type));
  socket.on('error', () => undefined); // the exit may refuse or drop it; what it answered is what counts
  await withTimeout(once(socket, 'open'), `an attacker socket from ${localAddress}`);
  const initiator = new NkInitiator(NOISE_PROTOCOL_NAME, exitPublicKey, { prologue: new TextEncoder().encode(NOISE_PROLOGUE), aead: nobleChaCha20Poly1305 });
  socket.send(encodeHandshakeRecord(RecordType.HELLO, initiator.writeMessage1(encodeClientHello({ streamWindowBytes: 1 << 20, sessionWindowBytes: 8 << 20 }))));
  await waitFor(() => answers.length > 0 || socket.readyState !== WebSocket.OPEN, 'the exit to answer a HELLO', { intervalMs: 5 });
  return { socket, answer: answers[0] ?? -1 };
}

/** A real client session from 127.0.0.1 with the product's heartbeat; resolves once open, or with the refusal. */
async function honestAttempt(url: string, exitPublicKey: Uint8Array): Promise<{ session: ClientSession; socket: WebSocket } | { refused: string }> {
  const socket = new WebSocket(url, { localAddress: '127.0.0.1' });
  socket.on('error', () => undefined);
  await withTimeout(once(socket, 'open'), 'the honest socket to open');
  const session = new ClientSession({ exitPublicKey, aead: nodeChaCha20Poly1305, sendRecord: (record) => socket.send(record) });
  socket.on('message', (data: Buffer) => session.receiveRecord(new Uint8Array(data)));
  session.start();
  try {
    await withTimeout(session.whenOpen(), 'the honest session to open');
    return { session, socket };
  } catch (error) {
    socket.terminate();
    return { refused: error instanceof Error ? error.message : String(error) };
  }
}

test(`a real client reaches the exit while an attacker holds ${ATTACKER_SESSIONS} silent sessions open`, { timeout: FLOOD_TIMEOUT_MS }, async () => {
  const exit = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true, sessionSilenceTimeoutMs: SILENCE_TIMEOUT_MS } });
  const { url } = await exit.listen();
  const exitKey = fromBase64Url(exit.publicKey);
  const attackers: WebSocket[] = [];
  try {
    const answers = new Map<number, number>();
    // Twenty addresses at once, each opening its sessions one after another (as fast as the exit answers).
    await Promise.all(
      Array.from({ length: ATTACKER_ADDRESSES }, async (_, index) => {
        const address = `127.0.0.${index + 2}`;
        for (let session = index; session < ATTACKER_SESSIONS; session += ATTACKER_ADDRESSES) {
          const { socket, answer } = await silentSession(url, exitKey, address);
          attackers.push(socket);
          answers.set(answer, (answers.get(answer) ?? 0) + 1);
        }
      }),
    );
    assert.equal(attackers.length, ATTACKER_SESSIONS);
    const welcomed = answers.get(RecordType.WELCOME) ?? 0;
    // 20 addresses x 64 paths each could take 1,000 sessions: every one is welcomed, so the exit really is full.
    assert.equal(welcomed, Math.min(ATTACKER_SESSIONS, defaultExitConfig.maxSessions), `answers by record type: ${JSON.stringify([...answers])}`);

    // The honest client tries as the real one does: again after a refusal, until its session opens.
    const honest = await waitFor(
      async () => {
        const attempt = await honestAttempt(url, exitKey);
        return 'session' in attempt ? attempt : undefined;
      },
      'the honest session to open',
      { timeoutMs: SILENCE_TIMEOUT_MS * 10, intervalMs: 250 },
    );
    assert.equal(honest.session.state, 'open');
    assert.ok(
      attackers.every((socket) => socket.readyState !== WebSocket.CONNECTING),
      'the attacker never let go of a socket; the exit dropped them',
    );
    // In the end every silent path is dropped, and of the attacker's sessions only the detached cap's worth remain.
    await waitFor(() => exit.snapshot().pathsSilent >= welcomed, 'the exit to drop every silent path', { timeoutMs: SILENCE_TIMEOUT_MS * 10 });
    assert.ok(
      exit.snapshot().sessionsOpen <= defaultExitConfig.maxDetachedSessions + 1,
      `at most the detached cap plus the honest one remain (${exit.snapshot().sessionsOpen})`,
    );
    assert.equal(honest.session.state, 'open', 'the honest client, heartbeating, is never taken for silent');
    honest.session.close();
    honest.socket.close();
  } finally {
    for (const socket of attackers) socket.terminate();
    await exit.close();
  }
});
