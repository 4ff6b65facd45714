/**
 * Fuzz target: the local-channel validators (protocol/local-channel.ts) between the extension and the native helper:
 * native messages both ways, pipe control messages both ways, and the pipe's text decoding (decodePipeControl).
 *
 * Properties, against the formats as tests/fuzz/local-channel-spec.ts reads them: every well-formed message is
 * accepted and comes back exactly as the format says (nothing dropped, invented or changed); every other value is
 * refused with LocalChannelFormatError (code LOCAL_BAD_MESSAGE) and a short message that never echoes the whole
 * input; no other error is ever thrown.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodePipeControl,
  LocalChannelFormatError,
  MAX_LOCAL_TEXT_CHARS,
  MAX_PIPE_CONTROL_BYTES,
  parseExtensionToNative,
  parseExtensionToPipe,
  parseHelperToPipe,
  parseNativeToExtension,
  SESSION_STATES,
} from '../../../protocol/local-channel.ts';
import { NAT_CLASSES } from '../../../protocol/signaling.ts';
import { type JsonObject, type JsonValue, nearValidJson, oddFieldValue } from '../json-mutations.ts';
import { type SpecVerdict, specExtensionToNative, specExtensionToPipe, specHelperToPipe, specNativeToExtension } from '../local-channel-spec.ts';
import type { FuzzTarget } from '../target.ts';

/** Longest error message a validator may give: it names a field and a range, it never repeats the input. */
const MAX_ERROR_MESSAGE_CHARS = 500;

export type LocalChannelInput =
  | { validator: 'extension-to-native' | 'native-to-extension' | 'extension-to-pipe' | 'helper-to-pipe'; value: JsonValue }
  | { validator: 'pipe-control-text'; text: string };

const text = fc.oneof(fc.constantFrom('x', 'a reason', 'é', 'x'.repeat(MAX_LOCAL_TEXT_CHARS)), fc.string({ minLength: 1, maxLength: 40 }));
const count = fc.oneof(fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER), fc.nat());
const anyPort = fc.integer({ min: 0, max: 65_535 });
const sessionReport = fc.record({
  state: fc.constantFrom(...SESSION_STATES),
  bytesUp: count,
  bytesDown: count,
  streams: count,
  pathChanges: count,
  paths: count,
});
const pathId = fc.oneof(fc.constantFrom(1, 255), fc.integer({ min: 1, max: 255 }));
const pipeUrl = fc.constantFrom('ws://127.0.0.1:4000/pipe', 'ws://localhost:1/pipe', 'ws://[::1]:65535/pipe?token=t', 'ws://127.1:80/');

const validExtensionToNative: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.constant({ type: 'new-token' }),
  fc.constant({ type: 'stop' }),
  fc.record(
    {
      type: fc.constant('start'),
      exitId: fc.constantFrom('exit-1', 'local'),
      exitList: fc.record({ payload: fc.base64String({ maxLength: 40 }), signature: fc.base64String({ maxLength: 40 }) }),
      exit: fc.record({ id: fc.constant('exit-1'), url: fc.constant('ws://127.0.0.1:9000/v1/relay'), publicKey: fc.base64String({ maxLength: 44 }) }),
      socksPort: anyPort,
      httpPort: anyPort,
    },
    { requiredKeys: ['type'] },
  ),
);
const validNativeToExtension: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.record(
    {
      type: fc.constant('ready'),
      version: text,
      pid: count,
      socksPort: fc.integer({ min: 1, max: 65_535 }),
      httpPort: anyPort,
      pipeUrl,
      token: text,
      // Optional; a class this extension does not know must read as 'unknown'.
      nat: fc.constantFrom(...NAT_CLASSES, 'a-newer-class'),
    },
    { requiredKeys: ['type', 'version', 'pid', 'socksPort', 'httpPort', 'pipeUrl', 'token'] },
  ),
  fc.record({ type: fc.constant('token'), token: text }),
  sessionReport.map((report) => ({ type: 'status', ...report })),
  fc.record({ type: fc.constant('error'), code: text, message: text }),
);
const validExtensionToPipe: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.record({ type: fc.constant('path-up'), pathId, role: fc.constantFrom('carry', 'standby') }),
  fc.record({ type: fc.constant('path-down'), pathId, reason: text }),
  fc.record({ type: fc.constant('path-error'), code: text, message: text }),
);
const validHelperToPipe: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.record({ type: fc.constant('need-path'), reason: fc.oneof(text, fc.constant('r'.repeat(MAX_LOCAL_TEXT_CHARS + 5))), pathId }, { requiredKeys: ['type'] }),
  sessionReport.map((report) => ({ type: 'session', ...report })),
);

/** Field values that turn one valid message into another or into a near miss: the formats' own vocabulary. */
const vocabulary: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 3, arbitrary: oddFieldValue },
  fc.constantFrom<JsonValue>(
    'start',
    'new-token',
    'stop',
    'ready',
    'token',
    'status',
    'error',
    'path-up',
    'path-down',
    'path-error',
    'need-path',
    'session',
    'carry',
    'standby',
    256,
    ...SESSION_STATES,
    'ws://127.0.0.1.example.com/pipe',
    'wss://127.0.0.1/pipe',
    'http://127.0.0.1/pipe',
    'ws://203.0.113.5/pipe',
    'ws://0x7f.1/pipe',
    'x'.repeat(MAX_LOCAL_TEXT_CHARS + 1),
  ),
);

function near(valid: fc.Arbitrary<JsonObject>): fc.Arbitrary<JsonValue> {
  return fc.oneof(
    { weight: 5, arbitrary: nearValidJson(valid, { fieldValue: vocabulary }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue> },
  );
}

const input: fc.Arbitrary<LocalChannelInput> = fc.oneof(
  near(validExtensionToNative).map((value): LocalChannelInput => ({ validator: 'extension-to-native', value })),
  near(validNativeToExtension).map((value): LocalChannelInput => ({ validator: 'native-to-extension', value })),
  near(validExtensionToPipe).map((value): LocalChannelInput => ({ validator: 'extension-to-pipe', value })),
  near(validHelperToPipe).map((value): LocalChannelInput => ({ validator: 'helper-to-pipe', value })),
  fc
    .oneof(
      { weight: 4, arbitrary: fc.oneof(near(validExtensionToPipe), near(validHelperToPipe)).map((value) => JSON.stringify(value)) },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.integer({ min: MAX_PIPE_CONTROL_BYTES - 40, max: MAX_PIPE_CONTROL_BYTES + 40 }).map((length) => `"${'y'.repeat(length)}"`) },
    )
    .map((pipeText): LocalChannelInput => ({ validator: 'pipe-control-text', text: pipeText })),
);

/** Runs `validate` on `value` and checks the outcome against the spec's verdict. */
function checkAgainstSpec(what: string, validate: (value: unknown) => unknown, value: unknown, verdict: SpecVerdict): void {
  let result: unknown;
  try {
    result = validate(value);
  } catch (error) {
    assertFormatError(error, what);
    assert.notEqual(verdict.kind, 'valid', `${what} refused a well-formed message (${(error as Error).message})`);
    return;
  }
  if (verdict.kind === 'invalid') assert.fail(`${what} accepted a message the format refuses (${verdict.why})`);
  if (verdict.kind === 'valid') assert.deepStrictEqual(result, verdict.value, `${what} returned something else than the format says`);
  else {
    const problem = verdict.accepted(result);
    assert.equal(problem, undefined, `${what}: ${problem}`);
  }
}

function assertFormatError(error: unknown, what: string): void {
  if (!(error instanceof LocalChannelFormatError)) {
    throw new assert.AssertionError({ message: `${what} threw ${String(error)}, not LocalChannelFormatError`, actual: error });
  }
  assert.equal(error.code, 'LOCAL_BAD_MESSAGE');
  assert.ok(error.message.length > 0 && error.message.length <= MAX_ERROR_MESSAGE_CHARS, `${what}: an error message of ${error.message.length} characters`);
}

function checkPipeText(pipeText: string): void {
  let decoded: unknown;
  try {
    decoded = decodePipeControl(pipeText);
  } catch (error) {
    assertFormatError(error, 'decodePipeControl');
    let parses = true;
    try {
      JSON.parse(pipeText);
    } catch {
      parses = false;
    }
    assert.ok(pipeText.length > MAX_PIPE_CONTROL_BYTES || !parses, 'decodePipeControl refused JSON within the limit');
    return;
  }
  assert.ok(pipeText.length <= MAX_PIPE_CONTROL_BYTES, 'decodePipeControl accepted a text over the limit');
  assert.deepStrictEqual(decoded, JSON.parse(pipeText));
  checkAgainstSpec('parseExtensionToPipe', parseExtensionToPipe, decoded, specExtensionToPipe(decoded));
  checkAgainstSpec('parseHelperToPipe', parseHelperToPipe, decoded, specHelperToPipe(decoded));
}

function checkInput(input: LocalChannelInput): void {
  switch (input.validator) {
    case 'extension-to-native':
      checkAgainstSpec('parseExtensionToNative', parseExtensionToNative, input.value, specExtensionToNative(input.value));
      return;
    case 'native-to-extension':
      checkAgainstSpec('parseNativeToExtension', parseNativeToExtension, input.value, specNativeToExtension(input.value));
      return;
    case 'extension-to-pipe':
      checkAgainstSpec('parseExtensionToPipe', parseExtensionToPipe, input.value, specExtensionToPipe(input.value));
      return;
    case 'helper-to-pipe':
      checkAgainstSpec('parseHelperToPipe', parseHelperToPipe, input.value, specHelperToPipe(input.value));
      return;
    case 'pipe-control-text':
      checkPipeText(input.text);
      return;
  }
}

export const localChannelTarget: FuzzTarget<LocalChannelInput> = {
  name: 'local-channel',
  description: 'the native and pipe message validators on near-valid and random JSON: exactly the well-formed messages accepted, the rest refused typed',
  input,
  async start() {
    return {
      check: async (channelInput) => checkInput(channelInput),
      checkStillServing: async () => checkInput({ validator: 'pipe-control-text', text: '{"type":"path-up","pathId":1,"role":"carry"}' }),
      close: async () => {},
      toleratedBugs: new Map(),
    };
  },
};
