// Direct tests of protocol/adapters/node-stream.ts: a MuxStream as a Node Duplex, between a client and an exit muxer
// joined back to back through encodeFrame/decodeFrame. Backpressure both ways, half-close, RESET, and the session
// credit of bytes held back when a Duplex is destroyed unread.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withTimeout } from '../../../harness/wait.ts';
import { MuxStreamDuplex } from '../../../protocol/adapters/node-stream.ts';
import { verifySessionConfig } from '../../../protocol/config.ts';
import { FrameType, SESSION_STREAM_ID, StreamErrorCode } from '../../../protocol/constants.ts';
import { StreamError } from '../../../protocol/errors.ts';
import type { Frame } from '../../../protocol/frame.ts';
import type { MuxStream } from '../../../protocol/stream.ts';
import { connectMuxPair, creditFrames, deliver, type MuxPair, sum } from './mux-pair.ts';

const target = { host: 'example.org', port: 443 };

/** Small windows, so a leak of one stream window is a quarter of the session window. Both ends use them. */
const windows = verifySessionConfig({
  streamReceiveWindowBytes: 64 * 1024,
  sessionReceiveWindowBytes: 256 * 1024,
  streamSendHighWaterBytes: 64 * 1024,
});
const STREAM_WINDOW = windows.streamReceiveWindowBytes;
const SESSION_WINDOW = windows.sessionReceiveWindowBytes;

/** Bytes that do not repeat within 256, so a lost or reordered chunk shows. */
function pattern(length: number, seed = 0): Uint8Array {
  const data = new Uint8Array(length);
  for (let index = 0; index < length; index++) data[index] = (seed + index * 13 + (index >> 8)) & 0xff;
  return data;
}

/** The muxer pair, and the streams the exit accepted, in order. */
interface Link extends MuxPair {
  accepted: MuxStream[];
}

function connect(): Link {
  const accepted: MuxStream[] = [];
  const pair = connectMuxPair(windows, windows, (stream) => {
    accepted.push(stream);
    stream.accept();
  });
  return { ...pair, accepted };
}

/**
 * Delivers frames both ways, letting Node's stream machinery run (its _read, 'end', autoDestroy are deferred) between
 * rounds, until a full turn of the event loop leaves both queues empty. Bounded in rounds, not in time.
 */
async function settle(link: Link): Promise<void> {
  for (let round = 0; round < 1000; round++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (link.toExit.length === 0 && link.toClient.length === 0) return;
    while (deliver(link, true, 1) + deliver(link, false, 1) > 0);
  }
  throw new Error('the two muxers never settled');
}

/** Client side: opens a stream as a Duplex and lets the exit accept it; returns both ends. */
async function openDuplex(link: Link): Promise<{ duplex: MuxStreamDuplex; exitStream: MuxStream }> {
  const duplex = new MuxStreamDuplex(link.client.openStream(target));
  await settle(link);
  const exitStream = link.accepted.at(-1);
  assert.ok(exitStream?.isOpen, 'the exit accepted the stream');
  return { duplex, exitStream };
}

function dataBytes(frames: Frame[], streamId: number): number {
  return sum(frames.flatMap((frame) => (frame.type === FrameType.DATA && frame.streamId === streamId ? [frame.data.length] : [])));
}

function resets(frames: Frame[]): number[] {
  return frames.flatMap((frame) => (frame.type === FrameType.RESET ? [frame.streamId] : []));
}

/** The exit's session send credit as the wire tells it: the client's session window, less DATA sent, plus session CREDIT granted. */
function exitSessionCredit(link: Link): number {
  const sent = sum(link.fromExit.flatMap((frame) => (frame.type === FrameType.DATA ? [frame.data.length] : [])));
  return SESSION_WINDOW - sent + sum(creditFrames(link.fromClient, SESSION_STREAM_ID));
}

/** Reads what the Duplex buffers now, in paused mode; null when nothing is buffered. */
function readNow(duplex: MuxStreamDuplex): Buffer | null {
  const chunk: unknown = duplex.read();
  if (chunk === null) return null;
  assert.ok(Buffer.isBuffer(chunk), 'a byte stream reads Buffers');
  return chunk;
}

/** Everything the Duplex yields in flowing mode, once it ends. */
function collect(duplex: MuxStreamDuplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    duplex.on('data', (chunk: Buffer) => chunks.push(chunk));
    duplex.once('end', () => resolve(Buffer.concat(chunks)));
    duplex.once('error', reject);
  });
}

function nextEvent(duplex: MuxStreamDuplex, event: 'close' | 'finish'): Promise<void> {
  return new Promise((resolve) => duplex.once(event, () => resolve()));
}

function nextError(duplex: MuxStreamDuplex): Promise<unknown> {
  return new Promise((resolve) => duplex.once('error', resolve));
}

// ---- the regression: abandoned streams must not shrink the session window ----

test('a Duplex destroyed with unread bytes gives their session credit back: abandoned streams never shrink the shared window', async () => {
  const link = connect();
  // Unfixed, each abandoned stream keeps one stream window of the session window: 4 of them take it all.
  const abandoned = SESSION_WINDOW / STREAM_WINDOW + 2;
  for (let index = 1; index <= abandoned; index++) {
    const { duplex, exitStream } = await openDuplex(link);
    exitStream.write(pattern(STREAM_WINDOW + 10_000, index));
    await settle(link);
    assert.equal(dataBytes(link.fromExit, exitStream.id), STREAM_WINDOW, `stream ${index}: the exit sent one stream window`);
    assert.equal(duplex.readableLength, STREAM_WINDOW, `stream ${index}: all of it waits unread in the Duplex`);

    duplex.destroy();
    await settle(link);
    assert.deepStrictEqual(resets(link.fromClient).at(-1), exitStream.id, 'destroy() resets the stream toward the exit');
    assert.equal(exitStream.isClosed, true);
    // What may still be missing is DATA the exit sent before it saw the RESET, which the client dropped: its credit
    // comes back in the muxer's quarter-window batches. Unfixed, a whole stream window per abandoned stream is missing.
    const outstanding = SESSION_WINDOW - exitSessionCredit(link);
    assert.ok(outstanding < SESSION_WINDOW / 4, `after ${index} abandoned stream(s) ${outstanding} bytes of the exit's session credit never came back`);
  }
  assert.equal(link.client.streamCount, 0);
  assert.equal(link.exit.streamCount, 0);

  // A fresh stream still gets a full window at once, and then everything the exit sends, more than the session window.
  const { duplex, exitStream } = await openDuplex(link);
  const payload = pattern(SESSION_WINDOW + STREAM_WINDOW + 1234, 99);
  exitStream.write(payload);
  exitStream.end();
  await settle(link);
  assert.equal(dataBytes(link.fromExit, exitStream.id), STREAM_WINDOW, 'the fresh stream received a full window before any read');
  const received = collect(duplex);
  await settle(link);
  assert.ok((await withTimeout(received, 'the fresh stream to end', 2_000)).equals(payload), 'the fresh stream carried every byte, in order');
});

// ---- backpressure ----

test('a slow reader holds the exit at one stream window, and each read grants exactly what it took back', async () => {
  const link = connect();
  const { duplex, exitStream } = await openDuplex(link);
  const ended = new Promise<void>((resolve) => duplex.once('end', resolve));
  const payload = pattern(3 * STREAM_WINDOW + 5_000);
  exitStream.write(payload);
  exitStream.end();
  await settle(link);
  assert.equal(dataBytes(link.fromExit, exitStream.id), STREAM_WINDOW, 'one window crossed');
  assert.equal(duplex.readableLength, STREAM_WINDOW, 'and waits in the Duplex');
  assert.equal(exitStream.bufferedAmount, payload.length - STREAM_WINDOW, 'the rest waits at the exit');
  assert.deepStrictEqual(creditFrames(link.fromClient, exitStream.id), [], 'no credit while nothing was read');

  const chunks: Buffer[] = [];
  for (let round = 1; round <= 3; round++) {
    const chunk = readNow(duplex);
    assert.ok(chunk !== null && chunk.length === STREAM_WINDOW, `read ${round} takes one window`);
    chunks.push(chunk);
    await settle(link);
    assert.deepStrictEqual(creditFrames(link.fromClient, exitStream.id), new Array<number>(round).fill(STREAM_WINDOW), `read ${round} granted one window`);
    assert.equal(dataBytes(link.fromExit, exitStream.id), Math.min(payload.length, (round + 1) * STREAM_WINDOW), `after read ${round}`);
    assert.ok(duplex.readableLength <= STREAM_WINDOW, 'never more than one window buffered');
  }
  const last = readNow(duplex);
  assert.ok(last !== null);
  chunks.push(last);
  assert.equal(readNow(duplex), null);
  await withTimeout(ended, "the Duplex's end after the exit's CLOSE", 2_000);
  assert.ok(Buffer.concat(chunks).equals(payload), 'every byte, in order');
});

test('writes wait for send credit: past the high-water mark the write callback waits until the exit consumes', async () => {
  const link = connect();
  const { duplex, exitStream } = await openDuplex(link);
  let exitPending = 0;
  exitStream.ondata = (data) => (exitPending += data.length);
  let written = false;
  // One window crosses at once; one high-water mark's worth stays queued, so the callback is held.
  duplex.write(pattern(STREAM_WINDOW + windows.streamSendHighWaterBytes), () => (written = true));
  await settle(link);
  assert.equal(dataBytes(link.fromClient, exitStream.id), STREAM_WINDOW);
  assert.equal(exitPending, STREAM_WINDOW);
  assert.equal(written, false, 'the write is not done while the exit holds a full window unconsumed');

  exitStream.consumed(exitPending);
  exitPending = 0;
  await settle(link);
  assert.equal(dataBytes(link.fromClient, exitStream.id), STREAM_WINDOW + windows.streamSendHighWaterBytes);
  assert.equal(written, true, 'credit drained the queue and released the write');
});

// ---- half-close and RESET ----

test('end() half-closes: the exit sees CLOSE and still answers; its CLOSE surfaces as end and the Duplex closes without a RESET', async () => {
  const link = connect();
  const { duplex, exitStream } = await openDuplex(link);
  const request = pattern(1_000, 1);
  const reply = pattern(20_000, 2);
  const toExit: Uint8Array[] = [];
  let exitEnded = false;
  let exitClosedWith: StreamError | undefined | 'open' = 'open';
  exitStream.ondata = (data) => {
    toExit.push(data.slice());
    exitStream.consumed(data.length);
  };
  exitStream.onend = () => (exitEnded = true);
  exitStream.onclose = (error) => (exitClosedWith = error);
  const finished = nextEvent(duplex, 'finish');
  const closed = nextEvent(duplex, 'close');

  duplex.end(request);
  await settle(link);
  await withTimeout(finished, "the Duplex's finish", 2_000);
  assert.ok(Buffer.concat(toExit).equals(request), 'the request reached the exit');
  assert.equal(exitEnded, true, 'the exit saw the CLOSE');
  assert.equal(duplex.readableEnded, false, 'the other direction is still open');

  const received = collect(duplex);
  exitStream.write(reply);
  exitStream.end();
  await settle(link);
  assert.ok((await withTimeout(received, "the Duplex's end", 2_000)).equals(reply), 'the reply arrived after the half-close');
  await withTimeout(closed, "the Duplex's close", 2_000);
  assert.equal(duplex.destroyed, true);
  assert.equal(exitClosedWith, undefined, 'the exit stream closed cleanly');
  assert.deepStrictEqual(resets([...link.fromClient, ...link.fromExit]), [], 'nobody sent a RESET');
  assert.equal(link.client.streamCount, 0);
  assert.equal(link.exit.streamCount, 0);
});

test('a RESET from the exit surfaces as an error on the Duplex with its code, and the bytes it held give their session credit back', async () => {
  const link = connect();
  const { duplex, exitStream } = await openDuplex(link);
  const failed = nextError(duplex);
  const closed = nextEvent(duplex, 'close');
  exitStream.write(pattern(STREAM_WINDOW + 1_000));
  await settle(link);
  assert.equal(duplex.readableLength, STREAM_WINDOW, 'a window waits unread');

  exitStream.reset(StreamErrorCode.TIMED_OUT, 'destination idle');
  await settle(link);
  const error = await withTimeout(failed, "the Duplex's error", 2_000);
  assert.ok(error instanceof StreamError, `a StreamError, not ${String(error)}`);
  assert.equal(error.streamCode, StreamErrorCode.TIMED_OUT);
  assert.match(error.message, /destination idle/);
  await withTimeout(closed, "the Duplex's close", 2_000);
  assert.equal(duplex.destroyed, true);
  assert.deepStrictEqual(resets(link.fromClient), [], 'the client does not answer a RESET with one');
  assert.equal(exitSessionCredit(link), SESSION_WINDOW, "the exit's session send credit is whole again");
  assert.equal(link.client.streamCount, 0);
});
