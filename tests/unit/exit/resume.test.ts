// Session continuity at the exit, over real WebSockets: a session moves to a new path mid-download; forged and
// replayed RESUMEs are refused without harming it; an exit restart fails the streams quickly and a new session works.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { ExitServer } from '../../../exit-server/exit-server.ts';
import { spawnFerry } from '../../../harness/servers.ts';
import { withTimeout } from '../../../harness/wait.ts';
import { nodeChaCha20Poly1305 } from '../../../protocol/adapters/node-aead.ts';
import { MuxStreamDuplex } from '../../../protocol/adapters/node-stream.ts';
import { ClientSession, type ClientSessionOptions, fromBase64Url, generateKeyPair, type KeyPair, RecordType } from '../../../protocol/index.ts';
import { decodeRecord, encodeRefusedRecord } from '../../../protocol/record.ts';

const body = randomBytes(16 * 1024 * 1024);
const bodySha = createHash('sha256').update(body).digest('hex');
let origin: Server;
let originPort = 0;
const keyPair: KeyPair = generateKeyPair();

before(async () => {
  origin = createServer((_request, response) => response.writeHead(200, { 'content-length': body.length, connection: 'close' }).end(body));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', () => resolve()));
  originPort = (origin.address() as AddressInfo).port;
});
after(async () => {
  origin.closeAllConnections();
  await new Promise((resolve) => origin.close(resolve));
});

/** One volunteer path: a WebSocket to the exit, recording what the client sent on it. */
async function openPath(url: string): Promise<{ socket: WebSocket; sent: Uint8Array[]; send: (record: Uint8Array) => void; received: Uint8Array[] }> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const sent: Uint8Array[] = [];
  const received: Uint8Array[] = [];
  socket.on('message', (data: Buffer) => received.push(new Uint8Array(data)));
  return {
    socket,
    sent,
    received,
    send: (record) => {
      sent.push(record.slice());
      socket.send(record);
    },
  };
}

/** The last SEALED record in `records` (what a volunteer could copy and replay). */
function lastSealed(records: Uint8Array[]): Uint8Array {
  const sealed = records.filter((record) => record[0] === RecordType.SEALED);
  const last = sealed[sealed.length - 1];
  assert.ok(last, 'a SEALED record was sent on this path');
  return last;
}

/** Sessions the tests attached to a path: closed after each test, so one that fails half-way cannot hang the file. */
const liveSessions = new Set<ClientSession>();
afterEach(() => {
  for (const session of liveSessions) session.close();
  liveSessions.clear();
});

function attach(session: ClientSession, path: Awaited<ReturnType<typeof openPath>>): void {
  liveSessions.add(session);
  path.socket.on('message', (data: Buffer) => session.receiveRecord(new Uint8Array(data)));
}

/** The first message the exit sent on `path`: already received, or the next to arrive. */
async function firstMessage(path: Awaited<ReturnType<typeof openPath>>, what: string): Promise<Uint8Array> {
  if (path.received.length === 0) await withTimeout(once(path.socket, 'message'), what);
  const first = path.received[0];
  assert.ok(first, `${what}: no message`);
  return first;
}

async function startDownload(
  session: ClientSession,
): Promise<{ duplex: MuxStreamDuplex; done: Promise<{ sha: string; error?: Error }>; passed: (bytes: number) => Promise<void> }> {
  const stream = session.openStream({ host: '127.0.0.1', port: originPort });
  await new Promise<void>((resolve, reject) => {
    stream.onopen = resolve;
    stream.onclose = (error) => reject(error ?? new Error('closed'));
  });
  const duplex = new MuxStreamDuplex(stream);
  duplex.write('GET / HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
  let received = 0;
  const chunks: Buffer[] = [];
  const done = new Promise<{ sha: string; error?: Error }>((resolve) => {
    duplex.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    duplex.on('end', () => {
      const response = Buffer.concat(chunks);
      resolve({
        sha: createHash('sha256')
          .update(response.subarray(response.indexOf('\r\n\r\n') + 4))
          .digest('hex'),
      });
    });
    duplex.on('error', (error) => resolve({ sha: '', error }));
  });
  /** Resolves at the 'data' event that takes the download past `bytes`, so the test acts mid-download; fails if it ends first. */
  const passed = (bytes: number): Promise<void> =>
    withTimeout(
      new Promise<void>((resolve, reject) => {
        const stop = (): void => {
          duplex.off('data', check);
          duplex.off('end', ended);
          duplex.off('error', ended);
        };
        const check = (): void => {
          if (received <= bytes) return;
          stop();
          resolve();
        };
        const ended = (): void => {
          stop();
          reject(new Error(`the download ended after ${received} bytes, before passing ${bytes}`));
        };
        duplex.on('data', check);
        duplex.on('end', ended);
        duplex.on('error', ended);
        check();
      }),
      `${bytes} bytes of the download to arrive`,
    );
  return { duplex, done, passed };
}

/** An exit, a session through one volunteer path, and a 16 MiB download through it, 2 MiB under way. */
async function downloadingThroughOnePath(options: Pick<ClientSessionOptions, 'onPathFailed'> = {}): Promise<{
  exit: ExitServer;
  url: string;
  first: Awaited<ReturnType<typeof openPath>>;
  session: ClientSession;
  download: Awaited<ReturnType<typeof startDownload>>;
}> {
  const exit = new ExitServer({ keyPair, config: { port: 0, allowLoopback: true } });
  const { url } = await exit.listen();
  try {
    const first = await openPath(url);
    const session = new ClientSession({ exitPublicKey: fromBase64Url(exit.publicKey), aead: nodeChaCha20Poly1305, sendRecord: first.send, ...options });
    attach(session, first);
    session.start();
    await session.whenOpen();
    const download = await startDownload(session);
    await download.passed(2 * 1024 * 1024);
    return { exit, url, first, session, download };
  } catch (error) {
    await exit.close();
    throw error;
  }
}

test('a download carries on when its volunteer path dies; forged and replayed RESUMEs are refused and harm nothing', async () => {
  const { exit, url, first, session, download } = await downloadingThroughOnePath();
  try {
    // The volunteer's browser is killed: its socket drops without a close frame.
    first.socket.terminate();
    session.transportLost('the volunteer vanished');
    const second = await openPath(url);
    attach(session, second);
    session.resume(second.send);
    await session.whenOpen();

    // A hostile volunteer replays the RESUME it saw, and forges one with a higher attempt number.
    const captured = second.sent.find((record) => record[0] === RecordType.RESUME);
    assert.ok(captured);
    const replay = await openPath(url);
    replay.socket.send(captured);
    const forged = captured.slice();
    forged.set([0x7f, 0, 0, 0], 17);
    const forge = await openPath(url);
    forge.socket.send(forged);
    const replayAnswer = decodeRecord(await firstMessage(replay, 'the answer to the replayed RESUME'));
    const forgeAnswer = decodeRecord(await firstMessage(forge, 'the answer to the forged RESUME'));
    assert.equal(replayAnswer.type, RecordType.REFUSED);
    assert.match(replayAnswer.type === RecordType.REFUSED ? replayAnswer.reason : '', /stale|replayed/);
    assert.equal(forgeAnswer.type, RecordType.REFUSED);
    assert.match(forgeAnswer.type === RecordType.REFUSED ? forgeAnswer.reason : '', /authentication/);

    const result = await download.done;
    assert.equal(result.error, undefined);
    assert.equal(result.sha, bodySha, 'the whole file, byte for byte, across the path change');
    assert.equal(exit.snapshot().resumes, 1);
    assert.equal(exit.snapshot().resumesRefused, 2);
    for (const path of [second, replay, forge]) path.socket.close();
    session.close();
  } finally {
    await exit.close();
  }
});

test('a junk record on the current path costs that path, not the session: the exit drops the volunteer and the download completes after a resume', async () => {
  const { exit, url, first, session, download } = await downloadingThroughOnePath();
  try {
    // The volunteer injects a record the exit cannot authenticate (a copy of a real one with a flipped bit).
    const closed = once(first.socket, 'close');
    const junk = lastSealed(first.sent).slice();
    junk[junk.length - 1] = (junk[junk.length - 1] ?? 0) ^ 0x01;
    first.socket.send(junk);
    const [code, reason] = (await withTimeout(closed, 'the exit to drop the hostile path')) as [number, Buffer];
    assert.equal(code, 1008);
    assert.match(reason.toString(), /failed its checks/);
    assert.equal(exit.snapshot().pathsFailed, 1);
    assert.equal(exit.snapshot().sessionErrors, 0, 'the session did not fail');
    // The client learns its path is gone (the data channel closes with the volunteer's exit socket) and resumes.
    session.transportLost('the volunteer dropped the path');
    const second = await openPath(url);
    attach(session, second);
    session.resume(second.send);
    const result = await download.done;
    assert.equal(result.error, undefined);
    assert.equal(result.sha, bodySha, 'the whole file, byte for byte, across the junk and the path change');
    assert.equal(exit.snapshot().resumes, 1);
    second.socket.close();
    session.close();
  } finally {
    await exit.close();
  }
});

test('a REFUSED injected by the volunteer into an open session costs the path, not the session: the download completes after a resume', async () => {
  const pathFailures: string[] = [];
  let pathFailed: () => void = () => undefined;
  const failed = new Promise<void>((resolve) => {
    pathFailed = resolve;
  });
  // What the client path does on a failed path is below: drop that volunteer and resume through another.
  const { exit, url, first, session, download } = await downloadingThroughOnePath({
    onPathFailed: (reason) => {
      pathFailures.push(reason);
      pathFailed();
    },
  });
  try {
    // The hostile volunteer forges the exit's refusal (REFUSED carries no tag: only a handshake may be refused).
    session.receiveRecord(encodeRefusedRecord('this exit is full'));
    await withTimeout(failed, 'the client to count the path as failed');
    assert.equal(session.state === 'closed', false, 'the session is not closed by an unauthenticated record');
    first.socket.terminate();
    const second = await openPath(url);
    attach(session, second);
    session.resume(second.send);
    const result = await download.done;
    assert.equal(result.error, undefined);
    assert.equal(result.sha, bodySha, 'the whole file, byte for byte, across the forged refusal and the path change');
    assert.equal(pathFailures.length, 1);
    assert.equal(exit.snapshot().sessionErrors, 0);
    second.socket.close();
    session.close();
  } finally {
    await exit.close();
  }
});

test('records still arriving on a replaced path never reach the session: the exit terminates that socket and the resumed download completes', async () => {
  const { exit, url, first, session, download } = await downloadingThroughOnePath();
  try {
    // The client moves to a second volunteer while the first one's socket is still open.
    const second = await openPath(url);
    attach(session, second);
    session.resume(second.send);
    await session.whenOpen();
    // The replaced volunteer keeps sending: junk, and a replay of a genuine record.
    const terminated = once(first.socket, 'close');
    first.socket.send(Uint8Array.of(0x7f, 1, 2, 3));
    first.socket.send(lastSealed(first.sent));
    await withTimeout(terminated, 'the exit to cut the replaced path');
    const result = await download.done;
    assert.equal(result.error, undefined);
    assert.equal(result.sha, bodySha, 'the whole file, byte for byte');
    assert.equal(exit.snapshot().sessionErrors, 0);
    assert.equal(exit.snapshot().pathsFailed, 0, 'the current path was never blamed');
    second.socket.close();
    session.close();
  } finally {
    await exit.close();
  }
});

/** `ferry exit` as its own process, so it can be killed like a crashed server. */
async function startExitProcess(port: number, keyFile: string): Promise<{ child: ChildProcess; url: string; publicKey: string; port: number }> {
  const { child, match } = await spawnFerry(
    ['exit', '--port', String(port), '--allow-loopback', '--key-file', keyFile],
    /ferry exit: (ws:\/\/127\.0\.0\.1:(\d+)\/v1\/relay) ready, public key (\S+)/,
  );
  return { child, url: match[1] ?? '', port: Number(match[2]), publicKey: match[3] ?? '' };
}

test('after an exit crash and restart the affected stream fails within seconds with a clear error, and a new session works', async () => {
  const keyFile = join(mkdtempSync(join(tmpdir(), 'ferry-exit-')), 'exit.key');
  const first = await startExitProcess(0, keyFile);
  let second: Awaited<ReturnType<typeof startExitProcess>> | undefined;
  try {
    const pathA = await openPath(first.url);
    const session = new ClientSession({ exitPublicKey: fromBase64Url(first.publicKey), aead: nodeChaCha20Poly1305, sendRecord: pathA.send });
    attach(session, pathA);
    session.start();
    await session.whenOpen();
    const download = await startDownload(session);
    await download.passed(1024 * 1024);
    first.child.kill('SIGKILL');
    await new Promise((resolve) => pathA.socket.once('close', resolve));
    session.transportLost('the volunteer lost the exit');
    second = await startExitProcess(first.port, keyFile);
    assert.equal(second.publicKey, first.publicKey, 'the key file keeps the exit identity across restarts');
    const pathB = await openPath(second.url);
    attach(session, pathB);
    const started = Date.now();
    session.resume(pathB.send);
    const result = await download.done;
    assert.ok(result.error, 'the stream fails');
    assert.match(result.error.message, /could not continue the session: this exit has no such session/);
    assert.ok(Date.now() - started < 5_000, 'within a few seconds');
    assert.equal(session.error?.code, 'FERRY_ERR_RESUME_REFUSED');
    // The same path takes a fresh session, and the next request works.
    pathB.socket.removeAllListeners('message');
    const fresh = new ClientSession({ exitPublicKey: fromBase64Url(second.publicKey), aead: nodeChaCha20Poly1305, sendRecord: pathB.send });
    attach(fresh, pathB);
    fresh.start();
    await fresh.whenOpen();
    const again = await startDownload(fresh);
    assert.equal((await again.done).sha, bodySha);
    fresh.close();
    pathB.socket.close();
  } finally {
    first.child.kill('SIGKILL');
    second?.child.kill('SIGKILL');
  }
});

test('a graceful exit shutdown ends client sessions at once with the reason', async () => {
  const exit = new ExitServer({ keyPair, config: { port: 0, allowLoopback: true } });
  const { url } = await exit.listen();
  try {
    const path = await openPath(url);
    const session = new ClientSession({ exitPublicKey: fromBase64Url(exit.publicKey), aead: nodeChaCha20Poly1305, sendRecord: path.send });
    attach(session, path);
    session.start();
    await session.whenOpen();
    const download = await startDownload(session);
    await download.passed(1024 * 1024);
    await exit.close();
    const result = await download.done;
    assert.match(result.error?.message ?? '', /shutting down/);
  } finally {
    await exit.close(); // again, for a test that failed before its own close (a second close does nothing)
  }
});
