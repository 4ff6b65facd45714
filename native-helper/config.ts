/**
 * @module config
 * Every tunable of the helper's local servers, with its unit and default, validated once up front.
 *
 * How they relate:
 * - handshakeTimeoutMs bounds only the SOCKS5 greeting + request; dialTimeoutMs then bounds the tunnel's connect and
 *   should exceed the exit's own connect timeout so the exit's more precise error (refused, unreachable) wins.
 * - maxPipeMessageBytes must exceed the largest tunnel record (256 KiB, the data channel's message cap) by a margin.
 * - maxOutgoingNativeMessageBytes must stay under Chrome's 1 MiB cap for host -> extension messages.
 */

import { MAX_RECORD_BYTES } from '../protocol/constants.ts';
import { MAX_PIPE_CONTROL_BYTES } from '../protocol/local-channel.ts';
import { requireInteger, requireIntegerFields } from '../protocol/validate.ts';

/** Thrown when a configured limit is out of range; the message names the field and its allowed range. */
export class HelperConfigError extends Error {
  override readonly name = 'HelperConfigError';
  readonly code = 'HELPER_BAD_CONFIG';
}

/** The helper's SOCKS5 port when run by hand; the extension's helper takes any free port unless set. */
export const DEFAULT_SOCKS_PORT = 1080;
/** The helper's HTTP CONNECT port when run by hand. */
export const DEFAULT_HTTP_PORT = 8080;

export interface Socks5ServerLimits {
  /** Largest greeting (VER, NMETHODS, METHODS...) accepted, in bytes; 3..257 (257 is the protocol's maximum). */
  maxGreetingBytes: number;
  /** A client must finish greeting + request within this many ms of connecting, or it is closed. */
  handshakeTimeoutMs: number;
  /** How long the tunnel may take to open a stream before the client gets reply 06 (TTL expired), in ms. */
  dialTimeoutMs: number;
  /** Connections beyond this many (handshaking or piping) are closed at once. */
  maxConcurrentConnections: number;
}

export const DEFAULT_SOCKS5_LIMITS: Readonly<Socks5ServerLimits> = {
  maxGreetingBytes: 257,
  handshakeTimeoutMs: 10_000,
  dialTimeoutMs: 30_000,
  maxConcurrentConnections: 512,
};

export interface HttpConnectLimits {
  /** Largest request head (request line + headers), in bytes (node:http maxHeaderSize). */
  maxHeaderBytes: number;
  /** A client must send its complete request head within this many ms (node:http headersTimeout). */
  headersTimeoutMs: number;
  /** How long the tunnel may take to open a stream before the client gets 504, in ms. */
  dialTimeoutMs: number;
  /** Connections beyond this many are closed at once (node:net maxConnections). */
  maxConcurrentConnections: number;
}

export const DEFAULT_HTTP_CONNECT_LIMITS: Readonly<HttpConnectLimits> = {
  maxHeaderBytes: 8 * 1024,
  headersTimeoutMs: 10_000,
  dialTimeoutMs: 30_000,
  maxConcurrentConnections: 512,
};

/** Chrome refuses host -> extension messages of 1 MiB or more (measured: they kill the connection). */
export const CHROME_MAX_HOST_MESSAGE_BYTES = 1024 * 1024;

export interface NativeMessagingLimits {
  /** Largest message body accepted from the browser, in bytes. Our extension sends only small JSON. */
  maxIncomingMessageBytes: number;
  /** Largest message body we send to the browser, in bytes; below CHROME_MAX_HOST_MESSAGE_BYTES. */
  maxOutgoingMessageBytes: number;
}

export const DEFAULT_NATIVE_MESSAGING_LIMITS: Readonly<NativeMessagingLimits> = {
  maxIncomingMessageBytes: 64 * 1024,
  maxOutgoingMessageBytes: CHROME_MAX_HOST_MESSAGE_BYTES - 1,
};

export interface PipeServerLimits {
  /** Largest WebSocket message on the pipe, in bytes (ws maxPayload): one record plus a margin. */
  maxPipeMessageBytes: number;
  /** Largest JSON control (text) message on the pipe, in bytes; larger ones are reported and ignored. */
  maxControlMessageBytes: number;
}

export const DEFAULT_PIPE_SERVER_LIMITS: Readonly<PipeServerLimits> = {
  maxPipeMessageBytes: MAX_RECORD_BYTES + 1024,
  maxControlMessageBytes: MAX_PIPE_CONTROL_BYTES,
};

const fail = (_field: string, message: string): HelperConfigError => new HelperConfigError(message);

/** A TCP port to listen on; 0 asks the OS for any free port. Throws HelperConfigError naming `field`. */
export function requireListenPort(field: string, value: number): number {
  return requireInteger(value, field, 0, 65_535, (message) => new HelperConfigError(message));
}

const ONE_HOUR_MS = 3_600_000;
const MAX_CONNECTIONS_CAP = 65_536;

export function verifySocks5Limits(overrides: Partial<Socks5ServerLimits> = {}): Socks5ServerLimits {
  const limits = { ...DEFAULT_SOCKS5_LIMITS, ...overrides };
  requireIntegerFields(
    limits,
    {
      maxGreetingBytes: [3, 257],
      handshakeTimeoutMs: [1, ONE_HOUR_MS],
      dialTimeoutMs: [1, ONE_HOUR_MS],
      maxConcurrentConnections: [1, MAX_CONNECTIONS_CAP],
    },
    fail,
  );
  return limits;
}

export function verifyHttpConnectLimits(overrides: Partial<HttpConnectLimits> = {}): HttpConnectLimits {
  const limits = { ...DEFAULT_HTTP_CONNECT_LIMITS, ...overrides };
  requireIntegerFields(
    limits,
    {
      maxHeaderBytes: [1024, 1024 * 1024],
      headersTimeoutMs: [1, ONE_HOUR_MS],
      dialTimeoutMs: [1, ONE_HOUR_MS],
      maxConcurrentConnections: [1, MAX_CONNECTIONS_CAP],
    },
    fail,
  );
  return limits;
}

export function verifyNativeMessagingLimits(overrides: Partial<NativeMessagingLimits> = {}): NativeMessagingLimits {
  const limits = { ...DEFAULT_NATIVE_MESSAGING_LIMITS, ...overrides };
  requireIntegerFields(
    limits,
    {
      maxIncomingMessageBytes: [2, 4 * 1024 * 1024],
      maxOutgoingMessageBytes: [2, CHROME_MAX_HOST_MESSAGE_BYTES - 1],
    },
    fail,
  );
  return limits;
}

export function verifyPipeServerLimits(overrides: Partial<PipeServerLimits> = {}): PipeServerLimits {
  const limits = { ...DEFAULT_PIPE_SERVER_LIMITS, ...overrides };
  requireIntegerFields(
    limits,
    {
      maxPipeMessageBytes: [MAX_RECORD_BYTES + 1, 16 * 1024 * 1024],
      maxControlMessageBytes: [64, MAX_PIPE_CONTROL_BYTES],
    },
    fail,
  );
  return limits;
}
