/**
 * Fuzz target: the multiplexer (protocol/muxer.ts with protocol/stream.ts), fed arbitrary valid frames from a peer
 * mixed with its owner's own calls (open, accept, reject, write, end, reset, consumed), for either role.
 *
 * Each case is checked against a model that knows only what the muxer announced: the windows it granted (its CREDIT
 * frames) and the credit the peer granted it (the CREDIT frames fed in). Properties:
 * - a frame the peer may not send (DATA past a window, DATA before OPEN_OK, a second CLOSE, OPEN on an open id, a
 *   credit overflow, a frame for the other role) is refused with MalformedInputError or FlowControlError, and every
 *   frame it may send is taken without an error; no other error is ever thrown;
 * - the muxer never sends more DATA than the peer's credit, on a stream or on the session, and every frame it sends
 *   survives encodeFrame and decodeFrame unchanged and suits its role;
 * - PING is answered with its bytes, GOAWAY reaches onGoAway, a full muxer refuses OPEN with OPEN_FAIL;
 * - every stream's onclose fires exactly once; after an error the session aborts every stream and sends nothing more.
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { defaultSessionConfig, type SessionConfig } from '../../../protocol/config.ts';
import { FrameType, MAX_DATA_PAYLOAD_BYTES, type SessionCloseCode, StreamErrorCode } from '../../../protocol/constants.ts';
import { FlowControlError, MalformedInputError, StreamError } from '../../../protocol/errors.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../../protocol/frame.ts';
import { Multiplexer } from '../../../protocol/muxer.ts';
import type { MuxStream } from '../../../protocol/stream.ts';
import { opaque, port, reason, sessionCode, streamCode } from '../frame-arbitraries.ts';
import type { FuzzTarget } from '../target.ts';

type Role = 'client' | 'exit';

export type MuxStep =
  | { kind: 'receive'; frame: Frame }
  | { kind: 'open'; port: number }
  | { kind: 'accept'; pick: number }
  | { kind: 'reject'; pick: number; code: StreamErrorCode }
  | { kind: 'write'; pick: number; bytes: number }
  | { kind: 'end'; pick: number }
  | { kind: 'reset'; pick: number; code: StreamErrorCode }
  | { kind: 'consume'; pick: number; bytes: number };

export interface MuxerScript {
  role: Role;
  config: SessionConfig;
  peerStreamWindowBytes: number;
  peerSessionWindowBytes: number;
  steps: MuxStep[];
}

const TARGET_HOST = 'example.org';
/** Ids a client muxer gives its first streams (1, 3, 5) and one it never gives (2), so frames meet real streams. */
const peerStreamId = fc.constantFrom(1, 3, 5, 2);
const dataLength = fc.oneof(fc.integer({ min: 1, max: 4_096 }), fc.integer({ min: 1, max: MAX_DATA_PAYLOAD_BYTES }));
const creditBytes = fc.oneof(fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 1, max: 0xffff_ffff }));

const peerFrame: fc.Arbitrary<Frame> = fc.oneof(
  peerStreamId.map((streamId): Frame => ({ type: FrameType.OPEN, streamId, host: TARGET_HOST, port: 443 })),
  peerStreamId.map((streamId): Frame => ({ type: FrameType.OPEN_OK, streamId })),
  fc.tuple(peerStreamId, streamCode, reason).map(([streamId, code, why]): Frame => ({ type: FrameType.OPEN_FAIL, streamId, code, reason: why })),
  {
    weight: 4,
    arbitrary: fc.tuple(peerStreamId, dataLength).map(([streamId, length]): Frame => ({ type: FrameType.DATA, streamId, data: new Uint8Array(length) })),
  },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(0, 1, 3, 5), creditBytes).map(([streamId, bytes]): Frame => ({ type: FrameType.CREDIT, streamId, bytes })) },
  peerStreamId.map((streamId): Frame => ({ type: FrameType.CLOSE, streamId })),
  fc.tuple(peerStreamId, streamCode, reason).map(([streamId, code, why]): Frame => ({ type: FrameType.RESET, streamId, code, reason: why })),
  opaque.map((bytes): Frame => ({ type: FrameType.PING, opaque: bytes })),
  opaque.map((bytes): Frame => ({ type: FrameType.PONG, opaque: bytes })),
  fc.tuple(sessionCode, reason).map(([code, why]): Frame => ({ type: FrameType.GOAWAY, code, reason: why })),
);

const step: fc.Arbitrary<MuxStep> = fc.oneof(
  { weight: 10, arbitrary: peerFrame.map((frame): MuxStep => ({ kind: 'receive', frame })) },
  { weight: 2, arbitrary: port.map((number): MuxStep => ({ kind: 'open', port: number })) },
  { weight: 2, arbitrary: fc.nat().map((pick): MuxStep => ({ kind: 'accept', pick })) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(), streamCode).map(([pick, code]): MuxStep => ({ kind: 'reject', pick, code })) },
  { weight: 3, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 200_000 })).map(([pick, bytes]): MuxStep => ({ kind: 'write', pick, bytes })) },
  { weight: 1, arbitrary: fc.nat().map((pick): MuxStep => ({ kind: 'end', pick })) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(), streamCode).map(([pick, code]): MuxStep => ({ kind: 'reset', pick, code })) },
  { weight: 3, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 1, max: 300_000 })).map(([pick, bytes]): MuxStep => ({ kind: 'consume', pick, bytes })) },
);

const input: fc.Arbitrary<MuxerScript> = fc
  .record({
    role: fc.constantFrom<Role>('client', 'exit'),
    // The smallest windows verifySessionConfig allows, so steps reach their edges.
    streamWindow: fc.integer({ min: MAX_DATA_PAYLOAD_BYTES, max: 200_000 }),
    extraSessionWindow: fc.integer({ min: 0, max: 200_000 }),
    maxStreams: fc.integer({ min: 1, max: 3 }),
    highWater: fc.integer({ min: 1, max: 300_000 }),
    peerStreamWindowBytes: fc.integer({ min: 0, max: 200_000 }),
    peerSessionWindowBytes: fc.integer({ min: 0, max: 300_000 }),
    steps: fc.array(step, { minLength: 1, maxLength: 30 }),
  })
  .map((drawn) => ({
    role: drawn.role,
    config: {
      ...defaultSessionConfig,
      streamReceiveWindowBytes: drawn.streamWindow,
      sessionReceiveWindowBytes: drawn.streamWindow + drawn.extraSessionWindow,
      maxStreams: drawn.maxStreams,
      streamSendHighWaterBytes: drawn.highWater,
    },
    peerStreamWindowBytes: drawn.peerStreamWindowBytes,
    peerSessionWindowBytes: drawn.peerSessionWindowBytes,
    steps: drawn.steps,
  }));

/** What the model knows of one stream, from the muxer's callbacks and frames. */
interface TrackedStream {
  readonly stream: MuxStream;
  readonly id: number;
  state: 'opening' | 'open' | 'closed';
  remoteEnded: boolean;
  localEnded: boolean;
  closeCount: number;
  /** DATA the muxer must still accept on this stream: its window plus its CREDIT grants, less DATA taken. */
  receiveRemaining: number;
  /** DATA the muxer may still send: the peer's initial window plus the peer's CREDIT grants, less DATA sent. */
  sendAllowance: number;
  /** Bytes ondata delivered that the owner has not passed to consumed() yet. */
  unconsumed: number;
}

type Expectation = 'accepted' | 'malformed' | 'flow-control';

/** Runs one script against a fresh muxer; throws an AssertionError naming the first property that broke. */
class MuxerModel {
  readonly #script: MuxerScript;
  readonly #mux: Multiplexer;
  /** Every stream ever created, in order. */
  readonly #streams: TrackedStream[] = [];
  /** Streams the muxer still holds, by id. */
  readonly #live = new Map<number, TrackedStream>();
  readonly #violations: string[] = [];
  readonly #sentThisStep: Frame[] = [];
  readonly #goAways: Array<{ code: SessionCloseCode; reason: string }> = [];
  #sessionReceiveRemaining: number;
  #sessionSendAllowance: number;
  #aborted = false;

  constructor(script: MuxerScript) {
    this.#script = script;
    this.#sessionReceiveRemaining = script.config.sessionReceiveWindowBytes;
    this.#sessionSendAllowance = script.peerSessionWindowBytes;
    this.#mux = new Multiplexer({
      role: script.role,
      config: script.config,
      peerStreamWindowBytes: script.peerStreamWindowBytes,
      peerSessionWindowBytes: script.peerSessionWindowBytes,
      sendFrame: (frame) => this.#onSent(frame),
      onOpenRequest: (stream) => this.#track(stream),
      onGoAway: (code, why) => this.#goAways.push({ code, reason: why }),
    });
  }

  run(): void {
    for (const [index, each] of this.#script.steps.entries()) {
      this.#sentThisStep.length = 0;
      if (each.kind === 'receive') this.#receive(each.frame);
      else this.#ownerStep(each);
      this.#checkInvariants(index, each);
    }
  }

  #track(stream: MuxStream): TrackedStream {
    const tracked: TrackedStream = {
      stream,
      id: stream.id,
      state: 'opening',
      remoteEnded: false,
      localEnded: false,
      closeCount: 0,
      receiveRemaining: this.#script.config.streamReceiveWindowBytes,
      sendAllowance: this.#script.peerStreamWindowBytes,
      unconsumed: 0,
    };
    stream.onopen = () => {
      if (tracked.state !== 'opening') this.#violations.push(`stream ${tracked.id}: onopen while ${tracked.state}`);
      tracked.state = 'open';
    };
    stream.ondata = (bytes) => {
      tracked.unconsumed += bytes.length;
    };
    stream.onend = () => {
      if (tracked.remoteEnded) this.#violations.push(`stream ${tracked.id}: onend twice`);
      tracked.remoteEnded = true;
    };
    stream.onclose = () => {
      tracked.closeCount += 1;
      tracked.state = 'closed';
      if (this.#live.get(tracked.id) === tracked) this.#live.delete(tracked.id);
    };
    this.#streams.push(tracked);
    this.#live.set(tracked.id, tracked);
    return tracked;
  }

  /** Every frame the muxer sends, checked as it goes out (throwing here would land inside the muxer). */
  #onSent(frame: Frame): void {
    this.#sentThisStep.push(frame);
    if (this.#aborted) this.#violations.push(`sent ${frame.type} after the session was aborted`);
    let wire: Frame | undefined;
    try {
      wire = decodeFrame(encodeFrame(frame));
    } catch (error) {
      this.#violations.push(`sent a frame that does not survive encode and decode: ${String(error)}`);
    }
    if (wire !== undefined && !isDeepStrictEqual(wire, frame)) this.#violations.push(`sent frame type ${frame.type} changes on the wire`);
    const role = this.#script.role;
    if (role === 'exit' && frame.type === FrameType.OPEN) this.#violations.push('the exit sent OPEN');
    if (role === 'client' && (frame.type === FrameType.OPEN_OK || frame.type === FrameType.OPEN_FAIL))
      this.#violations.push('the client sent OPEN_OK/OPEN_FAIL');
    if (frame.type === FrameType.DATA) {
      const tracked = this.#live.get(frame.streamId);
      if (!tracked) {
        this.#violations.push(`sent DATA on stream ${frame.streamId}, which it does not hold`);
        return;
      }
      tracked.sendAllowance -= frame.data.length;
      this.#sessionSendAllowance -= frame.data.length;
      if (tracked.sendAllowance < 0) this.#violations.push(`sent ${-tracked.sendAllowance} bytes past stream ${frame.streamId}'s credit`);
      if (this.#sessionSendAllowance < 0) this.#violations.push(`sent ${-this.#sessionSendAllowance} bytes past the session credit`);
    } else if (frame.type === FrameType.CREDIT) {
      if (frame.streamId === 0) this.#sessionReceiveRemaining += frame.bytes;
      else {
        const tracked = this.#live.get(frame.streamId);
        if (tracked) tracked.receiveRemaining += frame.bytes;
      }
    }
  }

  /** What the muxer must do with `frame`, from the model alone. */
  #expect(frame: Frame): Expectation {
    const role = this.#script.role;
    switch (frame.type) {
      case FrameType.OPEN:
        return role === 'client' || this.#live.has(frame.streamId) ? 'malformed' : 'accepted';
      case FrameType.OPEN_OK:
      case FrameType.OPEN_FAIL: {
        if (role === 'exit') return 'malformed';
        const tracked = this.#live.get(frame.streamId);
        return tracked && tracked.state !== 'opening' ? 'malformed' : 'accepted';
      }
      case FrameType.DATA: {
        if (frame.data.length > this.#sessionReceiveRemaining) return 'flow-control';
        const tracked = this.#live.get(frame.streamId);
        if (!tracked) return 'accepted';
        if (tracked.state !== 'open' || tracked.remoteEnded) return 'malformed';
        return frame.data.length > tracked.receiveRemaining ? 'flow-control' : 'accepted';
      }
      case FrameType.CREDIT: {
        if (frame.streamId === 0) return this.#sessionSendAllowance + frame.bytes > Number.MAX_SAFE_INTEGER ? 'flow-control' : 'accepted';
        const tracked = this.#live.get(frame.streamId);
        return tracked && tracked.sendAllowance + frame.bytes > 0xffff_ffff ? 'flow-control' : 'accepted';
      }
      case FrameType.CLOSE:
        return this.#live.get(frame.streamId)?.remoteEnded ? 'malformed' : 'accepted';
      default:
        return 'accepted';
    }
  }

  #receive(frame: Frame): void {
    if (this.#aborted) {
      this.#mux.receiveFrame(frame);
      return;
    }
    const expected = this.#expect(frame);
    const liveBefore = this.#live.size;
    const tracked = 'streamId' in frame ? this.#live.get(frame.streamId) : undefined;
    const deliveredBefore = tracked?.unconsumed ?? 0;
    const goAwaysBefore = this.#goAways.length;
    // Credit counts from the moment it arrives: the muxer may spend it inside receiveFrame.
    if (expected === 'accepted' && frame.type === FrameType.CREDIT) {
      if (frame.streamId === 0) this.#sessionSendAllowance += frame.bytes;
      else if (tracked) tracked.sendAllowance += frame.bytes;
    }
    let outcome: Expectation = 'accepted';
    let thrown: unknown;
    try {
      this.#mux.receiveFrame(frame);
    } catch (error) {
      thrown = error;
      if (error instanceof FlowControlError) outcome = 'flow-control';
      else if (error instanceof MalformedInputError) outcome = 'malformed';
      else throw new assert.AssertionError({ message: `receiveFrame(${describeFrame(frame)}) threw ${String(error)}, not a ProtocolError`, actual: error });
    }
    assert.equal(
      outcome,
      expected,
      `receiveFrame(${describeFrame(frame)}) ${thrown ? `threw ${String(thrown)}` : 'took the frame'}; the model expected ${expected}`,
    );
    if (outcome !== 'accepted') {
      this.#abort();
      return;
    }
    switch (frame.type) {
      case FrameType.DATA:
        this.#sessionReceiveRemaining -= frame.data.length;
        if (tracked) {
          tracked.receiveRemaining -= frame.data.length;
          assert.equal(tracked.unconsumed - deliveredBefore, frame.data.length, 'DATA on an open stream reaches ondata whole');
        }
        return;
      case FrameType.OPEN:
        if (liveBefore >= this.#script.config.maxStreams) {
          assert.ok(
            this.#sentThisStep.some((sent) => sent.type === FrameType.OPEN_FAIL && sent.streamId === frame.streamId),
            'a full muxer answers OPEN with OPEN_FAIL',
          );
          assert.equal(this.#live.has(frame.streamId), false, 'a full muxer opens no stream');
        } else {
          assert.ok(this.#live.has(frame.streamId) || this.#streams.at(-1)?.id === frame.streamId, 'OPEN reaches onOpenRequest');
        }
        return;
      case FrameType.PING:
        assert.ok(
          this.#sentThisStep.some((sent) => sent.type === FrameType.PONG && isDeepStrictEqual(sent.opaque, frame.opaque)),
          'PING is answered by PONG with its 8 bytes',
        );
        return;
      case FrameType.GOAWAY:
        assert.deepEqual(this.#goAways.slice(goAwaysBefore), [{ code: frame.code, reason: frame.reason }], 'GOAWAY reaches onGoAway');
        return;
      default:
        return;
    }
  }

  /** What the session does after a protocol error: fail every stream, send nothing more. */
  #abort(): void {
    const open = this.#streams.filter((tracked) => tracked.state !== 'closed');
    this.#mux.abortAll(new StreamError(StreamErrorCode.GENERAL_FAILURE, 'the session closed'));
    this.#aborted = true;
    for (const tracked of open) assert.equal(tracked.closeCount, 1, `stream ${tracked.id} is closed once when the session aborts`);
    assert.equal(this.#mux.streamCount, 0, 'an aborted session holds no stream');
  }

  /** The stream `pick` chooses among those `eligible`, or undefined when none is. */
  #pick(pick: number, eligible: (tracked: TrackedStream) => boolean): TrackedStream | undefined {
    const candidates = this.#streams.filter(eligible);
    return candidates[pick % Math.max(1, candidates.length)];
  }

  #ownerStep(ownerStep: Exclude<MuxStep, { kind: 'receive' }>): void {
    const usable = (tracked: TrackedStream): boolean => tracked.state !== 'closed' && !this.#aborted;
    switch (ownerStep.kind) {
      case 'open': {
        if (this.#script.role !== 'client') return;
        const full = this.#live.size >= this.#script.config.maxStreams;
        if (this.#aborted || full) {
          assert.throws(() => this.#mux.openStream({ host: TARGET_HOST, port: ownerStep.port }), StreamError, 'openStream on a full or closed muxer');
          return;
        }
        const tracked = this.#track(this.#mux.openStream({ host: TARGET_HOST, port: ownerStep.port }));
        assert.equal(tracked.id % 2, 1, 'client stream ids are odd');
        assert.ok(
          this.#sentThisStep.some((sent) => sent.type === FrameType.OPEN && sent.streamId === tracked.id && sent.port === ownerStep.port),
          'openStream sends OPEN',
        );
        return;
      }
      case 'accept':
        this.#pick(ownerStep.pick, (tracked) => usable(tracked) && tracked.state === 'opening' && this.#script.role === 'exit')?.stream.accept();
        return;
      case 'reject':
        this.#pick(ownerStep.pick, (tracked) => usable(tracked) && tracked.state === 'opening' && this.#script.role === 'exit')?.stream.reject(
          ownerStep.code,
          'no',
        );
        return;
      case 'write': {
        const tracked = this.#pick(ownerStep.pick, (candidate) => usable(candidate) && !candidate.localEnded);
        tracked?.stream.write(new Uint8Array(ownerStep.bytes));
        return;
      }
      case 'end': {
        const tracked = this.#pick(ownerStep.pick, (candidate) => usable(candidate) && !candidate.localEnded);
        if (tracked) {
          tracked.localEnded = true;
          tracked.stream.end();
        }
        return;
      }
      case 'reset':
        this.#pick(ownerStep.pick, usable)?.stream.reset(ownerStep.code, 'reset by its owner');
        return;
      case 'consume': {
        const tracked = this.#pick(ownerStep.pick, (candidate) => candidate.unconsumed > 0);
        if (!tracked) return;
        const bytes = Math.min(ownerStep.bytes, tracked.unconsumed);
        tracked.unconsumed -= bytes;
        tracked.stream.consumed(bytes);
        return;
      }
    }
  }

  #checkInvariants(index: number, lastStep: MuxStep): void {
    const where = `after step ${index} (${lastStep.kind === 'receive' ? describeFrame(lastStep.frame) : lastStep.kind})`;
    assert.deepEqual(this.#violations, [], where);
    for (const tracked of this.#streams) assert.ok(tracked.closeCount <= 1, `${where}: stream ${tracked.id} closed ${tracked.closeCount} times`);
    assert.equal(this.#mux.streamCount, this.#live.size, `${where}: streamCount matches the streams not closed`);
    assert.ok(this.#live.size <= this.#script.config.maxStreams, `${where}: more streams than maxStreams`);
  }
}

function describeFrame(frame: Frame): string {
  const name = Object.entries(FrameType).find(([, value]) => value === frame.type)?.[0] ?? String(frame.type);
  const stream = 'streamId' in frame ? ` stream ${frame.streamId}` : '';
  const detail = frame.type === FrameType.DATA ? ` ${frame.data.length} bytes` : frame.type === FrameType.CREDIT ? ` +${frame.bytes}` : '';
  return `${name}${stream}${detail}`;
}

export const muxerTarget: FuzzTarget<MuxerScript> = {
  name: 'muxer',
  description:
    'a client or exit Multiplexer fed arbitrary peer frames and owner calls: typed errors exactly where the model expects them, credit never overrun',
  input,
  async start() {
    return {
      check: async (script) => new MuxerModel(script).run(),
      checkStillServing: async () =>
        new MuxerModel({
          role: 'exit',
          config: defaultSessionConfig,
          peerStreamWindowBytes: 1_000,
          peerSessionWindowBytes: 1_000,
          steps: [
            { kind: 'receive', frame: { type: FrameType.OPEN, streamId: 1, host: TARGET_HOST, port: 443 } },
            { kind: 'accept', pick: 0 },
            { kind: 'write', pick: 0, bytes: 10 },
          ],
        }).run(),
      close: async () => {},
      toleratedBugs: new Map(),
    };
  },
};
