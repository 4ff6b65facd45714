/**
 * @module volunteer-hub
 * The volunteers' side of the broker: one WebSocket per volunteer at /v1/volunteer, speaking the JSON messages of
 * protocol/signaling.ts. It keeps the live sockets (the store keeps only ids and numbers), turns `hello`/`slots`
 * into store updates, hands `answer`/`decline` to the pending matches, and sends offers.
 *
 * Protocol errors close the socket after an `error` message: 1008 for bad JSON or shape, binary data, anything
 * before `hello`, or a second `hello`; 1009 for an oversize message (ws enforces maxPayload and closes by itself).
 * A volunteer the matchmaker benches (too many offers in a row timed out or declined) gets `error` BENCHED and 1008
 * too, and its address may open no new volunteer socket for benchedAddressCooldownMs.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import { closeOrCut } from '../protocol/adapters/ws-shutdown.ts';
import { AddressHoldings } from '../protocol/address-budget.ts';
import type { SignedExitList } from '../protocol/exit-list.ts';
import type { BrokerOffer, BrokerToVolunteer, VolunteerHello, VolunteerToBroker } from '../protocol/signaling.ts';
import { BENCHED, parseVolunteerMessage, SignalingFormatError, WebSocketCloseCode } from '../protocol/signaling.ts';
import { AddressCooldown } from './address-cooldown.ts';
import type { CapacitySignal } from './capacity-signal.ts';
import type { BrokerLogEvent } from './config.ts';
import type { BrokerCounters } from './metrics.ts';
import type { MatchOutcome, PendingMatches } from './pending-matches.ts';
import type { VolunteerStore } from './store.ts';
import type { VolunteerRanking } from './volunteer-ranking.ts';

/** On broker shutdown, how long volunteers get to finish the close handshake before their sockets are cut (ms). */
const CLOSE_GRACE_MS = 1_000;
/** Most addresses cooling down after a bench remembered at once (a forgotten one may simply connect again). */
const MAX_COOLING_ADDRESSES = 100_000;
/** The `error` code and close reason a benched volunteer gets. */
export const BENCHED_ERROR_CODE = BENCHED;

export interface VolunteerHubOptions {
  /** This broker instance's id, recorded in the store as the owner of the volunteers it holds. */
  brokerId: string;
  /** The network key (network-key.ts) of a volunteer's address, or undefined when the same-network rule does not apply. */
  networkOf: (address: string) => string | undefined;
  /** Sent in every welcome as it is; undefined when the broker has no exit list. */
  exitList: SignedExitList | undefined;
  /** Named in every welcome when set (BrokerConfig.natProbeUrl, stunUrls). */
  natProbeUrl: string | undefined;
  stunUrls: readonly string[];
  maxMessageBytes: number;
  maxVolunteers: number;
  maxVolunteersPerAddress: number;
  heartbeatMs: number;
  helloTimeoutMs: number;
  benchedAddressCooldownMs: number;
  store: VolunteerStore;
  pendingMatches: PendingMatches;
  ranking: VolunteerRanking;
  capacity: CapacitySignal;
  counters: BrokerCounters;
  log: (event: BrokerLogEvent) => void;
}

interface VolunteerConnection {
  socket: WebSocket;
  /** The peer's address, kept only for its network key and to start its cooldown if it is benched; never logged. */
  address: string;
  /** Set by `hello`; undefined until then. */
  volunteerId: string | undefined;
  /** Cleared on each ping, set by the pong; still clear at the next beat means the peer is gone. */
  answeredLastPing: boolean;
  helloTimer: NodeJS.Timeout | undefined;
  /** Store writes for this volunteer run one after another, so `slots` never overtakes `hello`. */
  storeQueue: Promise<void>;
}

/** What a volunteer socket emits, handled by one function per event for all sockets (see SocketListeners). */
interface SocketListeners {
  pong(this: WebSocket): void;
  message(this: WebSocket, data: RawData, isBinary: boolean): void;
  error(this: WebSocket, error: Error & { code?: string }): void;
  close(this: WebSocket): void;
}

export class VolunteerHub {
  readonly #options: VolunteerHubOptions;
  readonly #server: WebSocketServer;
  readonly #connections = new Set<VolunteerConnection>();
  /**
   * The connection of each volunteer socket, for the listeners every socket shares. An idle volunteer costs the broker
   * what its socket and these few entries cost: per-socket closures and once() wrappers were measured at about a
   * tenth of that (bench/network.ts, docs/benchmarks.md), so the listeners are shared and look the connection up.
   */
  readonly #connectionOf = new WeakMap<WebSocket, VolunteerConnection>();
  readonly #listeners: SocketListeners;
  readonly #byVolunteerId = new Map<string, VolunteerConnection>();
  readonly #heartbeat: NodeJS.Timeout;
  /** Volunteer sockets per address. */
  readonly #perAddress: AddressHoldings;
  /** Addresses whose volunteer was just benched. */
  readonly #cooling: AddressCooldown;

  constructor(options: VolunteerHubOptions) {
    this.#options = options;
    // clientTracking off: the hub keeps its own set, and ws's would add a Set entry and a close listener per socket.
    this.#server = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    this.#perAddress = new AddressHoldings(options.maxVolunteersPerAddress);
    this.#cooling = new AddressCooldown({ cooldownMs: options.benchedAddressCooldownMs, maxTrackedAddresses: MAX_COOLING_ADDRESSES });
    this.#heartbeat = setInterval(() => this.#beat(), options.heartbeatMs);
    this.#heartbeat.unref();
    const connectionOf = this.#connectionOf;
    const hub = this;
    this.#listeners = {
      pong() {
        const connection = connectionOf.get(this);
        if (connection) connection.answeredLastPing = true;
      },
      message(data, isBinary) {
        const connection = connectionOf.get(this);
        if (connection) hub.#onMessage(connection, data, isBinary);
      },
      error(error) {
        // ws has already started closing (1009 for maxPayload, 1007 for bad UTF-8); the volunteer is gone as of now.
        hub.#options.counters.volunteerProtocolErrors += 1;
        hub.#options.log({ level: 'info', message: `volunteer socket error: ${error.code ?? error.message}` });
        const connection = connectionOf.get(this);
        if (connection) void hub.#forget(connection);
      },
      close() {
        const connection = connectionOf.get(this);
        if (connection) void hub.#forget(connection);
      },
    };
  }

  /**
   * Takes over an HTTP upgrade for /v1/volunteer. Refuses with 503 when maxVolunteers sockets are open, and with 429
   * when this address already holds maxVolunteersPerAddress or is cooling down after a bench (the address is
   * counted, never logged).
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#connections.size >= this.#options.maxVolunteers) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const address = request.socket.remoteAddress ?? 'unknown';
    const coolingSeconds = this.#cooling.secondsLeft(address);
    if (coolingSeconds > 0) {
      this.#options.counters.rateLimited += 1;
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: ${coolingSeconds}\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    if (!this.#perAddress.enter(address)) {
      this.#options.counters.rateLimited += 1;
      socket.end('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 60\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    // The raw socket closes exactly once however it ends (upgrade refused, close handshake, cut), always before or
    // with its WebSocket: one plain listener frees the address's count.
    socket.on('close', () => this.#perAddress.leave(address));
    this.#server.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, address));
  }

  /** Sends an offer to a connected volunteer. False when it is not connected here (anymore). */
  sendOffer(volunteerId: string, offer: BrokerOffer): boolean {
    const connection = this.#byVolunteerId.get(volunteerId);
    if (!connection || connection.socket.readyState !== connection.socket.OPEN) return false;
    this.#send(connection, offer);
    return true;
  }

  /**
   * Benches a volunteer: tells it why (`error` BENCHED with `message`), closes its socket (1008), forgets it for
   * matching at once, and cools its address down. Unknown or already closed volunteers are ignored.
   */
  bench(volunteerId: string, message: string): void {
    const connection = this.#byVolunteerId.get(volunteerId);
    if (!connection || connection.socket.readyState !== connection.socket.OPEN) return;
    this.#cooling.start(connection.address);
    const cooldownS = Math.ceil(this.#options.benchedAddressCooldownMs / 1_000);
    const wait = cooldownS > 0 ? `; this address may connect a volunteer again in ${cooldownS} s` : '';
    this.#send(connection, { type: 'error', code: BENCHED_ERROR_CODE, message: `${message}${wait}` });
    connection.socket.close(WebSocketCloseCode.POLICY_VIOLATION, BENCHED_ERROR_CODE);
    void this.#forget(connection);
  }

  /** Closes every volunteer socket (1001) and waits until the store has forgotten them. */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    const connections = [...this.#connections];
    const socketsClosed = connections.map((connection) => closeOrCut(connection.socket, WebSocketCloseCode.GOING_AWAY, 'broker shutting down', CLOSE_GRACE_MS));
    await Promise.all([...socketsClosed, ...connections.map((connection) => this.#forget(connection))]);
    this.#server.close();
  }

  #accept(socket: WebSocket, address: string): void {
    const connection: VolunteerConnection = {
      socket,
      address,
      volunteerId: undefined,
      answeredLastPing: true,
      helloTimer: undefined,
      storeQueue: Promise.resolve(),
    };
    this.#connections.add(connection);
    this.#connectionOf.set(socket, connection);
    connection.helloTimer = setTimeout(
      () =>
        this.#refuse(connection, 'HELLO_TIMEOUT', `send "hello" within ${this.#options.helloTimeoutMs} ms of connecting`, WebSocketCloseCode.POLICY_VIOLATION),
      this.#options.helloTimeoutMs,
    );
    socket.on('pong', this.#listeners.pong);
    socket.on('message', this.#listeners.message);
    socket.on('error', this.#listeners.error);
    socket.on('close', this.#listeners.close);
  }

  #onMessage(connection: VolunteerConnection, data: RawData, isBinary: boolean): void {
    // Frames that arrive while closing (after a refusal) are ignored.
    if (connection.socket.readyState !== connection.socket.OPEN) return;
    if (isBinary) {
      this.#refuse(connection, 'BINARY_NOT_ALLOWED', 'the broker takes JSON text messages only', WebSocketCloseCode.POLICY_VIOLATION);
      return;
    }
    let message: VolunteerToBroker;
    try {
      message = parseVolunteerMessage(JSON.parse(rawDataToText(data)));
    } catch (error) {
      const detail = error instanceof SignalingFormatError ? error.message : 'the message is not valid JSON';
      this.#refuse(connection, 'BAD_MESSAGE', detail, WebSocketCloseCode.POLICY_VIOLATION);
      return;
    }
    if (connection.volunteerId === undefined) {
      if (message.type !== 'hello') {
        this.#refuse(connection, 'HELLO_FIRST', `send "hello" before "${message.type}"`, WebSocketCloseCode.POLICY_VIOLATION);
        return;
      }
      this.#onHello(connection, message);
      return;
    }
    const volunteerId = connection.volunteerId;
    switch (message.type) {
      case 'hello':
        this.#refuse(connection, 'ALREADY_HELLO', '"hello" may be sent only once', WebSocketCloseCode.POLICY_VIOLATION);
        return;
      case 'slots':
        this.#queueStoreWrite(connection, async () => {
          await this.#options.store.updateSlots(volunteerId, message.slots, message.personalSlots);
          this.#options.capacity.changed();
        });
        return;
      case 'nat':
        this.#queueStoreWrite(connection, async () => {
          await this.#options.store.updateNat(volunteerId, message.nat);
          this.#options.capacity.changed();
        });
        return;
      case 'pairings':
        this.#queueStoreWrite(connection, async () => {
          await this.#options.store.updatePairings(volunteerId, message.pairings);
          this.#options.capacity.changed();
        });
        return;
      case 'answer':
        this.#onReply(connection, message.matchId, { kind: 'answered', answer: message.answer });
        return;
      case 'decline':
        this.#options.counters.declines += 1;
        this.#onReply(connection, message.matchId, { kind: 'declined', reason: message.reason });
        return;
    }
  }

  #onHello(connection: VolunteerConnection, hello: VolunteerHello): void {
    clearTimeout(connection.helloTimer);
    connection.helloTimer = undefined;
    const volunteerId = randomUUID();
    connection.volunteerId = volunteerId;
    const score = this.#options.ranking.admit(volunteerId);
    this.#queueStoreWrite(connection, async () => {
      const network = this.#options.networkOf(connection.address);
      await this.#options.store.addVolunteer({
        id: volunteerId,
        ownerId: this.#options.brokerId,
        kind: hello.kind,
        nat: hello.nat,
        network,
        slots: hello.slots,
        personalSlots: hello.personalSlots ?? 0,
        pairingIds: hello.pairings ?? [],
        score,
      });
      // Reachable for offers only once the store knows it, so a matched id always has a socket here.
      if (connection.socket.readyState !== connection.socket.OPEN) return;
      this.#byVolunteerId.set(volunteerId, connection);
      const exitList = this.#options.exitList;
      const { natProbeUrl, stunUrls } = this.#options;
      this.#send(connection, {
        type: 'welcome',
        volunteerId,
        ...(exitList === undefined ? {} : { exitList }),
        ...(natProbeUrl === undefined ? {} : { natProbeUrl }),
        ...(stunUrls.length === 0 ? {} : { stunUrls: [...stunUrls] }),
      });
      this.#options.capacity.changed();
    });
  }

  #onReply(connection: VolunteerConnection, matchId: string, outcome: MatchOutcome): void {
    const settled = this.#options.pendingMatches.settleFromVolunteer(connection.volunteerId ?? '', matchId, outcome);
    if (!settled && outcome.kind === 'answered') {
      // Not fatal: the client gave up or the match went elsewhere. Telling the volunteer lets it free its slot.
      this.#send(connection, { type: 'error', code: 'MATCH_EXPIRED', message: `match "${matchId.slice(0, 128)}" is over; close its peer connection` });
    }
  }

  #queueStoreWrite(connection: VolunteerConnection, write: () => Promise<void>): void {
    connection.storeQueue = connection.storeQueue.then(write).catch((error: unknown) => {
      this.#options.log({ level: 'error', message: `volunteer store write failed: ${error instanceof Error ? error.message : String(error)}` });
    });
  }

  /** Sends an `error` message, then closes. */
  #refuse(connection: VolunteerConnection, code: string, message: string, closeCode: number): void {
    this.#options.counters.volunteerProtocolErrors += 1;
    if (connection.socket.readyState !== connection.socket.OPEN) return;
    this.#send(connection, { type: 'error', code, message });
    connection.socket.close(closeCode, code);
    // Gone for matching from this moment, not from whenever the close handshake ends.
    void this.#forget(connection);
  }

  #send(connection: VolunteerConnection, message: BrokerToVolunteer): void {
    connection.socket.send(JSON.stringify(message));
  }

  /** Drops a volunteer everywhere: fails its matches at once, then removes it from the store. Idempotent. */
  #forget(connection: VolunteerConnection): Promise<void> {
    if (!this.#connections.delete(connection)) return connection.storeQueue;
    clearTimeout(connection.helloTimer);
    const volunteerId = connection.volunteerId;
    if (volunteerId === undefined) return connection.storeQueue;
    this.#byVolunteerId.delete(volunteerId);
    this.#options.ranking.forget(volunteerId);
    this.#options.pendingMatches.failVolunteer(volunteerId);
    this.#queueStoreWrite(connection, async () => {
      await this.#options.store.removeVolunteer(volunteerId);
      // Clients queued for this volunteer look again: another may suit them, or none (503 at once, not at their deadline).
      this.#options.capacity.changed();
    });
    return connection.storeQueue;
  }

  #beat(): void {
    for (const connection of this.#connections) {
      if (!connection.answeredLastPing) {
        void this.#forget(connection);
        connection.socket.terminate();
        continue;
      }
      connection.answeredLastPing = false;
      connection.socket.ping();
    }
  }
}

function rawDataToText(data: RawData): string {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
  return new TextDecoder('utf-8', { fatal: true }).decode(buffer);
}
