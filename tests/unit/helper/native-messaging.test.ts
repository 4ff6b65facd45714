import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { withTimeout } from '../../../harness/wait.ts';
import {
  encodeNativeMessage,
  NativeMessageDecoder,
  NativeMessageWriter,
  NativeMessagingError,
  readNativeMessages,
  serveNativeMessages,
} from '../../../native-helper/native-messaging.ts';
import type { ExtensionToNative, NativeToExtension } from '../../../protocol/local-channel.ts';
import { LocalChannelFormatError, parseExtensionToNative } from '../../../protocol/local-channel.ts';

function frame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32LE(body.length, 0);
  return Buffer.concat([header, body]);
}

function rawFrame(body: Buffer, declaredLength = body.length): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32LE(declaredLength, 0);
  return Buffer.concat([header, body]);
}

async function collect(input: PassThrough, limits = {}): Promise<unknown[]> {
  const values: unknown[] = [];
  for await (const value of readNativeMessages(input, limits)) values.push(value);
  return values;
}

function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  return assert.rejects(withTimeout(promise, code, 5_000), (error: unknown) => {
    assert.ok(error instanceof NativeMessagingError, `expected NativeMessagingError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

const READY: NativeToExtension = {
  type: 'ready',
  version: '0.1.0',
  pid: 42,
  socksPort: 1080,
  httpPort: 8080,
  pipeUrl: 'ws://127.0.0.1:5000/pipe',
  token: 'abc',
};

describe('native messaging framing', () => {
  test('writer -> reader round trip, including non-ASCII text', async () => {
    const stream = new PassThrough();
    const writer = new NativeMessageWriter(stream);
    const error: NativeToExtension = { type: 'error', code: 'X', message: 'grüße, 世界' };
    await writer.write(READY);
    await writer.write(error);
    stream.end();
    assert.deepEqual(await collect(stream), [READY, error]);
  });

  test('the length prefix is 4 bytes little-endian', () => {
    const encoded = encodeNativeMessage({ type: 'token', token: 't' }, 1000);
    const body = JSON.stringify({ type: 'token', token: 't' });
    assert.equal(encoded.readUInt32LE(0), body.length);
    assert.equal(encoded.subarray(4).toString(), body);
  });

  test('messages split at every byte boundary and coalesced into one chunk decode the same', () => {
    const bytes = Buffer.concat([frame({ type: 'stop' }), frame({ type: 'new-token' })]);
    const oneByOne = new NativeMessageDecoder(1024);
    const values: unknown[] = [];
    for (const byte of bytes) values.push(...oneByOne.push(Uint8Array.of(byte)));
    assert.deepEqual(values, [{ type: 'stop' }, { type: 'new-token' }]);
    assert.ok(oneByOne.atMessageBoundary);
    assert.deepEqual(new NativeMessageDecoder(1024).push(bytes), values);
  });

  test('split chunks through a stream', async () => {
    const stream = new PassThrough();
    const bytes = frame({ type: 'stop' });
    const reading = collect(stream);
    stream.write(bytes.subarray(0, 2));
    stream.write(bytes.subarray(2, 7));
    stream.end(bytes.subarray(7));
    assert.deepEqual(await withTimeout(reading, 'messages', 5_000), [{ type: 'stop' }]);
  });

  test('a length of 0 is a bad length', async () => {
    const stream = new PassThrough();
    stream.end(rawFrame(Buffer.alloc(0)));
    await rejectsWithCode(collect(stream), 'NATIVE_BAD_LENGTH');
  });

  test('a length over maxIncomingMessageBytes is refused as soon as the prefix arrives', async () => {
    const stream = new PassThrough();
    const reading = collect(stream, { maxIncomingMessageBytes: 64 * 1024 });
    stream.write(rawFrame(Buffer.alloc(0), 64 * 1024 + 1)); // no body follows, and the stream stays open
    await rejectsWithCode(reading, 'NATIVE_MESSAGE_TOO_LARGE');
    stream.destroy();
  });

  test('a body that is not JSON, or not UTF-8, is bad JSON', async () => {
    for (const body of [Buffer.from('{not json'), Buffer.from([0x22, 0xff, 0x22])]) {
      const stream = new PassThrough();
      stream.end(rawFrame(body));
      await rejectsWithCode(collect(stream), 'NATIVE_BAD_JSON');
    }
  });

  test('input that ends mid-message is truncated; ending between messages is clean', async () => {
    const truncated = new PassThrough();
    truncated.end(frame({ type: 'stop' }).subarray(0, 6));
    await rejectsWithCode(collect(truncated), 'NATIVE_TRUNCATED');
    const empty = new PassThrough();
    empty.end();
    assert.deepEqual(await collect(empty), []);
  });

  test('the writer refuses a message of maxOutgoingMessageBytes + 1 and accepts one at the limit', async () => {
    const message: NativeToExtension = { type: 'error', code: 'BIG', message: '' };
    const overhead = JSON.stringify(message).length;
    const limit = 2_000;
    const stream = new PassThrough();
    const writer = new NativeMessageWriter(stream, { maxOutgoingMessageBytes: limit });
    await rejectsWithCode(writer.write({ ...message, message: 'x'.repeat(limit - overhead + 1) }), 'NATIVE_OUTGOING_TOO_LARGE');
    await writer.write({ ...message, message: 'x'.repeat(limit - overhead) });
    stream.end();
    assert.equal((await collect(stream)).length, 1);
  });

  test("the default outgoing limit stays under Chrome's 1 MiB", async () => {
    const writer = new NativeMessageWriter(new PassThrough());
    await rejectsWithCode(writer.write({ type: 'error', code: 'BIG', message: 'x'.repeat(1024 * 1024) }), 'NATIVE_OUTGOING_TOO_LARGE');
  });

  test('the writer waits for drain and reports a closed output', async () => {
    const stream = new PassThrough({ highWaterMark: 16 });
    const writer = new NativeMessageWriter(stream);
    const writing = writer.write(READY); // larger than the high-water mark: waits for a reader
    const values = collect(stream);
    await withTimeout(writing, 'drain', 5_000);
    stream.end();
    assert.deepEqual(await values, [READY]);
    await rejectsWithCode(writer.write(READY), 'NATIVE_OUTPUT_CLOSED');
  });
});

describe('serveNativeMessages and parseExtensionToNative', () => {
  // The helper checks the list's signature when it starts (native-host.ts); the parser only checks its shape.
  const exitList = { payload: 'cGF5bG9hZA', signature: 'c2lnbmF0dXJl' };
  const exit = { exitList, exitId: 'exit-1' };

  test('valid messages are handled in order; invalid ones are reported and skipped', async () => {
    const stream = new PassThrough();
    const handled: ExtensionToNative[] = [];
    const invalid: LocalChannelFormatError[] = [];
    stream.write(frame({ type: 'start', ...exit, socksPort: 1080 }));
    stream.write(frame({ type: 'launch-missiles' }));
    stream.write(frame([1, 2, 3]));
    stream.end(frame({ type: 'stop' }));
    await withTimeout(
      serveNativeMessages(stream, { onMessage: (message) => void handled.push(message), onInvalidMessage: (error) => void invalid.push(error) }),
      'serve',
      5_000,
    );
    assert.deepEqual(handled, [{ type: 'start', ...exit, socksPort: 1080 }, { type: 'stop' }]);
    assert.equal(invalid.length, 2);
    assert.equal(invalid[0]!.code, 'LOCAL_BAD_MESSAGE');
  });

  test('a framing error rejects serveNativeMessages', async () => {
    const stream = new PassThrough();
    stream.end(rawFrame(Buffer.from('nope')));
    await rejectsWithCode(serveNativeMessages(stream, { onMessage: () => {}, onInvalidMessage: () => {} }), 'NATIVE_BAD_JSON');
  });

  test('parseExtensionToNative checks fields', () => {
    assert.deepEqual(parseExtensionToNative({ type: 'new-token', extra: 1 }), { type: 'new-token' });
    assert.deepEqual(parseExtensionToNative({ type: 'start', ...exit, httpPort: 0 }), { type: 'start', ...exit, httpPort: 0 });
    for (const bad of [
      null,
      'start',
      { type: 'start' },
      { type: 'start', exitList: { payload: 'x' }, exitId: 'x' },
      { type: 'start', exitList: { payload: 'not base64!', signature: 'c2ln' }, exitId: 'x' },
      { type: 'start', exitList },
      { type: 'start', ...exit, socksPort: 70000 },
      { type: 'start', ...exit, httpPort: 1.5 },
    ]) {
      assert.throws(() => parseExtensionToNative(bad), LocalChannelFormatError, JSON.stringify(bad));
    }
  });
});
