/**
 * Fuzz target: the native messaging framing of the helper (native-helper/native-messaging.ts): 4-byte little-endian
 * length prefixes with JSON bodies, as Chrome writes them to the helper's stdin, here with lengths that lie (zero,
 * past the limit, up to 2^32 - 1), bodies that are not UTF-8 or not JSON, and the bytes cut into chunks anywhere.
 *
 * Properties, against a model that reads the same bytes in one pass:
 * - NativeMessageDecoder yields exactly the messages the model finds, each once the chunk that completes it arrives;
 * - a bad prefix (zero, or past maxIncomingMessageBytes) is refused in the very chunk that completes the prefix, so
 *   no body past the limit is ever waited for or buffered; a bad body is refused in the chunk that completes it;
 *   refusals are NativeMessagingError with the model's code, and the decoder stays failed afterwards;
 * - serveNativeMessages over a stream of those bytes ends (resolves at a clean end, else rejects with the model's
 *   code or NATIVE_TRUNCATED) and hands each message to onMessage or onInvalidMessage as local-channel-spec says.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { NativeMessageDecoder, NativeMessagingError, type NativeMessagingErrorCode, serveNativeMessages } from '../../../native-helper/native-messaging.ts';
import { concatBytes } from '../../../protocol/bytes.ts';
import { LocalChannelFormatError } from '../../../protocol/local-channel.ts';
import { type JsonObject, nearValidJson } from '../json-mutations.ts';
import { specExtensionToNative } from '../local-channel-spec.ts';
import type { FuzzTarget } from '../target.ts';

const LENGTH_PREFIX_BYTES = 4;

type DeclaredLength = { kind: 'exact' } | { kind: 'fixed'; length: number } | { kind: 'past-limit'; by: number } | { kind: 'off-by'; delta: number };

export interface NativeStreamInput {
  maxIncomingMessageBytes: number;
  messages: Array<{ declared: DeclaredLength; body: Uint8Array }>;
  /** Where the byte stream is cut into chunks (taken modulo its length). */
  cuts: number[];
  /** Also run serveNativeMessages over the same bytes (slower: a stream and promises per case). */
  alsoServe: boolean;
}

const utf8 = new TextEncoder();
const validNativeMessage: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.constant({ type: 'stop' }),
  fc.constant({ type: 'new-token' }),
  fc.record({
    type: fc.constant('start'),
    exitId: fc.constant('exit-1'),
    exitList: fc.record({ payload: fc.string(), signature: fc.string() }),
    socksPort: fc.nat(65_535),
  }),
);
const body: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: nearValidJson(validNativeMessage).map((value) => utf8.encode(JSON.stringify(value))) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value) => utf8.encode(JSON.stringify(value) ?? 'null')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  { weight: 1, arbitrary: fc.constantFrom('\uFEFF{"type":"stop"}', '{"type":"stop"', '', ' ', '0', '"\uD800"').map((text) => utf8.encode(text)) },
  { weight: 1, arbitrary: fc.constantFrom(Uint8Array.of(0xff), Uint8Array.of(0x22, 0xc3, 0x22), Uint8Array.of(0xed, 0xa0, 0x80)) },
);
const declared: fc.Arbitrary<DeclaredLength> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ kind: 'exact' as const }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 0xffff_ffff, 0x8000_0000).map((length) => ({ kind: 'fixed' as const, length })) },
  { weight: 1, arbitrary: fc.nat(0xffff_ffff).map((length) => ({ kind: 'fixed' as const, length })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 }).map((by) => ({ kind: 'past-limit' as const, by })) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }).map((delta) => ({ kind: 'off-by' as const, delta })) },
);
const input: fc.Arbitrary<NativeStreamInput> = fc.record({
  maxIncomingMessageBytes: fc.oneof(fc.integer({ min: 2, max: 64 }), fc.integer({ min: 65, max: 4_096 }), fc.constant(64 * 1024)),
  messages: fc.array(fc.record({ declared, body }), { maxLength: 6 }),
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
  alsoServe: fc.boolean(),
});

function declaredLength(message: NativeStreamInput['messages'][number], limit: number): number {
  const { declared: length, body: bytes } = message;
  switch (length.kind) {
    case 'exact':
      return bytes.length;
    case 'fixed':
      return length.length;
    case 'past-limit':
      return Math.min(0xffff_ffff, limit + length.by);
    case 'off-by':
      return Math.max(0, bytes.length + length.delta);
  }
}

function streamBytes(streamInput: NativeStreamInput): Uint8Array {
  const parts = streamInput.messages.flatMap((message) => {
    const prefix = new Uint8Array(LENGTH_PREFIX_BYTES);
    new DataView(prefix.buffer).setUint32(0, declaredLength(message, streamInput.maxIncomingMessageBytes), true);
    return [prefix, message.body];
  });
  return concatBytes(...parts);
}

interface StreamModel {
  /** The JSON values in order, with the stream length at which each is complete. */
  values: Array<{ value: unknown; completeAt: number }>;
  /** The refusal the stream earns, and the stream length at which it is certain. */
  refusal: { code: NativeMessagingErrorCode; certainAt: number } | undefined;
  /** No refusal, and the stream ends between two messages. */
  endsCleanly: boolean;
}

/** The stream read in one pass, as the framing is documented: length, limit check, body, UTF-8 JSON. */
function modelStream(bytes: Uint8Array, limit: number): StreamModel {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values: StreamModel['values'] = [];
  let position = 0;
  while (bytes.length - position >= LENGTH_PREFIX_BYTES) {
    const length = view.getUint32(position, true);
    const bodyStart = position + LENGTH_PREFIX_BYTES;
    if (length === 0) return { values, refusal: { code: 'NATIVE_BAD_LENGTH', certainAt: bodyStart }, endsCleanly: false };
    if (length > limit) return { values, refusal: { code: 'NATIVE_MESSAGE_TOO_LARGE', certainAt: bodyStart }, endsCleanly: false };
    if (bytes.length - bodyStart < length) return { values, refusal: undefined, endsCleanly: false };
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(bodyStart, bodyStart + length)));
    } catch {
      return { values, refusal: { code: 'NATIVE_BAD_JSON', certainAt: bodyStart + length }, endsCleanly: false };
    }
    position = bodyStart + length;
    values.push({ value, completeAt: position });
  }
  return { values, refusal: undefined, endsCleanly: position === bytes.length };
}

function chunksOf(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  if (bytes.length === 0) return [];
  const points = [...new Set(cuts.map((cut) => cut % bytes.length).filter((cut) => cut > 0))].sort((a, b) => a - b);
  return [0, ...points].map((start, index) => bytes.subarray(start, points[index] ?? bytes.length));
}

function assertNativeError(error: unknown, code: NativeMessagingErrorCode | undefined, what: string): void {
  if (!(error instanceof NativeMessagingError))
    throw new assert.AssertionError({ message: `${what} threw ${String(error)}, not NativeMessagingError`, actual: error });
  if (code !== undefined) assert.equal(error.code, code, `${what}: ${error.message}`);
}

function checkDecoder(streamInput: NativeStreamInput, bytes: Uint8Array, model: StreamModel): void {
  const decoder = new NativeMessageDecoder(streamInput.maxIncomingMessageBytes);
  const delivered: unknown[] = [];
  let fed = 0;
  for (const chunk of chunksOf(bytes, streamInput.cuts)) {
    const fedBefore = fed;
    fed += chunk.length;
    let values: unknown[];
    try {
      values = decoder.push(chunk);
    } catch (error) {
      assertNativeError(error, model.refusal?.code, 'NativeMessageDecoder.push');
      assert.ok(model.refusal !== undefined, `push refused a valid stream at byte ${fed}`);
      assert.ok(
        model.refusal.certainAt > fedBefore && model.refusal.certainAt <= fed,
        `refused after ${fed} bytes, not in the chunk that ends at byte ${model.refusal.certainAt}`,
      );
      // Messages completed earlier in the failing chunk may be dropped with it; all earlier ones were delivered.
      const earlier = model.values.filter((entry) => entry.completeAt <= fedBefore).map((entry) => entry.value);
      assert.deepStrictEqual(delivered, earlier, 'messages before the failing chunk were delivered');
      assert.throws(() => decoder.push(Uint8Array.of(1)), NativeMessagingError, 'a failed decoder stays failed');
      return;
    }
    delivered.push(...values);
    const due = model.values.filter((entry) => entry.completeAt <= fed).map((entry) => entry.value);
    assert.deepStrictEqual(delivered, due, `after ${fed} bytes the decoder has delivered exactly the complete messages`);
    assert.ok(
      model.refusal === undefined || model.refusal.certainAt > fed,
      `the ${model.refusal?.code} due at byte ${model.refusal?.certainAt} was not raised`,
    );
  }
  assert.equal(model.refusal, undefined, `${model.refusal?.code} was never raised`);
  assert.equal(decoder.atMessageBoundary, model.endsCleanly, 'atMessageBoundary');
}

type HandlerCall = { kind: 'message'; message: unknown } | { kind: 'invalid' };

async function checkServe(streamInput: NativeStreamInput, bytes: Uint8Array, model: StreamModel): Promise<void> {
  const input = new PassThrough();
  const calls: HandlerCall[] = [];
  const served = serveNativeMessages(
    input,
    {
      onMessage: (message) => {
        calls.push({ kind: 'message', message });
      },
      onInvalidMessage: (error) => {
        assert.ok(error instanceof LocalChannelFormatError);
        calls.push({ kind: 'invalid' });
      },
    },
    { maxIncomingMessageBytes: streamInput.maxIncomingMessageBytes },
  ).then(
    () => undefined,
    (error: unknown) => error,
  );
  for (const chunk of chunksOf(bytes, streamInput.cuts)) input.write(chunk);
  input.end();
  const failure = await served;
  if (model.refusal === undefined && model.endsCleanly) assert.equal(failure, undefined, 'serveNativeMessages resolves at a clean end');
  else assertNativeError(failure, model.refusal?.code ?? 'NATIVE_TRUNCATED', 'serveNativeMessages');
  if (failure === undefined) assert.equal(calls.length, model.values.length, 'every message reached a handler');
  assert.ok(calls.length <= model.values.length);
  for (const [index, call] of calls.entries()) {
    const verdict = specExtensionToNative(model.values[index]?.value);
    if (call.kind === 'invalid')
      assert.notEqual(verdict.kind, 'valid', `a well-formed message went to onInvalidMessage: ${JSON.stringify(model.values[index]?.value)}`);
    else if (verdict.kind === 'valid') assert.deepStrictEqual(call.message, verdict.value);
    else if (verdict.kind === 'invalid') assert.fail(`onMessage got a message the format refuses (${verdict.why})`);
    else assert.equal(verdict.accepted(call.message), undefined);
  }
}

export const nativeMessagingTarget: FuzzTarget<NativeStreamInput> = {
  name: 'native-messaging',
  description:
    'the helper native messaging decoder and serveNativeMessages on framed streams with lying lengths, cut anywhere: model-exact messages and refusals',
  input,
  async start() {
    return {
      check: async (streamInput) => {
        const bytes = streamBytes(streamInput);
        const model = modelStream(bytes, streamInput.maxIncomingMessageBytes);
        checkDecoder(streamInput, bytes, model);
        if (streamInput.alsoServe) await checkServe(streamInput, bytes, model);
      },
      checkStillServing: async () => {
        const stop = utf8.encode('{"type":"stop"}');
        const streamInput: NativeStreamInput = {
          maxIncomingMessageBytes: 1024,
          messages: [{ declared: { kind: 'exact' }, body: stop }],
          cuts: [2],
          alsoServe: true,
        };
        const bytes = streamBytes(streamInput);
        const model = modelStream(bytes, 1024);
        assert.equal(model.values.length, 1);
        checkDecoder(streamInput, bytes, model);
        await checkServe(streamInput, bytes, model);
      },
      close: async () => {},
      toleratedBugs: new Map(),
    };
  },
};
