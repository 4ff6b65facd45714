// Direct tests of protocol/muxer.ts with protocol/stream.ts: opening, per-stream and session credit, limits, roles, PING, abortAll, and two muxers back to back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { defaultSessionConfig, type SessionConfig } from '../../../protocol/config.ts';
import { FrameType, MAX_DATA_PAYLOAD_BYTES, SessionCloseCode, StreamErrorCode } from '../../../protocol/constants.ts';
import { FlowControlError, MalformedInputError, StreamError } from '../../../protocol/errors.ts';
import type { Frame } from '../../../protocol/frame.ts';
import { Multiplexer } from '../../../protocol/muxer.ts';
import type { MuxStream } from '../../../protocol/stream.ts';
import { connectMuxPair, creditFrames, deliver, sum } from './mux-pair.ts';

const target = { host: 'example.org', port: 443 };

/** A session config with only the windows and limits a test cares about changed (the muxer does not validate it). */
function config(overrides: Partial<SessionConfig> = {}): SessionConfig {
  return { ...defaultSessionConfig, ...overrides };
}

const bytes = (length: number, fill = 0x42): Uint8Array => new Uint8Array(length).fill(fill);

interface Endpoint {
  mux: Multiplexer;
  /** Every frame the muxer sent, in order. */
  sent: Frame[];
  /** Exit side: the streams onOpenRequest was called with. */
  requests: MuxStream[];
  goAways: Array<{ code: SessionCloseCode; reason: string }>;
}

interface EndpointOptions {
  config?: Partial<SessionConfig>;
  peerStreamWindowBytes?: number;
  peerSessionWindowBytes?: number;
  /** Exit side: whether onOpenRequest is set at all (default true). */
  handlesOpen?: boolean;
}

function endpoint(role: 'client' | 'exit', options: EndpointOptions = {}): Endpoint {
  const sent: Frame[] = [];
  const requests: MuxStream[] = [];
  const goAways: Endpoint['goAways'] = [];
  const mux = new Multiplexer({
    role,
    config: config(options.config),
    peerStreamWindowBytes: options.peerStreamWindowBytes ?? defaultSessionConfig.streamReceiveWindowBytes,
    peerSessionWindowBytes: options.peerSessionWindowBytes ?? defaultSessionConfig.sessionReceiveWindowBytes,
    sendFrame: (frame) => sent.push(frame),
    onOpenRequest: options.handlesOpen === false ? undefined : (stream) => requests.push(stream),
    onGoAway: (code, reason) => goAways.push({ code, reason }),
  });
  return { mux, sent, requests, goAways };
}

/** Exit side: the client opens `streamId` and the exit accepts it. */
function acceptedStream(exit: Endpoint, streamId: number): MuxStream {
  exit.mux.receiveFrame({ type: FrameType.OPEN, streamId, host: target.host, port: target.port });
  const stream = exit.requests.at(-1);
  assert.ok(stream !== undefined && stream.id === streamId);
  stream.accept();
  return stream;
}

/** Client side: opens a stream and lets the exit's OPEN_OK arrive. */
function openedStream(client: Endpoint): MuxStream {
  const stream = client.mux.openStream(target);
  client.mux.receiveFrame({ type: FrameType.OPEN_OK, streamId: stream.id });
  assert.equal(stream.isOpen, true);
  return stream;
}

function dataFrames(sent: Frame[], streamId?: number): number[] {
  return sent.flatMap((frame) => (frame.type === FrameType.DATA && (streamId === undefined || frame.streamId === streamId) ? [frame.data.length] : []));
}

// ---- opening streams ----

test('the client opens streams with odd ids 1, 3, 5 and sends OPEN with the target', () => {
  const client = endpoint('client');
  const ids = [0, 1, 2].map((index) => client.mux.openStream({ host: `h${index}.example`, port: 80 + index }).id);
  assert.deepStrictEqual(ids, [1, 3, 5]);
  assert.deepStrictEqual(client.sent, [
    { type: FrameType.OPEN, streamId: 1, host: 'h0.example', port: 80 },
    { type: FrameType.OPEN, streamId: 3, host: 'h1.example', port: 81 },
    { type: FrameType.OPEN, streamId: 5, host: 'h2.example', port: 82 },
  ]);
  assert.equal(client.mux.streamCount, 3);
});

test('the exit hands an OPEN to onOpenRequest, accept() sends OPEN_OK, and the client stream opens on OPEN_OK', () => {
  const exit = endpoint('exit');
  exit.mux.receiveFrame({ type: FrameType.OPEN, streamId: 7, host: 'dest.example', port: 8080 });
  const request = exit.requests[0];
  assert.ok(request !== undefined);
  assert.deepStrictEqual(request.target, { host: 'dest.example', port: 8080 });
  assert.equal(request.isOpen, false);
  assert.deepStrictEqual(exit.sent, []);
  let exitOpened = false;
  request.onopen = () => (exitOpened = true);
  request.accept();
  assert.ok(exitOpened && request.isOpen);
  assert.deepStrictEqual(exit.sent, [{ type: FrameType.OPEN_OK, streamId: 7 }]);

  const client = endpoint('client');
  const stream = client.mux.openStream(target);
  let clientOpened = false;
  stream.onopen = () => (clientOpened = true);
  client.mux.receiveFrame({ type: FrameType.OPEN_OK, streamId: stream.id });
  assert.ok(clientOpened && stream.isOpen);
});

test('an exit without an onOpenRequest handler refuses every stream with OPEN_FAIL "not allowed"', () => {
  const exit = endpoint('exit', { handlesOpen: false });
  exit.mux.receiveFrame({ type: FrameType.OPEN, streamId: 1, host: target.host, port: target.port });
  const sent = exit.sent[0];
  assert.ok(sent !== undefined && sent.type === FrameType.OPEN_FAIL);
  assert.equal(sent.code, StreamErrorCode.NOT_ALLOWED);
  assert.equal(exit.mux.streamCount, 0);
});

test('OPEN_FAIL closes the client stream with a StreamError carrying its code, and forgets the stream', () => {
  const client = endpoint('client');
  const stream = client.mux.openStream(target);
  let closedWith: StreamError | undefined;
  stream.onclose = (error) => (closedWith = error);
  client.mux.receiveFrame({ type: FrameType.OPEN_FAIL, streamId: stream.id, code: StreamErrorCode.CONNECTION_REFUSED, reason: 'refused' });
  assert.ok(closedWith instanceof StreamError);
  assert.equal(closedWith.streamCode, StreamErrorCode.CONNECTION_REFUSED);
  assert.equal(stream.isClosed, true);
  assert.equal(client.mux.streamCount, 0);
});

test('stream.reject() at the exit sends OPEN_FAIL with the code and reason and forgets the stream', () => {
  const exit = endpoint('exit');
  exit.mux.receiveFrame({ type: FrameType.OPEN, streamId: 1, host: target.host, port: target.port });
  exit.requests[0]?.reject(StreamErrorCode.HOST_UNREACHABLE, 'no route');
  assert.deepStrictEqual(exit.sent, [{ type: FrameType.OPEN_FAIL, streamId: 1, code: StreamErrorCode.HOST_UNREACHABLE, reason: 'no route' }]);
  assert.equal(exit.mux.streamCount, 0);
});

test('an OPEN for a stream id that is already open is malformed', () => {
  const exit = endpoint('exit');
  acceptedStream(exit, 1);
  assert.throws(() => exit.mux.receiveFrame({ type: FrameType.OPEN, streamId: 1, host: target.host, port: target.port }), MalformedInputError);
});

test('a second OPEN_OK, or an OPEN_FAIL after OPEN_OK, for an open stream is malformed', () => {
  const client = endpoint('client');
  const stream = openedStream(client);
  assert.throws(() => client.mux.receiveFrame({ type: FrameType.OPEN_OK, streamId: stream.id }), MalformedInputError);
  assert.throws(
    () => client.mux.receiveFrame({ type: FrameType.OPEN_FAIL, streamId: stream.id, code: StreamErrorCode.GENERAL_FAILURE, reason: '' }),
    MalformedInputError,
  );
});

test('OPEN_OK, OPEN_FAIL, CLOSE, RESET and CREDIT for a stream the client does not know are ignored', () => {
  const client = endpoint('client');
  for (const frame of [
    { type: FrameType.OPEN_OK, streamId: 99 },
    { type: FrameType.OPEN_FAIL, streamId: 99, code: StreamErrorCode.GENERAL_FAILURE, reason: '' },
    { type: FrameType.CLOSE, streamId: 99 },
    { type: FrameType.RESET, streamId: 99, code: StreamErrorCode.GENERAL_FAILURE, reason: '' },
    { type: FrameType.CREDIT, streamId: 99, bytes: 10 },
  ] satisfies Frame[]) {
    assert.doesNotThrow(() => client.mux.receiveFrame(frame));
  }
  assert.deepStrictEqual(client.sent, []);
});

// ---- roles ----

test('the exit refuses OPEN_OK and OPEN_FAIL, which only the exit may send, as malformed', () => {
  const exit = endpoint('exit');
  acceptedStream(exit, 1);
  assert.throws(() => exit.mux.receiveFrame({ type: FrameType.OPEN_OK, streamId: 1 }), MalformedInputError);
  assert.throws(() => exit.mux.receiveFrame({ type: FrameType.OPEN_OK, streamId: 3 }), MalformedInputError);
  assert.throws(
    () => exit.mux.receiveFrame({ type: FrameType.OPEN_FAIL, streamId: 1, code: StreamErrorCode.GENERAL_FAILURE, reason: 'x' }),
    MalformedInputError,
  );
});

test('the client refuses an OPEN from the exit as malformed', () => {
  const client = endpoint('client');
  assert.throws(() => client.mux.receiveFrame({ type: FrameType.OPEN, streamId: 2, host: target.host, port: target.port }), MalformedInputError);
  assert.equal(client.mux.streamCount, 0);
});

test('only the client opens streams: openStream() on the exit throws', () => {
  const exit = endpoint('exit');
  assert.throws(() => exit.mux.openStream(target), /only the client opens streams/);
  assert.deepStrictEqual(exit.sent, []);
});

// ---- stream limit ----

test('above maxStreams the exit answers OPEN_FAIL "too many streams" and keeps the session and its other streams', () => {
  const exit = endpoint('exit', { config: { maxStreams: 2 } });
  const first = acceptedStream(exit, 1);
  acceptedStream(exit, 3);
  exit.sent.length = 0;
  assert.doesNotThrow(() => exit.mux.receiveFrame({ type: FrameType.OPEN, streamId: 5, host: target.host, port: target.port }));
  const refusal = exit.sent[0];
  assert.ok(refusal !== undefined && refusal.type === FrameType.OPEN_FAIL && refusal.streamId === 5);
  assert.equal(refusal.code, StreamErrorCode.GENERAL_FAILURE);
  assert.match(refusal.reason, /too many streams/);
  assert.equal(exit.requests.length, 2, 'the refused stream never reached onOpenRequest');
  assert.equal(exit.mux.streamCount, 2);
  // The session goes on: the open streams still carry data, and a closed stream frees its slot.
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(3) });
  assert.equal(first.bytesReceived, 3);
  first.reset(StreamErrorCode.GENERAL_FAILURE, 'done');
  assert.equal(exit.mux.streamCount, 1);
  acceptedStream(exit, 7);
  assert.equal(exit.mux.streamCount, 2);
});

test('the client refuses to open more than its own maxStreams at once', () => {
  const client = endpoint('client', { config: { maxStreams: 2 } });
  client.mux.openStream(target);
  client.mux.openStream(target);
  assert.throws(() => client.mux.openStream(target), StreamError);
  assert.equal(client.sent.length, 2);
});

// ---- receiving: per-stream and session credit ----

test('DATA up to the stream window is accepted and one byte beyond it is a flow-control error', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200_000 }),
      fc.array(fc.integer({ min: 1, max: MAX_DATA_PAYLOAD_BYTES }), { minLength: 1, maxLength: 8 }),
      (window, sizes) => {
        const exit = endpoint('exit', { config: { streamReceiveWindowBytes: window, sessionReceiveWindowBytes: 0xffff_ffff } });
        const stream = acceptedStream(exit, 1);
        let received = 0;
        stream.ondata = (data) => (received += data.length);
        // Frames of the drawn sizes, cut so their total is exactly the window.
        let left = window;
        for (let index = 0; left > 0; index++) {
          const size = Math.min(left, sizes[index % sizes.length] ?? 1);
          exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(size) });
          left -= size;
        }
        assert.equal(received, window);
        assert.throws(() => exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(1) }), FlowControlError);
      },
    ),
    { numRuns: 200 },
  );
});

test('consuming a quarter of the stream window sends a CREDIT for the consumed bytes, which reopens the window', () => {
  const window = 1000;
  const exit = endpoint('exit', { config: { streamReceiveWindowBytes: window, sessionReceiveWindowBytes: 1_000_000 } });
  const stream = acceptedStream(exit, 1);
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(window) });
  stream.consumed(249);
  assert.deepStrictEqual(creditFrames(exit.sent, 1), [], 'below a quarter window: no CREDIT yet');
  stream.consumed(1);
  assert.deepStrictEqual(creditFrames(exit.sent, 1), [250]);
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(250) });
  assert.throws(() => exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(1) }), FlowControlError);
});

test('DATA beyond the session window is a flow-control error even when each stream is within its own window', () => {
  const exit = endpoint('exit', { config: { streamReceiveWindowBytes: 1000, sessionReceiveWindowBytes: 1500 } });
  acceptedStream(exit, 1);
  acceptedStream(exit, 3);
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(1000) });
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 3, data: bytes(500) });
  assert.throws(
    () => exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 3, data: bytes(1) }),
    (error: unknown) => error instanceof FlowControlError && /session/.test(error.message),
  );
});

test('consuming a quarter of the session window sends a session CREDIT (stream 0), which lets any stream receive again', () => {
  const exit = endpoint('exit', { config: { streamReceiveWindowBytes: 1000, sessionReceiveWindowBytes: 1200 } });
  const first = acceptedStream(exit, 1);
  acceptedStream(exit, 3);
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(700) });
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 3, data: bytes(500) });
  first.consumed(300);
  assert.deepStrictEqual(creditFrames(exit.sent, 0), [300]);
  assert.deepStrictEqual(creditFrames(exit.sent, 1), [300]);
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 3, data: bytes(300) });
  assert.throws(() => exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(1) }), FlowControlError);
});

test('DATA on a client stream before its OPEN_OK, or after the peer CLOSEd it, is malformed; so is a second CLOSE', () => {
  const client = endpoint('client');
  const opening = client.mux.openStream(target);
  assert.throws(() => client.mux.receiveFrame({ type: FrameType.DATA, streamId: opening.id, data: bytes(1) }), MalformedInputError);
  const open = openedStream(client);
  let ended = false;
  open.onend = () => (ended = true);
  client.mux.receiveFrame({ type: FrameType.CLOSE, streamId: open.id });
  assert.equal(ended, true);
  assert.throws(() => client.mux.receiveFrame({ type: FrameType.DATA, streamId: open.id, data: bytes(1) }), MalformedInputError);
  assert.throws(() => client.mux.receiveFrame({ type: FrameType.CLOSE, streamId: open.id }), MalformedInputError);
});

test('DATA for a stream that is unknown or already closed is dropped and its session credit comes back', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 4, max: 100_000 }),
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 200, size: 'medium' }),
      (window, sizes) => {
        const exit = endpoint('exit', { config: { streamReceiveWindowBytes: 1000, sessionReceiveWindowBytes: window } });
        const closed = acceptedStream(exit, 1);
        closed.reset(StreamErrorCode.GENERAL_FAILURE, 'gone');
        // A sender that honours its session credit: it sends to streams 1 (closed) and 9 (never opened) while it has credit.
        let credit = window;
        let sent = 0;
        for (const [index, wanted] of sizes.entries()) {
          credit += sum(creditFrames(exit.sent.splice(0), 0));
          const size = Math.min(wanted, credit);
          if (size === 0) break;
          exit.mux.receiveFrame({ type: FrameType.DATA, streamId: index % 2 === 0 ? 1 : 9, data: bytes(size) });
          credit -= size;
          sent += size;
        }
        credit += sum(creditFrames(exit.sent, 0));
        // All the dropped bytes but less than a quarter window came back; the rest waits for the next batch.
        assert.ok(window - credit < window / 4, `credit ${credit} of ${window} after ${sent} bytes`);
        assert.equal(exit.mux.streamCount, 0);
      },
    ),
    { numRuns: 200 },
  );
});

test('DATA for an unknown stream still counts against the session window until its credit is returned', () => {
  const exit = endpoint('exit', { config: { sessionReceiveWindowBytes: 100, streamReceiveWindowBytes: 100 } });
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 5, data: bytes(20) }); // under a quarter window: no credit back yet
  assert.deepStrictEqual(creditFrames(exit.sent, 0), []);
  assert.throws(() => exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 5, data: bytes(81) }), FlowControlError);

  const other = endpoint('exit', { config: { sessionReceiveWindowBytes: 100, streamReceiveWindowBytes: 100 } });
  other.mux.receiveFrame({ type: FrameType.DATA, streamId: 5, data: bytes(20) });
  other.mux.receiveFrame({ type: FrameType.DATA, streamId: 5, data: bytes(5) });
  assert.deepStrictEqual(creditFrames(other.sent, 0), [25], 'a quarter window dropped: its credit goes back at once');
  other.mux.receiveFrame({ type: FrameType.DATA, streamId: 5, data: bytes(100) });
});

test('bytes consumed after their stream was reset still give their session credit back', () => {
  const exit = endpoint('exit', { config: { streamReceiveWindowBytes: 1000, sessionReceiveWindowBytes: 1000 } });
  const stream = acceptedStream(exit, 1);
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(1000) });
  exit.mux.receiveFrame({ type: FrameType.RESET, streamId: 1, code: StreamErrorCode.GENERAL_FAILURE, reason: 'peer gave up' });
  assert.equal(stream.isClosed, true);
  stream.consumed(1000); // the owner drops what it still held
  assert.deepStrictEqual(creditFrames(exit.sent, 0), [1000]);
  assert.deepStrictEqual(creditFrames(exit.sent, 1), [], 'no stream credit for a closed stream');
  acceptedStream(exit, 3);
  exit.mux.receiveFrame({ type: FrameType.DATA, streamId: 3, data: bytes(1000) });
});

// ---- sending: per-stream and session credit ----

test('a writer sends no more than the peer stream window, and each CREDIT lets exactly that much more out', () => {
  const client = endpoint('client', { peerStreamWindowBytes: 100, peerSessionWindowBytes: 1_000_000 });
  const stream = openedStream(client);
  stream.write(bytes(250));
  assert.deepStrictEqual(dataFrames(client.sent, stream.id), [100]);
  assert.equal(stream.bufferedAmount, 150);
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: stream.id, bytes: 30 });
  assert.deepStrictEqual(dataFrames(client.sent, stream.id), [100, 30]);
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: stream.id, bytes: 500 });
  assert.deepStrictEqual(dataFrames(client.sent, stream.id), [100, 30, 120]);
  assert.equal(stream.bufferedAmount, 0);
  assert.equal(stream.bytesSent, 250);
});

test('nothing is sent before OPEN_OK; queued bytes go out on OPEN_OK, and end() before it sends CLOSE after them', () => {
  const client = endpoint('client');
  const stream = client.mux.openStream(target);
  stream.write(bytes(10));
  stream.end();
  assert.deepStrictEqual(
    client.sent.map((frame) => frame.type),
    [FrameType.OPEN],
  );
  client.mux.receiveFrame({ type: FrameType.OPEN_OK, streamId: stream.id });
  assert.deepStrictEqual(
    client.sent.map((frame) => frame.type),
    [FrameType.OPEN, FrameType.DATA, FrameType.CLOSE],
  );
});

test('write() returns false at the send high-water mark, and ondrain fires once credit has drained the queue below it', () => {
  const client = endpoint('client', { config: { streamSendHighWaterBytes: 100 }, peerStreamWindowBytes: 10 });
  const stream = openedStream(client);
  let drains = 0;
  stream.ondrain = () => drains++;
  assert.equal(stream.write(bytes(50)), true, '40 bytes queued: below the mark');
  assert.equal(stream.write(bytes(70)), false, '110 bytes queued: above the mark');
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: stream.id, bytes: 5 });
  assert.equal(drains, 0, 'still 105 bytes queued');
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: stream.id, bytes: 10 });
  assert.equal(stream.bufferedAmount, 95);
  assert.equal(drains, 1);
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: stream.id, bytes: 1000 });
  assert.equal(drains, 1, 'ondrain fires once per crossing');
});

test('a large write goes out in DATA frames of at most 64 KiB', () => {
  const client = endpoint('client');
  const stream = openedStream(client);
  stream.write(bytes(3 * MAX_DATA_PAYLOAD_BYTES + 5));
  assert.deepStrictEqual(dataFrames(client.sent), [MAX_DATA_PAYLOAD_BYTES, MAX_DATA_PAYLOAD_BYTES, MAX_DATA_PAYLOAD_BYTES, 5]);
});

test('session credit is shared: streams stall together when it runs out and a session CREDIT lets the waiting ones go on', () => {
  const client = endpoint('client', { peerStreamWindowBytes: 1000, peerSessionWindowBytes: 150 });
  const first = openedStream(client);
  const second = openedStream(client);
  first.write(bytes(100));
  second.write(bytes(100));
  assert.deepStrictEqual(dataFrames(client.sent, first.id), [100]);
  assert.deepStrictEqual(dataFrames(client.sent, second.id), [50]);
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: 0, bytes: 30 });
  assert.deepStrictEqual(dataFrames(client.sent, second.id), [50, 30]);
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: 0, bytes: 1000 });
  assert.deepStrictEqual(dataFrames(client.sent, second.id), [50, 30, 20]);
  assert.equal(sum(dataFrames(client.sent)), 200);
});

test('stream credit above 2^32 - 1 bytes is a flow-control error', () => {
  const client = endpoint('client', { peerStreamWindowBytes: 1000 });
  const stream = openedStream(client);
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: stream.id, bytes: 0xffff_ffff - 1000 });
  assert.throws(() => client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: stream.id, bytes: 1 }), FlowControlError);
});

test('session credit that would pass 2^53 - 1 bytes is a flow-control error', () => {
  const client = endpoint('client', { peerSessionWindowBytes: Number.MAX_SAFE_INTEGER - 10 });
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: 0, bytes: 10 });
  assert.throws(() => client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: 0, bytes: 1 }), FlowControlError);
});

// ---- session frames ----

test('PING is answered by PONG with the same 8 bytes, and PONG is answered by nothing', () => {
  fc.assert(
    fc.property(fc.constantFrom<'client' | 'exit'>('client', 'exit'), fc.uint8Array({ minLength: 8, maxLength: 8 }), (role, opaque) => {
      const side = endpoint(role);
      side.mux.receiveFrame({ type: FrameType.PING, opaque });
      assert.deepStrictEqual(side.sent, [{ type: FrameType.PONG, opaque }]);
      side.mux.receiveFrame({ type: FrameType.PONG, opaque });
      assert.equal(side.sent.length, 1);
    }),
    { numRuns: 100 },
  );
});

test('GOAWAY reaches onGoAway with its code and reason', () => {
  const client = endpoint('client');
  client.mux.receiveFrame({ type: FrameType.GOAWAY, code: SessionCloseCode.SHUTTING_DOWN, reason: 'maintenance' });
  assert.deepStrictEqual(client.goAways, [{ code: SessionCloseCode.SHUTTING_DOWN, reason: 'maintenance' }]);
});

test('RESET from the peer closes the stream with a StreamError carrying the code', () => {
  const client = endpoint('client');
  const stream = openedStream(client);
  let closedWith: StreamError | undefined;
  stream.onclose = (error) => (closedWith = error);
  client.mux.receiveFrame({ type: FrameType.RESET, streamId: stream.id, code: StreamErrorCode.TIMED_OUT, reason: 'idle' });
  assert.ok(closedWith instanceof StreamError);
  assert.equal(closedWith.streamCode, StreamErrorCode.TIMED_OUT);
  assert.equal(client.mux.streamCount, 0);
  assert.throws(() => stream.write(bytes(1)), StreamError);
});

test('a stream is forgotten once both sides have sent CLOSE', () => {
  const client = endpoint('client');
  const stream = openedStream(client);
  let closes = 0;
  stream.onclose = (error) => {
    closes++;
    assert.equal(error, undefined);
  };
  stream.end();
  assert.equal(client.mux.streamCount, 1, 'half-closed: the peer may still send');
  client.mux.receiveFrame({ type: FrameType.DATA, streamId: stream.id, data: bytes(4) });
  client.mux.receiveFrame({ type: FrameType.CLOSE, streamId: stream.id });
  assert.equal(closes, 1);
  assert.equal(client.mux.streamCount, 0);
});

// ---- abortAll ----

test('abortAll fails every stream with the error, sends nothing, ignores later frames and refuses new streams', () => {
  const client = endpoint('client', { peerStreamWindowBytes: 10 });
  const streams = [openedStream(client), openedStream(client), client.mux.openStream(target)];
  const errors: Array<StreamError | undefined> = [];
  for (const stream of streams) stream.onclose = (error) => errors.push(error);
  streams[0]?.write(bytes(50)); // 40 bytes wait for credit
  const sentBefore = client.sent.length;
  const error = new StreamError(StreamErrorCode.GENERAL_FAILURE, 'session lost');
  client.mux.abortAll(error);
  assert.deepStrictEqual(errors, [error, error, error]);
  assert.equal(client.mux.streamCount, 0);
  assert.ok(streams.every((stream) => stream.isClosed));
  // Later frames change nothing and send nothing, not even a PONG or a CREDIT.
  client.mux.receiveFrame({ type: FrameType.PING, opaque: bytes(8) });
  client.mux.receiveFrame({ type: FrameType.CREDIT, streamId: 1, bytes: 100 });
  client.mux.receiveFrame({ type: FrameType.DATA, streamId: 1, data: bytes(5) });
  assert.equal(client.sent.length, sentBefore);
  assert.throws(() => client.mux.openStream(target), StreamError);
  assert.throws(() => streams[1]?.write(bytes(1)), StreamError);
});

// ---- two muxers back to back ----

/** One end of a stream as its owner sees it: what arrived, what is not yet consumed, whether it ended. */
class Reader {
  readonly chunks: Uint8Array[] = [];
  pending = 0;
  ended = false;
  closed = false;
  error: StreamError | undefined;

  constructor(
    readonly stream: MuxStream,
    onData?: (data: Uint8Array) => void,
  ) {
    stream.ondata = (data) => {
      this.chunks.push(data.slice());
      this.pending += data.length;
      onData?.(data);
    };
    stream.onend = () => (this.ended = true);
    stream.onclose = (error) => {
      this.closed = true;
      this.error = error;
    };
  }

  consume(count: number): void {
    const amount = Math.min(count, this.pending);
    if (amount <= 0) return;
    this.pending -= amount;
    this.stream.consumed(amount);
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Held by the receiver and not yet consumed: never more than its stream window per stream, its session window in all. */
function assertWithinWindows(readers: Iterable<Reader>, windows: SessionConfig): void {
  let total = 0;
  for (const reader of readers) {
    assert.ok(reader.pending <= windows.streamReceiveWindowBytes, `stream ${reader.stream.id} holds ${reader.pending} > ${windows.streamReceiveWindowBytes}`);
    total += reader.pending;
  }
  assert.ok(total <= windows.sessionReceiveWindowBytes, `session holds ${total} > ${windows.sessionReceiveWindowBytes}`);
}

type Step =
  | { kind: 'write'; stream: number; data: Uint8Array }
  | { kind: 'deliver'; toExit: boolean; frames: number }
  | { kind: 'consume'; atExit: boolean; stream: number; share: number };

interface Scenario {
  clientWindows: { stream: number; session: number };
  exitWindows: { stream: number; session: number };
  streams: number;
  steps: Step[];
}

const chunk = fc.tuple(fc.noBias(fc.integer({ min: 0, max: 4000 })), fc.integer({ min: 0, max: 255 })).map(([length, seed]) => {
  // A pattern that does not repeat within 256 bytes, so a lost, repeated or reordered frame shows.
  const data = new Uint8Array(length);
  for (let index = 0; index < length; index++) data[index] = (seed + index * 13 + (index >> 8)) & 0xff;
  return data;
});

const windows = fc.oneof(
  // Small windows: many rounds of credit per run.
  fc.tuple(fc.integer({ min: 32, max: 3000 }), fc.integer({ min: 32, max: 8000 })).map(([stream, session]) => ({ stream, session })),
  // Valid-config windows (session >= stream >= 64 KiB): credit rarely runs out.
  fc
    .tuple(fc.integer({ min: MAX_DATA_PAYLOAD_BYTES, max: 200_000 }), fc.integer({ min: 0, max: 200_000 }))
    .map(([stream, extra]) => ({ stream, session: stream + extra })),
);

const scenario: fc.Arbitrary<Scenario> = fc.record({
  clientWindows: windows,
  exitWindows: windows,
  streams: fc.integer({ min: 1, max: 3 }),
  steps: fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.tuple(fc.nat(2), chunk).map(([stream, data]): Step => ({ kind: 'write', stream, data })) },
      { weight: 4, arbitrary: fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 12 })).map(([toExit, frames]): Step => ({ kind: 'deliver', toExit, frames })) },
      {
        weight: 3,
        arbitrary: fc
          .tuple(fc.boolean(), fc.nat(2), fc.double({ min: 0, max: 1, noNaN: true }))
          .map(([atExit, stream, share]): Step => ({ kind: 'consume', atExit, stream, share })),
      },
    ),
    { maxLength: 80, size: 'medium' },
  ),
});

/**
 * Runs a scenario: the client opens `streams` streams and writes the drawn chunks; frames are delivered and bytes consumed
 * in the drawn order; then every writer ends and both sides read everything. With `echo`, the exit writes back whatever it
 * receives (and consumes it at once); otherwise it only reads, at the drawn pace.
 */
function runScenario(run: Scenario, echo: boolean): void {
  const clientConfig = config({ streamReceiveWindowBytes: run.clientWindows.stream, sessionReceiveWindowBytes: run.clientWindows.session });
  const exitConfig = config({ streamReceiveWindowBytes: run.exitWindows.stream, sessionReceiveWindowBytes: run.exitWindows.session });
  const exitReaders = new Map<number, Reader>();
  const pair = connectMuxPair(clientConfig, exitConfig, (stream) => {
    const reader = new Reader(stream, (data) => {
      if (!echo) return;
      stream.write(data.slice());
      reader.consume(data.length);
    });
    reader.stream.onend = () => {
      reader.ended = true;
      stream.end();
    };
    exitReaders.set(stream.id, reader);
    stream.accept();
  });
  const clientReaders = Array.from({ length: run.streams }, () => new Reader(pair.client.openStream(target)));
  const written = clientReaders.map((): Uint8Array[] => []);
  const check = (): void => {
    assertWithinWindows(exitReaders.values(), exitConfig);
    assertWithinWindows(clientReaders, clientConfig);
  };

  for (const step of run.steps) {
    switch (step.kind) {
      case 'write': {
        const index = step.stream % run.streams;
        clientReaders[index]?.stream.write(step.data);
        written[index]?.push(step.data);
        break;
      }
      case 'deliver':
        deliver(pair, step.toExit, step.frames);
        break;
      case 'consume': {
        const index = step.stream % run.streams;
        const reader = step.atExit ? exitReaders.get(clientReaders[index]?.stream.id ?? -1) : clientReaders[index];
        if (reader) reader.consume(Math.ceil(reader.pending * step.share));
        break;
      }
    }
    check();
  }

  for (const reader of clientReaders) reader.stream.end();
  for (let round = 0; ; round++) {
    assert.ok(round < 100_000, 'the two muxers never settled');
    for (const reader of [...clientReaders, ...exitReaders.values()]) reader.consume(reader.pending);
    const moved = deliver(pair, true, 1) + deliver(pair, false, 1);
    check();
    if (moved === 0) break;
  }

  clientReaders.forEach((reader, index) => {
    const sentBytes = Buffer.concat(written[index] ?? []);
    const exitReader = exitReaders.get(reader.stream.id);
    assert.ok(exitReader !== undefined, `stream ${reader.stream.id} reached the exit`);
    assert.ok(
      exitReader.received().equals(sentBytes),
      `stream ${reader.stream.id}: the exit received ${exitReader.received().length} of ${sentBytes.length} bytes, or other bytes`,
    );
    assert.ok(
      reader.received().equals(echo ? sentBytes : Buffer.alloc(0)),
      `stream ${reader.stream.id}: the client got back ${reader.received().length} bytes`,
    );
    assert.ok(exitReader.ended && reader.ended, 'both ends saw the other CLOSE');
    assert.ok(exitReader.closed && reader.closed && reader.error === undefined && exitReader.error === undefined, 'both ends closed cleanly');
  });
  assert.equal(pair.client.streamCount, 0);
  assert.equal(pair.exit.streamCount, 0);
}

test('client to exit through encodeFrame/decodeFrame: arbitrary chunks on 1 to 3 streams arrive byte-exact and in order, within every window', () => {
  fc.assert(
    fc.property(scenario, (run) => runScenario(run, false)),
    { numRuns: 200 },
  );
});

test('an echoing exit: every stream gets its own bytes back byte-exact and in order, within every window, and both ends close', () => {
  fc.assert(
    fc.property(scenario, (run) => runScenario(run, true)),
    { numRuns: 200 },
  );
});

test('a transient write: what credit lets out goes at once, and what waits is a copy, safe from the reused buffer', () => {
  const exit = endpoint('exit', { peerStreamWindowBytes: 1_000 });
  const stream = acceptedStream(exit, 1);
  const readBuffer = bytes(3_000, 0x11);
  stream.write(readBuffer, true);
  assert.deepEqual(dataFrames(exit.sent, 1), [1_000], 'the first 1,000 bytes went out within the call');
  readBuffer.fill(0x99); // the next read overwrites the buffer
  exit.mux.receiveFrame({ type: FrameType.CREDIT, streamId: 1, bytes: 2_000 });
  const later = exit.sent.filter((frame) => frame.type === FrameType.DATA).slice(1);
  assert.equal(sum(later.map((frame) => (frame.type === FrameType.DATA ? frame.data.length : 0))), 2_000);
  for (const frame of later)
    if (frame.type === FrameType.DATA)
      assert.ok(
        frame.data.every((byte) => byte === 0x11),
        'the waiting bytes were copied',
      );
});
