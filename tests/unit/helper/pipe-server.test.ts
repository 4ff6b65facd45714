import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { afterEach, beforeEach, describe, test } from 'node:test';
import WebSocket from 'ws';
import { withTimeout } from '../../../harness/wait.ts';
import type { LocalPipe, PipeWarning } from '../../../native-helper/pipe-connection.ts';
import type { PipeRefusal } from '../../../native-helper/pipe-server.ts';
import { PipeServer } from '../../../native-helper/pipe-server.ts';
import type { ExtensionToPipe } from '../../../protocol/local-channel.ts';
import { FERRY_EXTENSION_ID, MAX_PIPE_CONTROL_BYTES, PipeCloseCode } from '../../../protocol/local-channel.ts';

const ORIGIN = `chrome-extension://${FERRY_EXTENSION_ID}`;

type Outcome = { kind: 'open'; ws: WebSocket } | { kind: 'refused'; status: number; body: string };

/** Opens a client WebSocket; resolves with the open socket or the HTTP refusal (status and body). */
function dialPipe(url: string, origin: string | null): Promise<Outcome> {
  const ws = new WebSocket(url, origin === null ? {} : { origin });
  return withTimeout(
    new Promise<Outcome>((resolve, reject) => {
      ws.once('open', () => resolve({ kind: 'open', ws }));
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          ws.terminate();
          resolve({ kind: 'refused', status: res.statusCode ?? 0, body });
        });
      });
      ws.once('error', reject);
    }),
    `the pipe at ${url}`,
    5_000,
  );
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return withTimeout(new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary }))), 'a message', 5_000);
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return withTimeout(new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))), 'close', 5_000);
}

function nextPipe(server: PipeServer): Promise<LocalPipe> {
  return withTimeout(new Promise((resolve) => server.onPipeOpen(resolve)), 'onPipeOpen', 5_000);
}

describe('PipeServer', () => {
  let server: PipeServer;
  let warnings: Array<PipeWarning | PipeRefusal>;
  const clients: WebSocket[] = [];

  beforeEach(async () => {
    warnings = [];
    server = await PipeServer.start({ allowedOrigin: ORIGIN, onWarning: (warning) => warnings.push(warning) });
  });
  afterEach(async () => {
    for (const ws of clients.splice(0)) ws.terminate();
    await server.close();
  });

  async function open(token: string, origin: string | null = ORIGIN): Promise<Outcome> {
    const outcome = await dialPipe(`${server.url}?token=${encodeURIComponent(token)}`, origin);
    if (outcome.kind === 'open') clients.push(outcome.ws);
    return outcome;
  }

  test('tokens are 32 random bytes in base64url, different each time', () => {
    const a = server.issueToken();
    const b = server.issueToken();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b);
    assert.match(server.url, /^ws:\/\/127\.0\.0\.1:\d+\/pipe$/);
  });

  test('the right token and Origin open the pipe; records and control flow both ways', async () => {
    const opened = nextPipe(server);
    const outcome = await open(server.issueToken());
    assert.equal(outcome.kind, 'open');
    const ws = (outcome as { ws: WebSocket }).ws;
    const pipe = await opened;
    assert.equal(server.currentPipe, pipe);

    const records: Uint8Array[] = [];
    const controls: ExtensionToPipe[] = [];
    pipe.onRecord((record) => records.push(record));
    const gotControl = new Promise<void>((resolve) =>
      pipe.onControl((message) => {
        controls.push(message);
        resolve();
      }),
    );
    ws.send(Uint8Array.of(1, 2, 3));
    ws.send(JSON.stringify({ type: 'path-up', pathId: 1, role: 'carry' }));
    await withTimeout(gotControl, 'a control message', 5_000);
    assert.deepEqual(
      records.map((record) => [...record]),
      [[1, 2, 3]],
    );
    assert.deepEqual(controls, [{ type: 'path-up', pathId: 1, role: 'carry' }]);

    const big = new Uint8Array(256 * 1024).fill(7);
    const received = nextMessage(ws);
    assert.equal(pipe.sendRecord(big), true);
    const record = await received;
    assert.equal(record.isBinary, true);
    assert.equal(record.data.length, big.length);
    const text = nextMessage(ws);
    pipe.sendControl({ type: 'need-path', reason: 'test' });
    assert.deepEqual(JSON.parse((await text).data.toString()), { type: 'need-path', reason: 'test' });
    assert.equal((await text).isBinary, false);
  });

  test('a used token is refused with 403 and a reason', async () => {
    const token = server.issueToken();
    assert.equal((await open(token)).kind, 'open');
    const again = await open(token);
    assert.deepEqual(again.kind === 'refused' && again.status, 403);
    assert.match((again as { body: string }).body, /missing, wrong or already used/);
  });

  test('a wrong token is refused with 403', async () => {
    server.issueToken();
    const outcome = await open('A'.repeat(43));
    assert.equal(outcome.kind === 'refused' && outcome.status, 403);
    assert.ok(warnings.some((warning) => warning.code === 'PIPE_REFUSED'));
  });

  test('issuing a new token invalidates the unused old one', async () => {
    const old = server.issueToken();
    const fresh = server.issueToken();
    assert.equal((await open(old)).kind, 'refused');
    assert.equal((await open(fresh)).kind, 'open');
  });

  test('a wrong or missing Origin is refused and does not consume the token', async () => {
    const token = server.issueToken();
    for (const origin of ['https://evil.example', 'chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', `${ORIGIN}/`, null]) {
      const outcome = await open(token, origin);
      assert.equal(outcome.kind === 'refused' && outcome.status, 403, String(origin));
      assert.match((outcome as { body: string }).body, /is not the Ferry extension/);
    }
    assert.equal((await open(token)).kind, 'open');
  });

  test('a request for another path gets 404', async () => {
    const outcome = await dialPipe(`ws://127.0.0.1:${server.port}/other?token=${server.issueToken()}`, ORIGIN);
    assert.equal(outcome.kind === 'refused' && outcome.status, 404);
  });

  test('a new valid connection replaces the old one, which is closed with a reason', async () => {
    const first = await open(server.issueToken());
    const firstWs = (first as { ws: WebSocket }).ws;
    const firstClosed = closeOf(firstWs);
    const secondOpened = nextPipe(server);
    assert.equal((await open(server.issueToken())).kind, 'open');
    const second = await secondOpened;
    assert.deepEqual(await firstClosed, { code: PipeCloseCode.REPLACED, reason: 'replaced by a newer pipe connection' });
    assert.equal(server.currentPipe, second);
    assert.equal(second.isOpen, true);
  });

  test('bad control messages are reported and ignored; the pipe stays open', async () => {
    const opened = nextPipe(server);
    const ws = ((await open(server.issueToken())) as { ws: WebSocket }).ws;
    const pipe = await opened;
    const controls: ExtensionToPipe[] = [];
    const gotValid = new Promise<void>((resolve) =>
      pipe.onControl((message) => {
        controls.push(message);
        resolve();
      }),
    );
    ws.send('{not json');
    ws.send(JSON.stringify({ type: 'take-over' }));
    ws.send(JSON.stringify({ type: 'path-down', pathId: 1 })); // missing reason
    ws.send(JSON.stringify({ type: 'path-error', code: 'X', message: 'y'.repeat(MAX_PIPE_CONTROL_BYTES) })); // over maxControlMessageBytes
    ws.send(JSON.stringify({ type: 'path-down', pathId: 1, reason: 'data channel closed' }));
    await withTimeout(gotValid, 'the valid control message', 5_000);
    assert.deepEqual(controls, [{ type: 'path-down', pathId: 1, reason: 'data channel closed' }]);
    assert.deepEqual(
      warnings.map((warning) => warning.code),
      ['PIPE_BAD_CONTROL', 'PIPE_BAD_CONTROL', 'PIPE_BAD_CONTROL', 'PIPE_CONTROL_TOO_LARGE'],
    );
    assert.equal(pipe.isOpen, true);
  });

  test('a message larger than maxPipeMessageBytes closes the pipe with 1009', async () => {
    const opened = nextPipe(server);
    const ws = ((await open(server.issueToken())) as { ws: WebSocket }).ws;
    const pipe = await opened;
    const closed = closeOf(ws);
    ws.send(new Uint8Array(256 * 1024 + 1024 + 1));
    assert.equal((await closed).code, 1009);
    assert.equal(pipe.isOpen, false);
    assert.equal(pipe.sendRecord(Uint8Array.of(1)), false);
  });

  test('close(reason) reaches the extension with code 4002', async () => {
    const opened = nextPipe(server);
    const ws = ((await open(server.issueToken())) as { ws: WebSocket }).ws;
    const pipe = await opened;
    const closed = closeOf(ws);
    const sessionHeard = new Promise((resolve) => pipe.onClose(resolve));
    pipe.close('session over');
    assert.deepEqual(await closed, { code: PipeCloseCode.CLOSED_BY_HELPER, reason: 'session over' });
    assert.deepEqual(await withTimeout(sessionHeard, 'onClose', 5_000), { code: PipeCloseCode.CLOSED_BY_HELPER, reason: 'session over' });
    assert.equal(server.currentPipe, null);
  });
});

describe('PipeServer configuration', () => {
  test('an allowedOrigin with a trailing slash or no scheme is refused up front', async () => {
    await assert.rejects(PipeServer.start({ allowedOrigin: `${ORIGIN}/` }), { code: 'HELPER_BAD_CONFIG' });
    await assert.rejects(PipeServer.start({ allowedOrigin: FERRY_EXTENSION_ID }), { code: 'HELPER_BAD_CONFIG' });
  });
});
