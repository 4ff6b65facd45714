// Connects a ClientSession and an ExitSession through asynchronous in-memory delivery, for protocol tests.

import { generateKeyPair, type KeyPair } from '../../../protocol/crypto.ts';
import type { ProtocolError } from '../../../protocol/errors.ts';
import { ClientSession, type ClientSessionOptions, ExitSession, type ExitSessionOptions } from '../../../protocol/index.ts';
import type { MuxStream } from '../../../protocol/stream.ts';

export interface Pair {
  client: ClientSession;
  exit: ExitSession;
  exitKeys: KeyPair;
  /** Every record the exit received, as a volunteer would see it. */
  wireToExit: Uint8Array[];
  clientClosed: Promise<ProtocolError | undefined>;
  exitClosed: Promise<ProtocolError | undefined>;
}

/** Every session connectPair() made and closeAllSessions() has not closed yet. */
const liveSessions = new Set<ClientSession | ExitSession>();

/**
 * Closes every session connectPair() made (call from afterEach): a test that fails half-way would otherwise leave the
 * client's heartbeat timer running, and the file would hang instead of reporting the failure.
 */
export function closeAllSessions(): void {
  for (const session of liveSessions) session.close();
  liveSessions.clear();
}

export function connectPair(
  onOpenRequest: (stream: MuxStream) => void,
  overrides: { client?: Partial<ClientSessionOptions>; exit?: Partial<ExitSessionOptions> } = {},
): Pair {
  const exitKeys = generateKeyPair();
  const wireToExit: Uint8Array[] = [];
  let resolveClientClosed!: (error: ProtocolError | undefined) => void;
  let resolveExitClosed!: (error: ProtocolError | undefined) => void;
  const clientClosed = new Promise<ProtocolError | undefined>((resolve) => (resolveClientClosed = resolve));
  const exitClosed = new Promise<ProtocolError | undefined>((resolve) => (resolveExitClosed = resolve));
  // eslint-disable-next-line prefer-const
  let exit: ExitSession;
  const client: ClientSession = new ClientSession({
    exitPublicKey: exitKeys.publicKey,
    sendRecord: (record) => {
      const copy = record.slice();
      wireToExit.push(copy);
      queueMicrotask(() => exit.receiveRecord(copy));
    },
    onClose: resolveClientClosed,
    ...overrides.client,
  });
  exit = new ExitSession({
    staticKeyPair: exitKeys,
    sendRecord: (record) => {
      const copy = record.slice();
      queueMicrotask(() => client.receiveRecord(copy));
    },
    onOpenRequest,
    onClose: resolveExitClosed,
    ...overrides.exit,
  });
  liveSessions.add(client).add(exit);
  return { client, exit, exitKeys, wireToExit, clientClosed, exitClosed };
}

/** Collects a stream's bytes, consuming them at once (an always-ready reader). */
export function readAll(stream: MuxStream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    stream.ondata = (bytes) => {
      chunks.push(bytes.slice());
      stream.consumed(bytes.length);
    };
    stream.onend = () => resolve(Buffer.concat(chunks));
    stream.onclose = (error) => (error ? reject(error) : resolve(Buffer.concat(chunks)));
  });
}

/** Writes all bytes honouring backpressure, then half-closes. */
export async function writeAll(stream: MuxStream, bytes: Uint8Array, chunkBytes = 100_000): Promise<void> {
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
    if (!stream.write(bytes.subarray(offset, offset + chunkBytes))) {
      await new Promise<void>((resolve) => (stream.ondrain = resolve));
    }
  }
  stream.end();
}

/** An exit-side handler that accepts every stream and echoes it, passing backpressure through. */
export function echo(stream: MuxStream): void {
  stream.accept();
  stream.ondata = (bytes) => {
    const copy = bytes.slice();
    // Consume only once the echo was queued below the high-water mark: end-to-end backpressure.
    if (stream.write(copy)) stream.consumed(copy.length);
    else stream.ondrain = () => stream.consumed(copy.length);
  };
  stream.onend = () => stream.end();
}
