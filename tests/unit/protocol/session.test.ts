import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { SealedChannel } from '../../../protocol/channel.ts';
import { FrameType, MAX_RECORD_BYTES, NOISE_PROLOGUE, NOISE_PROTOCOL_NAME, RecordType, StreamErrorCode } from '../../../protocol/constants.ts';
import { generateKeyPair, nobleChaCha20Poly1305 } from '../../../protocol/crypto.ts';
import { FlowControlError, MalformedInputError, type ProtocolError, StreamError } from '../../../protocol/errors.ts';
import { ExitSession } from '../../../protocol/exit-session.ts';
import { encodeFrame } from '../../../protocol/frame.ts';
import { decodeServerHello, encodeClientHello } from '../../../protocol/hello.ts';
import { NkInitiator } from '../../../protocol/noise.ts';
import { decodeRecord, encodeHandshakeRecord, encodeRefusedRecord } from '../../../protocol/record.ts';
import type { MuxStream } from '../../../protocol/stream.ts';
import { closeAllSessions, connectPair, echo, readAll, writeAll } from './session-harness.ts';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

afterEach(closeAllSessions);

test('a stream carries 3 MiB both ways byte-identical, and the wire never shows host or content', async () => {
  const pair = connectPair(echo);
  pair.client.start();
  await pair.client.whenOpen();
  const stream = pair.client.openStream({ host: 'secret-destination.example', port: 443 });
  await new Promise<void>((resolve) => (stream.onopen = resolve));
  const payload = randomBytes(3 * 1024 * 1024);
  const received = readAll(stream);
  await writeAll(stream, payload);
  assert.equal(sha(await received), sha(payload));
  const wire = Buffer.concat(pair.wireToExit);
  assert.equal(wire.includes('secret-destination'), false);
  assert.equal(wire.includes(payload.subarray(1000, 1032)), false);
  pair.client.close();
  assert.equal(await pair.exitClosed, undefined);
});

test('a reader that does not consume stops the writer at the stream window (bounded memory)', async () => {
  const window = 128 * 1024;
  let exitStream: MuxStream | undefined;
  let receivedBytes = 0;
  const pair = connectPair(
    (stream) => {
      exitStream ??= stream; // the first stream; a second one below only marks a round trip
      stream.accept();
      stream.ondata = (bytes) => (receivedBytes += bytes.length); // never calls consumed()
    },
    { exit: { config: { streamReceiveWindowBytes: window, streamSendHighWaterBytes: 64 * 1024 } } },
  );
  pair.client.start();
  await pair.client.whenOpen();
  const stream = pair.client.openStream({ host: 'example.org', port: 80 });
  await new Promise<void>((resolve) => (stream.onopen = resolve));
  let accepted = true;
  for (let i = 0; i < 20 && accepted; i++) accepted = stream.write(new Uint8Array(64 * 1024));
  // Instead of a pause, a round trip after those writes: the OPEN of a second stream goes out after their DATA on the
  // same ordered path, and its OPEN_OK comes back only after the exit has handled all of it (a CREDIT the exit should
  // not have sent would reach the client first, and the DATA it let out would arrive before the test goes on). Once
  // the second stream is open, everything the writer could send has arrived.
  const probe = pair.client.openStream({ host: 'example.org', port: 81 });
  await withTimeout(new Promise<void>((resolve) => (probe.onopen = resolve)), 'the second stream to open');
  assert.equal(accepted, false, 'write() must report backpressure');
  assert.equal(receivedBytes, window, 'the exit received exactly one window');
  // The reader catches up: credit flows back and the writer drains.
  const drained = new Promise<void>((resolve) => (stream.ondrain = resolve));
  exitStream?.consumed(receivedBytes);
  await drained;
  pair.client.close();
});

test('OPEN_FAIL reaches the client stream with its SOCKS-numbered code', async () => {
  const pair = connectPair((stream) => stream.reject(StreamErrorCode.CONNECTION_REFUSED, 'connection refused by 10.0.0.1:80'));
  pair.client.start();
  await pair.client.whenOpen();
  const stream = pair.client.openStream({ host: 'example.org', port: 80 });
  const error = await new Promise<StreamError | undefined>((resolve) => (stream.onclose = resolve));
  assert.ok(error instanceof StreamError);
  assert.equal(error.streamCode, StreamErrorCode.CONNECTION_REFUSED);
  assert.equal(pair.client.state, 'open', 'one failed stream leaves the session open');
  pair.client.close();
});

test('the exit refuses streams above maxStreams but keeps the session', async () => {
  const pair = connectPair((stream) => stream.accept(), { exit: { config: { maxStreams: 2 } } });
  pair.client.start();
  await pair.client.whenOpen();
  const opened = [0, 1, 2].map((index) => {
    const stream = pair.client.openStream({ host: 'example.org', port: 80 + index });
    return new Promise<string>((resolve) => {
      stream.onopen = () => resolve('open');
      stream.onclose = (error) => resolve(error ? `failed: ${error.message}` : 'closed');
    });
  });
  const results = await Promise.all(opened);
  assert.deepEqual(results.slice(0, 2), ['open', 'open']);
  assert.match(results[2] ?? '', /too many streams/);
  assert.equal(pair.exit.state, 'open');
  pair.client.close();
});

test('a record with a flipped bit fails the path, not the session: the exit detaches, says why, and keeps the stream', async () => {
  let flip = false;
  const pathFailures: string[] = [];
  const pair = connectPair(echo, { exit: { onPathFailed: (reason) => void pathFailures.push(reason) } });
  const originalReceive = pair.exit.receiveRecord.bind(pair.exit);
  pair.exit.receiveRecord = (record: Uint8Array) => {
    if (flip && record[0] === RecordType.SEALED) {
      const tampered = record.slice();
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01;
      return originalReceive(tampered);
    }
    return originalReceive(record);
  };
  pair.client.start();
  await pair.client.whenOpen();
  const stream = pair.client.openStream({ host: 'example.org', port: 80 });
  await new Promise<void>((resolve) => (stream.onopen = resolve));
  flip = true;
  assert.doesNotThrow(() => stream.write(new Uint8Array([1, 2, 3])));
  await waitFor(() => pathFailures.length > 0, 'the exit to give up the path');
  assert.match(pathFailures[0] ?? '', /failed its checks \(a record failed authentication/);
  assert.equal(pair.exit.state, 'detached');
  assert.equal(pair.exit.error, undefined, 'the session did not fail');
  assert.equal(stream.isClosed, false, 'the stream waits for the next path');
});

/** A hand-rolled client that completes a real handshake and then sends whatever records a test wants. */
async function rawClient(exitConfig: ConstructorParameters<typeof ExitSession>[0]['config'] = {}) {
  const exitKeys = generateKeyPair();
  const toClient: Uint8Array[] = [];
  let exitError: ProtocolError | undefined | 'open' = 'open';
  const pathFailures: string[] = [];
  const exit = new ExitSession({
    staticKeyPair: exitKeys,
    sendRecord: (record) => toClient.push(record.slice()),
    onOpenRequest: (stream) => stream.accept(),
    onClose: (error) => (exitError = error),
    onPathFailed: (reason) => void pathFailures.push(reason),
    config: exitConfig,
  });
  const initiator = new NkInitiator(NOISE_PROTOCOL_NAME, exitKeys.publicKey, {
    prologue: new TextEncoder().encode(NOISE_PROLOGUE),
    aead: nobleChaCha20Poly1305,
  });
  exit.receiveRecord(
    encodeHandshakeRecord(RecordType.HELLO, initiator.writeMessage1(encodeClientHello({ streamWindowBytes: 1 << 20, sessionWindowBytes: 8 << 20 }))),
  );
  const welcome = decodeRecord(toClient[0] ?? new Uint8Array());
  assert.equal(welcome.type, RecordType.WELCOME);
  const { payload, result } = initiator.readMessage2(welcome.type === RecordType.WELCOME ? welcome.handshake : new Uint8Array());
  decodeServerHello(payload);
  const channel = new SealedChannel(result, nobleChaCha20Poly1305);
  return { exit, channel, toClient, pathFailures, error: () => exitError };
}

test('records a volunteer could forge fail the path with the check that caught them; the session waits for another path', async () => {
  const cases: Array<[string, (client: Awaited<ReturnType<typeof rawClient>>) => Uint8Array, RegExp]> = [
    ['unknown record type', () => Uint8Array.of(0x7f, 1, 2, 3), /unknown record type 0x7f/],
    ['empty record', () => new Uint8Array(0), /empty record/],
    ['oversized record', () => new Uint8Array(MAX_RECORD_BYTES + 1).fill(RecordType.SEALED), /exceeds the limit/],
    ['truncated sealed record', () => Uint8Array.of(RecordType.SEALED, 0, 0), /shorter than header and tag/],
    [
      'replayed sequence number',
      (c) => {
        c.channel.nextSendSeq = 0;
        c.exit.receiveRecord(c.channel.seal(encodeFrame({ type: FrameType.PING, opaque: new Uint8Array(8) })));
        c.channel.nextSendSeq = 0;
        return c.channel.seal(encodeFrame({ type: FrameType.PING, opaque: new Uint8Array(8) }));
      },
      /record 0 arrived twice on this path \(replayed\)/,
    ],
    [
      'bad tag',
      (c) => {
        const r = c.channel.seal(encodeFrame({ type: FrameType.PING, opaque: new Uint8Array(8) }));
        r[12] = (r[12] ?? 0) ^ 0xff;
        return r;
      },
      /failed authentication/,
    ],
    ['a second HELLO', () => encodeHandshakeRecord(RecordType.HELLO, new Uint8Array(64)), /HELLO arrived twice/],
    ['a REFUSED sent to the exit', () => encodeRefusedRecord('full'), /does not accept record type 4/],
  ];
  for (const [name, makeRecord, check] of cases) {
    const client = await rawClient();
    assert.doesNotThrow(() => client.exit.receiveRecord(makeRecord(client)), name);
    assert.equal(client.error(), 'open', `${name}: the session did not close`);
    assert.equal(client.exit.state, 'detached', name);
    assert.equal(client.exit.stats.pathsFailed, 1, name);
    assert.match(client.pathFailures[0] ?? '', check, name);
    client.exit.close();
  }
});

test('violations by the authenticated peer each close the session with a typed error, and the exit serves the next session', async () => {
  const cases: Array<[string, (client: Awaited<ReturnType<typeof rawClient>>) => Uint8Array, new (...args: never[]) => ProtocolError]> = [
    ['unknown frame type', (c) => c.channel.seal(Uint8Array.of(0x55, 0, 0, 0, 1)), MalformedInputError],
    ['frame with a bad length', (c) => c.channel.seal(Uint8Array.of(FrameType.CREDIT, 0, 0, 0, 1, 0, 0)), MalformedInputError],
    ['OPEN whose host length lies', (c) => c.channel.seal(Uint8Array.of(FrameType.OPEN, 0, 0, 0, 1, 0, 80, 200, 97, 98)), MalformedInputError],
    [
      'DATA beyond the granted credit',
      (c) => {
        c.exit.receiveRecord(c.channel.seal(encodeFrame({ type: FrameType.OPEN, streamId: 1, host: 'example.org', port: 80 })));
        // The exit's stream window is 64 KiB in this case; two full frames exceed it.
        c.exit.receiveRecord(c.channel.seal(encodeFrame({ type: FrameType.DATA, streamId: 1, data: new Uint8Array(64 * 1024) })));
        return c.channel.seal(encodeFrame({ type: FrameType.DATA, streamId: 1, data: new Uint8Array(1) }));
      },
      FlowControlError,
    ],
  ];
  for (const [name, makeRecord, expected] of cases) {
    const client = await rawClient({ streamReceiveWindowBytes: 64 * 1024 });
    assert.doesNotThrow(() => client.exit.receiveRecord(makeRecord(client)), name);
    const error = client.error();
    assert.ok(error instanceof expected, `${name}: expected ${expected.name}, got ${String(error)}`);
    assert.ok(typeof error.code === 'string' && error.code.startsWith('FERRY_ERR_'), name);
    assert.equal(client.exit.state, 'closed', name);
  }
  // The next, well-behaved session works.
  const good = connectPair(echo);
  good.client.start();
  await good.client.whenOpen();
  good.client.close();
});

test('a session whose handshake never completes times out with a clear error', async () => {
  let closed!: (error: ProtocolError | undefined) => void;
  const closing = new Promise<ProtocolError | undefined>((resolve) => (closed = resolve));
  const exit = new ExitSession({
    staticKeyPair: generateKeyPair(),
    sendRecord: () => {},
    onOpenRequest: () => {},
    onClose: closed,
    config: { handshakeTimeoutMs: 100 },
  });
  const error = await withTimeout(closing, 'the handshake time-out to close the session');
  assert.equal(exit.state, 'closed');
  assert.equal(exit.error, error);
  assert.equal(error?.code, 'FERRY_ERR_HANDSHAKE_TIMEOUT');
});
