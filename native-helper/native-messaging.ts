/**
 * @module native-messaging
 * Chrome native messaging framing over any Readable/Writable (stdio in production, PassThrough in tests): each
 * message is a 4-byte little-endian length, then that many bytes of UTF-8 JSON.
 *
 * Nothing else may ever be written to the output stream (stdout): one stray byte desynchronises the browser, which
 * then drops the host. Log to stderr.
 */
import type { Readable, Writable } from 'node:stream';
import { type ExtensionToNative, LocalChannelFormatError, type NativeToExtension, parseExtensionToNative } from '../protocol/local-channel.ts';
import type { NativeMessagingLimits } from './config.ts';
import { verifyNativeMessagingLimits } from './config.ts';

const LENGTH_PREFIX_BYTES = 4;

export type NativeMessagingErrorCode =
  | 'NATIVE_BAD_LENGTH'
  | 'NATIVE_MESSAGE_TOO_LARGE'
  | 'NATIVE_BAD_JSON'
  | 'NATIVE_TRUNCATED'
  | 'NATIVE_OUTGOING_TOO_LARGE'
  | 'NATIVE_OUTPUT_CLOSED';

/** The byte stream to or from the browser is broken; the host should exit (the browser will restart it). */
export class NativeMessagingError extends Error {
  override readonly name = 'NativeMessagingError';
  constructor(
    readonly code: NativeMessagingErrorCode,
    message: string,
  ) {
    super(message);
  }
}

enum DecoderState {
  ReadLength,
  ReadBody,
  Failed,
}

/** Incremental decoder: feed chunks split anywhere, get whole JSON values. Throws NativeMessagingError. */
export class NativeMessageDecoder {
  private state = DecoderState.ReadLength;
  private buffered: Buffer = Buffer.alloc(0);
  private bodyBytes = 0;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly maxIncomingMessageBytes: number) {}

  /** True when no partial message is buffered (a clean place for the input to end). */
  get atMessageBoundary(): boolean {
    return this.state === DecoderState.ReadLength && this.buffered.length === 0;
  }

  push(chunk: Uint8Array): unknown[] {
    if (this.state === DecoderState.Failed) throw new NativeMessagingError('NATIVE_BAD_LENGTH', 'the decoder already failed');
    this.buffered = this.buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffered, chunk]);
    const messages: unknown[] = [];
    try {
      for (;;) {
        if (this.state === DecoderState.ReadLength) {
          if (this.buffered.length < LENGTH_PREFIX_BYTES) break;
          this.bodyBytes = this.buffered.readUInt32LE(0);
          this.buffered = this.buffered.subarray(LENGTH_PREFIX_BYTES);
          this.checkLength(this.bodyBytes);
          this.state = DecoderState.ReadBody;
        } else {
          if (this.buffered.length < this.bodyBytes) break;
          const body = this.buffered.subarray(0, this.bodyBytes);
          this.buffered = this.buffered.subarray(this.bodyBytes);
          messages.push(this.parseBody(body));
          this.state = DecoderState.ReadLength;
        }
      }
    } catch (error) {
      this.state = DecoderState.Failed;
      throw error;
    }
    return messages;
  }

  private checkLength(length: number): void {
    // The shortest JSON text is one byte ("0"); Chrome never sends an empty message.
    if (length === 0) throw new NativeMessagingError('NATIVE_BAD_LENGTH', 'a native message has length 0');
    if (length > this.maxIncomingMessageBytes) {
      throw new NativeMessagingError(
        'NATIVE_MESSAGE_TOO_LARGE',
        `a native message of ${length} bytes exceeds the ${this.maxIncomingMessageBytes}-byte limit (is something other than Chrome writing to the helper's stdin?)`,
      );
    }
  }

  private parseBody(body: Uint8Array): unknown {
    try {
      return JSON.parse(this.utf8.decode(body)) as unknown;
    } catch (error) {
      throw new NativeMessagingError('NATIVE_BAD_JSON', `a native message is not UTF-8 JSON: ${(error as Error).message}`);
    }
  }
}

/** Yields each JSON value read from `input`; returns when input ends between messages, throws NativeMessagingError. */
export async function* readNativeMessages(input: Readable, limits: Partial<NativeMessagingLimits> = {}): AsyncGenerator<unknown> {
  const { maxIncomingMessageBytes } = verifyNativeMessagingLimits(limits);
  const decoder = new NativeMessageDecoder(maxIncomingMessageBytes);
  for await (const chunk of input) {
    yield* decoder.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Uint8Array));
  }
  if (!decoder.atMessageBoundary) throw new NativeMessagingError('NATIVE_TRUNCATED', 'the input ended in the middle of a native message');
}

export interface NativeMessageHandlers {
  onMessage(message: ExtensionToNative): void | Promise<void>;
  /** A well-framed message that is not a valid ExtensionToNative: reported, then reading goes on. */
  onInvalidMessage(error: LocalChannelFormatError): void;
}

/**
 * Reads and validates messages until the browser closes the input (resolves) or the framing breaks (rejects with
 * NativeMessagingError). Messages are handled one at a time, in order.
 */
export async function serveNativeMessages(input: Readable, handlers: NativeMessageHandlers, limits: Partial<NativeMessagingLimits> = {}): Promise<void> {
  for await (const value of readNativeMessages(input, limits)) {
    let message: ExtensionToNative;
    try {
      message = parseExtensionToNative(value);
    } catch (error) {
      if (!(error instanceof LocalChannelFormatError)) throw error;
      handlers.onInvalidMessage(error);
      continue;
    }
    await handlers.onMessage(message);
  }
}

/** Frames one message; throws NATIVE_OUTGOING_TOO_LARGE rather than send what Chrome would reject. */
export function encodeNativeMessage(message: NativeToExtension, maxOutgoingMessageBytes: number): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  if (body.length > maxOutgoingMessageBytes) {
    throw new NativeMessagingError(
      'NATIVE_OUTGOING_TOO_LARGE',
      `a ${message.type} message of ${body.length} bytes exceeds the ${maxOutgoingMessageBytes}-byte limit for messages to the browser`,
    );
  }
  const frame = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + body.length);
  frame.writeUInt32LE(body.length, 0);
  body.copy(frame, LENGTH_PREFIX_BYTES);
  return frame;
}

/** Writes framed messages, waiting for 'drain' when the output is full. */
export class NativeMessageWriter {
  private readonly limits: NativeMessagingLimits;

  constructor(
    private readonly output: Writable,
    limits: Partial<NativeMessagingLimits> = {},
  ) {
    this.limits = verifyNativeMessagingLimits(limits);
  }

  /** Resolves once the frame is handed to the output (or buffered below its high-water mark). */
  async write(message: NativeToExtension): Promise<void> {
    const frame = encodeNativeMessage(message, this.limits.maxOutgoingMessageBytes);
    if (this.output.destroyed || this.output.writableEnded) {
      throw new NativeMessagingError('NATIVE_OUTPUT_CLOSED', 'the browser closed the native messaging connection');
    }
    if (this.output.write(frame)) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        this.output.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.output.off('drain', onDrain);
        reject(new NativeMessagingError('NATIVE_OUTPUT_CLOSED', 'the browser closed the native messaging connection'));
      };
      this.output.once('drain', onDrain);
      this.output.once('close', onClose);
    });
  }
}
