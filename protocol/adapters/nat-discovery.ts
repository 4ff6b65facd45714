/**
 * @module adapters/nat-discovery
 * Measures this machine's NAT class with the RFC 5780 tests against one STUN server that has two addresses (coturn
 * with two `-L` addresses, for example), over node:dgram. Node only: the helper and `ferry volunteer` run it at start.
 *
 * The tests (RFC 5780 §4.3, §4.4), all Binding requests:
 * - Mapping, on one socket: I to the primary address (must return OTHER-ADDRESS); if the mapped address is one of
 *   ours there is no NAT. Else II to (other IP, primary port): the same mapping means endpoint-independent; else III
 *   to (other IP, other port): the same as II means address-dependent, else address-and-port-dependent.
 * - Filtering, each on a fresh socket, both at once and alongside the mapping tests: II asks the primary address to
 *   answer from the other IP and port, III from the other port only. II answered: endpoint-independent; else III
 *   answered: address-dependent; else address-and-port-dependent. Fresh sockets keep one test's late or refused
 *   answers from touching another test's NAT state (a stray inbound packet can take a port on some routers).
 *
 * A test that expects no answer costs a whole transaction time (7 × the first RTO), so the tests run concurrently
 * wherever they are independent: the whole discovery takes about one round trip plus one transaction time.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { NatClass } from '../signaling.ts';
import {
  type BindingResponse,
  decodeBindingResponse,
  encodeBindingRequest,
  formatStunAddress,
  peekTransactionId,
  STUN_TRANSACTION_ID_BYTES,
  StunMessageType,
} from '../stun-message.ts';

/** The port a stun: URL means when it names none (RFC 7064 §3.1). */
export const DEFAULT_STUN_PORT = 3478;
/** Longest a whole discovery may take by default, DNS included (ms); then it fails with NAT_TIMEOUT. */
export const DEFAULT_NAT_DISCOVERY_TIMEOUT_MS = 3_000;
/**
 * First retransmission timeout of a transaction (ms); it doubles after each retransmission (RFC 5389 §7.2.1). RFC
 * 5389 starts at 500 ms for unknown paths; discovery must fit in a few seconds, so it starts lower.
 */
export const DEFAULT_STUN_INITIAL_RTO_MS = 200;
/** Requests sent per transaction, the first included (RFC 5389's Rc is 7; three fit discovery's budget). */
export const DEFAULT_STUN_MAX_TRANSMISSIONS = 3;
/** After the last request a transaction waits this many first RTOs for the answer (RFC 5389's Rm is 16). */
export const STUN_FINAL_WAIT_RTOS = 4;
/** Bounds for the timing options: anything outside is a typo, not a choice. */
export const MAX_NAT_DISCOVERY_TIMEOUT_MS = 60_000;
export const MAX_STUN_TRANSMISSIONS = 7;

/** How the NAT picks the public address for a local socket (RFC 4787 §4.1). */
export type NatMapping = 'no-nat' | 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
/** Which inbound packets reach a mapped socket (RFC 4787 §5). */
export type NatFiltering = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface StunServer {
  /** A host name or an IP address. */
  host: string;
  port: number;
}

export interface NatDiscoveryOptions {
  /** The STUN server's primary address; it must answer with OTHER-ADDRESS (RFC 5780). */
  server: StunServer;
  /** Bound on the whole discovery, DNS included (ms). Default DEFAULT_NAT_DISCOVERY_TIMEOUT_MS; at least 7 RTOs. */
  timeoutMs?: number;
  /** First retransmission timeout (ms). Default DEFAULT_STUN_INITIAL_RTO_MS. */
  initialRtoMs?: number;
  /** Requests per transaction, 1..MAX_STUN_TRANSMISSIONS. Default DEFAULT_STUN_MAX_TRANSMISSIONS. */
  maxTransmissions?: number;
  /** Local address to send from (an interface address). Default: any. */
  localAddress?: string;
  /** Aborts the discovery (NAT_ABORTED). */
  signal?: AbortSignal;
  /** Replaces the operating system's sockets, DNS and interface list; for tests. */
  environment?: Partial<NatDiscoveryEnvironment>;
}

export interface NatDiscoveryResult {
  natClass: NatClass;
  mapping: NatMapping;
  filtering: NatFiltering;
  /** The public `address:port` the server saw for the mapping socket (test I). */
  mappedAddress: string;
  /** The mapping socket's local `address:port` (the address is the wildcard unless localAddress was given). */
  localAddress: string;
  /** The server's primary and other `address:port`, as tested. */
  server: string;
  otherAddress: string;
  /** How long the discovery took (ms). */
  durationMs: number;
}

export type NatDiscoveryErrorCode =
  | 'NAT_BAD_OPTIONS'
  | 'NAT_BAD_SERVER_URL'
  | 'NAT_SERVER_NOT_FOUND'
  | 'NAT_SOCKET_ERROR'
  | 'NAT_SERVER_UNREACHABLE'
  | 'NAT_NO_OTHER_ADDRESS'
  | 'NAT_ALTERNATE_UNREACHABLE'
  | 'NAT_CHANGE_REQUEST_IGNORED'
  | 'NAT_SERVER_ERROR'
  | 'NAT_BAD_RESPONSE'
  | 'NAT_TIMEOUT'
  | 'NAT_ABORTED';

/** Discovery failed; `code` says why (docs/wire-protocol.md, "NAT classes") and the message what to do about it. */
export class NatDiscoveryError extends Error {
  override readonly name = 'NatDiscoveryError';
  constructor(
    readonly code: NatDiscoveryErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The NAT class the broker matches on, from the two measured behaviours. No NAT counts as endpoint-independent mapping. */
export function classifyNat(mapping: NatMapping, filtering: NatFiltering): NatClass {
  if (mapping === 'address-dependent' || mapping === 'address-and-port-dependent') return 'symmetric';
  switch (filtering) {
    case 'endpoint-independent':
      return 'full-cone';
    case 'address-dependent':
      return 'address-restricted';
    case 'address-and-port-dependent':
      return 'port-restricted';
  }
}

/** `stun:host[:port]` (RFC 7064; IPv6 in brackets) as a server; throws NatDiscoveryError NAT_BAD_SERVER_URL. */
export function parseStunUrl(url: string): StunServer {
  const match = /^stun:(\[[0-9a-fA-F:.]+\]|[^\s:/?#[\]@]+)(?::(\d{1,5}))?$/.exec(url);
  const port = match?.[2] === undefined ? DEFAULT_STUN_PORT : Number(match[2]);
  if (match === null || port < 1 || port > 65_535) {
    throw new NatDiscoveryError('NAT_BAD_SERVER_URL', `"${url.slice(0, 200)}" is not a stun:host[:port] URL (RFC 7064), e.g. stun:stun.example.org:3478`);
  }
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  return { host, port };
}

/** The stun: URLs of an RTCIceServer list, in order (turn: and stuns: servers are not used for discovery). */
export function stunUrlsOf(iceServers: readonly RTCIceServer[]): string[] {
  return iceServers.flatMap((server) => (typeof server.urls === 'string' ? [server.urls] : [...server.urls])).filter((url) => url.startsWith('stun:'));
}

// ---- the environment: sockets, DNS, local addresses ----

/** One UDP socket, as discovery uses it. */
export interface StunSocket {
  /** The local address and port the socket is bound to. */
  readonly local: { address: string; port: number };
  send(bytes: Uint8Array, address: string, port: number): Promise<void>;
  onMessage(listener: (bytes: Uint8Array, from: { address: string; port: number }) => void): void;
  onError(listener: (error: Error) => void): void;
  close(): void;
}

export interface NatDiscoveryEnvironment {
  openSocket(family: 4 | 6, localAddress: string | undefined): Promise<StunSocket>;
  /** The server's IP address and family for a host name. */
  resolve(host: string): Promise<{ address: string; family: 4 | 6 }>;
  /** Every address of this machine's interfaces: a mapped address among them means no NAT. */
  localAddresses(): string[];
}

async function openDgramSocket(family: 4 | 6, localAddress: string | undefined): Promise<StunSocket> {
  const socket: Socket = createSocket(family === 4 ? 'udp4' : 'udp6');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port: 0, ...(localAddress === undefined ? {} : { address: localAddress }) }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const { address, port } = socket.address();
  return {
    local: { address, port },
    send: (bytes, toAddress, toPort) =>
      new Promise<void>((resolve, reject) => socket.send(bytes, toPort, toAddress, (error) => (error ? reject(error) : resolve()))),
    onMessage: (listener) => socket.on('message', (message, rinfo) => listener(new Uint8Array(message), { address: rinfo.address, port: rinfo.port })),
    onError: (listener) => socket.on('error', listener),
    close: () => {
      try {
        socket.close();
      } catch {
        // already closed
      }
    },
  };
}

const SYSTEM_ENVIRONMENT: NatDiscoveryEnvironment = {
  openSocket: openDgramSocket,
  resolve: async (host) => {
    const family = isIP(host);
    if (family === 4 || family === 6) return { address: host, family };
    // IPv4 first: NAT classes are an IPv4 matter, and a v6 path usually has no NAT at all.
    const { address, family: found } = await lookup(host, { family: 0, order: 'ipv4first' });
    return { address, family: found === 6 ? 6 : 4 };
  },
  localAddresses: () =>
    Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .map((info) => info.address),
};

// ---- transactions ----

interface Timing {
  initialRtoMs: number;
  maxTransmissions: number;
}

interface Answer {
  response: BindingResponse;
  from: { address: string; port: number };
}

interface Pending {
  resolve(answer: Answer): void;
  reject(error: Error): void;
}

const hex = (bytes: Uint8Array): string => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

/** A socket that runs Binding transactions: retransmits, matches answers by transaction id, ignores strays. */
class StunClient {
  readonly #socket: StunSocket;
  readonly #pending = new Map<string, Pending>();
  /** Why the last datagram that was not STUN failed to parse, for the error if nothing better comes. */
  #lastJunk: string | undefined;

  constructor(socket: StunSocket) {
    this.#socket = socket;
    socket.onMessage((bytes, from) => this.#onDatagram(bytes, from));
    socket.onError((error) => {
      for (const pending of this.#pending.values()) pending.reject(new NatDiscoveryError('NAT_SOCKET_ERROR', `the UDP socket failed: ${error.message}`));
    });
  }

  get local(): { address: string; port: number } {
    return this.#socket.local;
  }

  #onDatagram(bytes: Uint8Array, from: { address: string; port: number }): void {
    const transactionId = peekTransactionId(bytes);
    const pending = transactionId === undefined ? undefined : this.#pending.get(hex(transactionId));
    if (pending === undefined) {
      // A late answer to a finished transaction, or not STUN at all: noted, never fatal.
      if (transactionId === undefined) this.#lastJunk = `${bytes.length} bytes from ${formatStunAddress(from)} that are not STUN`;
      return;
    }
    let response: BindingResponse;
    try {
      response = decodeBindingResponse(bytes);
    } catch (error) {
      // StunFormatError; anything else would be our bug, and still must not escape a socket event as a crash.
      const why = error instanceof Error ? error.message : String(error);
      pending.reject(new NatDiscoveryError('NAT_BAD_RESPONSE', `the STUN server at ${formatStunAddress(from)} sent a malformed answer: ${why}`));
      return;
    }
    pending.resolve({ response, from });
  }

  /**
   * One Binding transaction to `to`: resolves with the answer, or with undefined when none came after every
   * retransmission (which a filtering test expects when the NAT drops the answer). Rejects only on a socket error,
   * a malformed answer or `signal`.
   */
  transact(
    to: { address: string; port: number },
    change: { changeIp?: boolean; changePort?: boolean },
    timing: Timing,
    signal: AbortSignal,
  ): Promise<Answer | undefined> {
    const transactionId = new Uint8Array(randomBytes(STUN_TRANSACTION_ID_BYTES));
    const key = hex(transactionId);
    const request = encodeBindingRequest({ transactionId, ...change });
    return new Promise<Answer | undefined>((resolve, reject) => {
      let sent = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (finish: () => void): void => {
        clearTimeout(timer);
        this.#pending.delete(key);
        signal.removeEventListener('abort', onAbort);
        finish();
      };
      const onAbort = (): void => settle(() => reject(signal.reason));
      const sendOnce = (): void => {
        sent += 1;
        this.#socket.send(request, to.address, to.port).catch((error: unknown) => {
          const why = error instanceof Error ? error.message : String(error);
          settle(() => reject(new NatDiscoveryError('NAT_SERVER_UNREACHABLE', `cannot send to ${formatStunAddress(to)}: ${why}`)));
        });
        // Sends at 0, RTO, 3 RTO, ...; after the last one, a final wait of STUN_FINAL_WAIT_RTOS RTOs.
        const wait = sent < timing.maxTransmissions ? timing.initialRtoMs * 2 ** (sent - 1) : timing.initialRtoMs * STUN_FINAL_WAIT_RTOS;
        timer = setTimeout(() => (sent < timing.maxTransmissions ? sendOnce() : settle(() => resolve(undefined))), wait);
      };
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(key, { resolve: (answer) => settle(() => resolve(answer)), reject: (error) => settle(() => reject(error)) });
      sendOnce();
    });
  }

  /** What to add to a "no answer" message when junk came instead. */
  get junkNote(): string {
    return this.#lastJunk === undefined ? '' : ` (only ${this.#lastJunk} came)`;
  }

  close(): void {
    this.#socket.close();
  }
}

/** The mapped address of a success answer, or NAT_SERVER_ERROR / NAT_BAD_RESPONSE naming what is wrong. */
function mappedAddressOf(answer: Answer, test: string): string {
  const { response, from } = answer;
  if (response.error !== undefined || response.type !== StunMessageType.BINDING_SUCCESS) {
    const error = response.error === undefined ? 'no ERROR-CODE' : `${response.error.code} ${response.error.reason}`;
    throw new NatDiscoveryError('NAT_SERVER_ERROR', `the STUN server at ${formatStunAddress(from)} refused ${test} (${error}); it may not support RFC 5780`);
  }
  const mapped = response.xorMappedAddress ?? response.mappedAddress;
  if (mapped === undefined)
    throw new NatDiscoveryError('NAT_BAD_RESPONSE', `the answer to ${test} from ${formatStunAddress(from)} has no (XOR-)MAPPED-ADDRESS`);
  return formatStunAddress(mapped);
}

/** How long a transaction that gets no answer lasts (ms): sends at 0, RTO, 3 RTO, ..., then the final wait. */
export function transactionMs(initialRtoMs: number, maxTransmissions: number): number {
  return initialRtoMs * (2 ** (maxTransmissions - 1) - 1 + STUN_FINAL_WAIT_RTOS);
}

function verifyOptions(options: NatDiscoveryOptions): Required<Pick<NatDiscoveryOptions, 'timeoutMs' | 'initialRtoMs' | 'maxTransmissions'>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_NAT_DISCOVERY_TIMEOUT_MS;
  const initialRtoMs = options.initialRtoMs ?? DEFAULT_STUN_INITIAL_RTO_MS;
  const maxTransmissions = options.maxTransmissions ?? DEFAULT_STUN_MAX_TRANSMISSIONS;
  const whole = (value: number, min: number, max: number): boolean => Number.isInteger(value) && value >= min && value <= max;
  if (!whole(maxTransmissions, 1, MAX_STUN_TRANSMISSIONS)) {
    throw new NatDiscoveryError('NAT_BAD_OPTIONS', `maxTransmissions must be a whole number from 1 to ${MAX_STUN_TRANSMISSIONS}, got ${maxTransmissions}`);
  }
  if (!whole(timeoutMs, 1, MAX_NAT_DISCOVERY_TIMEOUT_MS)) {
    throw new NatDiscoveryError('NAT_BAD_OPTIONS', `timeoutMs must be a whole number of ms from 1 to ${MAX_NAT_DISCOVERY_TIMEOUT_MS}, got ${timeoutMs}`);
  }
  // A filtering test that gets no answer lasts a whole transaction; it must end before the whole discovery does.
  const oneTransactionMs = transactionMs(initialRtoMs, maxTransmissions);
  if (!whole(initialRtoMs, 1, timeoutMs) || oneTransactionMs >= timeoutMs) {
    throw new NatDiscoveryError(
      'NAT_BAD_OPTIONS',
      `initialRtoMs ${initialRtoMs} with ${maxTransmissions} transmissions makes one transaction last ${oneTransactionMs} ms, not below timeoutMs ${timeoutMs}`,
    );
  }
  if (!whole(options.server.port, 1, 65_535)) throw new NatDiscoveryError('NAT_BAD_OPTIONS', `the server port must be 1..65535, got ${options.server.port}`);
  return { timeoutMs, initialRtoMs, maxTransmissions };
}

/** Rejects with signal.reason as soon as `signal` aborts; for steps that take no signal (DNS, bind). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Measures the NAT's mapping and filtering behaviour against `options.server` and returns the class. Throws
 * NatDiscoveryError (never anything else for network trouble): the server is unreachable, lacks OTHER-ADDRESS, etc.
 */
export async function discoverNatClass(options: NatDiscoveryOptions): Promise<NatDiscoveryResult> {
  const timing = verifyOptions(options);
  const environment: NatDiscoveryEnvironment = { ...SYSTEM_ENVIRONMENT, ...options.environment };
  const started = Date.now();
  const serverText = `${options.server.host}:${options.server.port}`;
  // Not AbortSignal.timeout: its timer does not keep the process alive, so a hung step would end it silently.
  const deadline = new AbortController();
  const deadlineTimer = setTimeout(() => deadline.abort(new NatDiscoveryError('NAT_TIMEOUT', 'deadline')), timing.timeoutMs);
  const controller = new AbortController();
  const signal = AbortSignal.any([controller.signal, deadline.signal, ...(options.signal ? [options.signal] : [])]);
  const clients: StunClient[] = [];
  try {
    let server: { address: string; family: 4 | 6 };
    try {
      server = await abortable(environment.resolve(options.server.host), signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new NatDiscoveryError(
        'NAT_SERVER_NOT_FOUND',
        `cannot resolve the STUN server ${options.server.host}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const open = async (): Promise<StunClient> => {
      let socket: StunSocket;
      const opening = environment.openSocket(server.family, options.localAddress);
      try {
        socket = await abortable(opening, signal);
      } catch (error) {
        // A socket that opens after the abort is closed as soon as it does.
        opening.then((late) => late.close()).catch(() => {});
        if (signal.aborted) throw error;
        throw new NatDiscoveryError('NAT_SOCKET_ERROR', `cannot open a UDP socket: ${error instanceof Error ? error.message : String(error)}`);
      }
      const client = new StunClient(socket);
      if (signal.aborted) {
        // Opened just as the discovery ended: `finally` below has already closed the others.
        client.close();
        throw signal.reason;
      }
      clients.push(client);
      return client;
    };
    const primary = { address: server.address, port: options.server.port };

    // Mapping test I: is the server there, does it speak RFC 5780, and are we behind a NAT at all?
    const mappingClient = await open();
    const first = await mappingClient.transact(primary, {}, timing, signal);
    if (first === undefined) {
      throw new NatDiscoveryError(
        'NAT_SERVER_UNREACHABLE',
        `the STUN server ${serverText} did not answer${mappingClient.junkNote}; check the address and that UDP to it is not blocked`,
      );
    }
    const mapped1 = mappedAddressOf(first, 'a Binding request');
    const other = first.response.otherAddress;
    if (other === undefined || other.address === primary.address || other.port === primary.port) {
      const why = other === undefined ? 'sent no OTHER-ADDRESS' : `gave OTHER-ADDRESS ${formatStunAddress(other)}, which shares an address or port`;
      throw new NatDiscoveryError(
        'NAT_NO_OTHER_ADDRESS',
        `the STUN server ${serverText} ${why}: RFC 5780 tests need a server with two IP addresses and two ports (e.g. coturn with two -L addresses)`,
      );
    }

    const mappingTests = async (): Promise<NatMapping> => {
      const [mappedHost, mappedPortText] = splitAddress(mapped1);
      const localHosts = options.localAddress === undefined ? environment.localAddresses() : [options.localAddress];
      if (Number(mappedPortText) === mappingClient.local.port && localHosts.includes(mappedHost)) return 'no-nat';
      const second = await mappingClient.transact({ address: other.address, port: primary.port }, {}, timing, signal);
      if (second === undefined) {
        throw new NatDiscoveryError(
          'NAT_ALTERNATE_UNREACHABLE',
          `the STUN server's other address ${other.address}:${primary.port} did not answer${mappingClient.junkNote}`,
        );
      }
      const mapped2 = mappedAddressOf(second, 'mapping test II');
      if (mapped2 === mapped1) return 'endpoint-independent';
      const third = await mappingClient.transact(other, {}, timing, signal);
      if (third === undefined) {
        throw new NatDiscoveryError(
          'NAT_ALTERNATE_UNREACHABLE',
          `the STUN server's other address ${formatStunAddress(other)} did not answer${mappingClient.junkNote}`,
        );
      }
      return mappedAddressOf(third, 'mapping test III') === mapped2 ? 'address-dependent' : 'address-and-port-dependent';
    };

    /** One filtering test on a fresh socket: did the answer from `expectedFrom` get through the NAT? */
    const filteringTest = async (change: { changeIp?: boolean; changePort?: boolean }, expectedFrom: { address: string; port: number }): Promise<boolean> => {
      const client = await open();
      const answer = await client.transact(primary, change, timing, signal);
      if (answer === undefined) return false;
      mappedAddressOf(answer, 'a CHANGE-REQUEST');
      if (answer.from.address !== expectedFrom.address || answer.from.port !== expectedFrom.port) {
        // Answered from the wrong place, the test would wrongly read "endpoint-independent".
        throw new NatDiscoveryError(
          'NAT_CHANGE_REQUEST_IGNORED',
          `the STUN server ${serverText} answered a CHANGE-REQUEST from ${formatStunAddress(answer.from)} instead of ${formatStunAddress(expectedFrom)}: it does not support RFC 5780 filtering tests`,
        );
      }
      return true;
    };
    const filteringTests = async (): Promise<NatFiltering> => {
      const [fromOther, fromOtherPort] = await Promise.all([
        filteringTest({ changeIp: true, changePort: true }, other),
        filteringTest({ changePort: true }, { address: primary.address, port: other.port }),
      ]);
      if (fromOther) return 'endpoint-independent';
      return fromOtherPort ? 'address-dependent' : 'address-and-port-dependent';
    };

    const [mapping, filtering] = await Promise.all([mappingTests(), filteringTests()]);
    return {
      natClass: classifyNat(mapping, filtering),
      mapping,
      filtering,
      mappedAddress: mapped1,
      localAddress: formatStunAddress(mappingClient.local),
      server: formatStunAddress(primary),
      otherAddress: formatStunAddress(other),
      durationMs: Date.now() - started,
    };
  } catch (error) {
    if (deadline.signal.aborted) {
      throw new NatDiscoveryError('NAT_TIMEOUT', `NAT discovery against ${serverText} did not finish within ${timing.timeoutMs} ms`);
    }
    if (options.signal?.aborted) throw new NatDiscoveryError('NAT_ABORTED', 'NAT discovery was stopped');
    throw error;
  } finally {
    clearTimeout(deadlineTimer);
    // Stops the transactions still running (a test that failed leaves its siblings waiting), then frees the sockets.
    controller.abort(new NatDiscoveryError('NAT_ABORTED', 'NAT discovery ended'));
    for (const client of clients) client.close();
  }
}

/** `host:port` or `[v6]:port` into host and port text. */
function splitAddress(text: string): [string, string] {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon);
  return [host.startsWith('[') ? host.slice(1, -1) : host, text.slice(colon + 1)];
}

export interface NatDiscoveryFromUrlsResult extends NatDiscoveryResult {
  /** The stun: URL that answered. */
  url: string;
}

/**
 * Tries the stun: URLs in order and returns the first full discovery; all of them share one `timeoutMs` budget
 * (each try gets what is left). Throws the NatDiscoveryError of the last URL tried, its message naming every
 * failure, or NAT_BAD_SERVER_URL when the list holds no stun: URL.
 */
export async function discoverNatClassFromUrls(
  urls: readonly string[],
  options: Omit<NatDiscoveryOptions, 'server'> = {},
): Promise<NatDiscoveryFromUrlsResult> {
  const stunUrls = urls.filter((url) => url.startsWith('stun:'));
  if (stunUrls.length === 0) throw new NatDiscoveryError('NAT_BAD_SERVER_URL', 'no stun: URL to measure the NAT class with');
  const budgetMs = options.timeoutMs ?? DEFAULT_NAT_DISCOVERY_TIMEOUT_MS;
  const deadline = Date.now() + budgetMs;
  const failures: string[] = [];
  let last: NatDiscoveryError | undefined;
  for (const url of stunUrls) {
    const leftMs = deadline - Date.now();
    // A try needs room for one whole transaction (a filtering test that gets no answer lasts that long).
    if (leftMs <= transactionMs(options.initialRtoMs ?? DEFAULT_STUN_INITIAL_RTO_MS, options.maxTransmissions ?? DEFAULT_STUN_MAX_TRANSMISSIONS)) {
      last = new NatDiscoveryError('NAT_TIMEOUT', `no time left for ${url} within ${budgetMs} ms`);
      failures.push(`${url}: ${last.message}`);
      break;
    }
    try {
      const server = parseStunUrl(url);
      const result = await discoverNatClass({ ...options, server, timeoutMs: leftMs });
      return { ...result, url };
    } catch (error) {
      if (!(error instanceof NatDiscoveryError) || error.code === 'NAT_BAD_OPTIONS' || error.code === 'NAT_ABORTED') throw error;
      last = error;
      failures.push(`${url}: ${error.message}`);
    }
  }
  throw new NatDiscoveryError(last?.code ?? 'NAT_SERVER_UNREACHABLE', failures.join('; '));
}

/**
 * The class the helper and `ferry volunteer` announce: measured against the first stun: URL of `urls` that answers
 * with OTHER-ADDRESS, or 'unknown' when none does or none is given. Never throws; `log` gets exactly one line
 * (without the public address: it is nobody's business, and logs travel).
 */
export async function measureNatClassOrUnknown(
  urls: readonly string[],
  log: (line: string) => void,
  options: Omit<NatDiscoveryOptions, 'server'> = {},
): Promise<NatClass> {
  if (!urls.some((url) => url.startsWith('stun:'))) {
    log("NAT class not measured (no stun: server configured); announcing 'unknown'");
    return 'unknown';
  }
  try {
    const result = await discoverNatClassFromUrls(urls, options);
    log(`NAT class ${result.natClass} (${result.mapping} mapping, ${result.filtering} filtering; measured against ${result.url} in ${result.durationMs} ms)`);
    return result.natClass;
  } catch (error) {
    const why = error instanceof NatDiscoveryError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
    log(`NAT class unknown, announcing 'unknown': discovery failed (${why})`);
    return 'unknown';
  }
}
