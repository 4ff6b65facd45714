/**
 * Test fixtures for the relay worker: a minimal broker speaking protocol/signaling.ts on a real WebSocket server, real
 * exit WebSocket servers, and a real client peer (node-datachannel) that opens the 'ferry' data channel. Everything
 * listens on 127.0.0.1 only, and every wait is bounded.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { RTCPeerConnection } from 'node-datachannel/polyfill';
import { type WebSocket as ServerSocket, WebSocketServer } from 'ws';
import { LocalOperator } from '../../../harness/operator.ts';
import { withTimeout } from '../../../harness/wait.ts';
import type { SignedExitList } from '../../../protocol/exit-list.ts';
import type { RelayStatus } from '../../../protocol/relay-status.ts';
import {
  type BrokerToVolunteer,
  DATA_CHANNEL_LABEL,
  type ExitInfo,
  parseVolunteerMessage,
  type SessionDescription,
  type VolunteerToBroker,
} from '../../../protocol/signaling.ts';

/** Longest any single step of a relay test may take (ms); real steps take milliseconds here. */
export const STEP_TIMEOUT_MS = 10_000;

/** Resolves when `predicate` holds, re-checking whenever `notify` is called. */
class Condition {
  #waiters: Array<() => void> = [];
  notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
  async until(predicate: () => boolean, what: string, ms = STEP_TIMEOUT_MS): Promise<void> {
    const check = async () => {
      while (!predicate()) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    };
    await withTimeout(check(), what, ms);
  }
}

/** Records every status the worker reports. */
export class StatusLog {
  readonly all: RelayStatus[] = [];
  readonly #changed = new Condition();
  readonly onStatus = (status: RelayStatus): void => {
    this.all.push(status);
    this.#changed.notify();
  };
  get latest(): RelayStatus | undefined {
    return this.all.at(-1);
  }
  /** The first status (from index `from` on) that matches. */
  async waitFor(predicate: (status: RelayStatus) => boolean, what: string, from = 0): Promise<RelayStatus> {
    const find = () => this.all.slice(from).find(predicate);
    await this.#changed.until(() => find() !== undefined, what);
    return find() as RelayStatus;
  }
}

let nextMatch = 1;

/** A broker reduced to what a volunteer sees: the volunteer socket at /v1/volunteer, a welcome, offers on demand. */
export class TestBroker {
  readonly messages: VolunteerToBroker[] = [];
  connections = 0;
  closedConnections = 0;
  /** Indexes of messages already returned by next(). */
  readonly #taken = new Set<number>();
  #socket: ServerSocket | undefined;
  readonly #changed = new Condition();

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    readonly exits: ExitInfo[],
    /** The operator whose key volunteers of this broker pin (exitListKey). */
    readonly operator: LocalOperator,
    /** What the welcome carries; by default the operator's signature over `exits`. */
    readonly exitList: SignedExitList,
  ) {
    wss.on('connection', (socket) => {
      this.connections += 1;
      this.#socket = socket;
      socket.send(JSON.stringify({ type: 'welcome', volunteerId: `v${this.connections}`, exitList } satisfies BrokerToVolunteer));
      socket.on('message', (data, isBinary) => {
        if (isBinary) throw new Error('the volunteer sent a binary message to the broker');
        this.messages.push(parseVolunteerMessage(JSON.parse(data.toString())));
        this.#changed.notify();
      });
      socket.on('close', () => {
        this.closedConnections += 1;
        this.#changed.notify();
      });
    });
  }

  /** The key a volunteer of this broker pins. */
  get exitListKey(): string {
    return this.operator.exitListKey;
  }

  /**
   * A broker listing `exits`, signed by `options.operator` (a fresh one by default). `options.exitList` replaces
   * what the welcome carries (a hostile broker's list); `options.port` reuses a port (a broker restart).
   */
  static async start(exits: ExitInfo[], options: { port?: number; operator?: LocalOperator; exitList?: SignedExitList } = {}): Promise<TestBroker> {
    const operator = options.operator ?? new LocalOperator();
    const port = options.port ?? 0;
    const exitList = options.exitList;
    const server = createServer((_, response) => response.writeHead(404).end());
    const wss = new WebSocketServer({ server, path: '/v1/volunteer' });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return new TestBroker(server, wss, exits, operator, exitList ?? operator.signExitList(exits));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The first message not yet returned by next() that matches. */
  async next<T extends VolunteerToBroker>(predicate: (message: VolunteerToBroker) => message is T, what: string): Promise<T>;
  async next(predicate: (message: VolunteerToBroker) => boolean, what: string): Promise<VolunteerToBroker>;
  async next(predicate: (message: VolunteerToBroker) => boolean, what: string): Promise<VolunteerToBroker> {
    let found: VolunteerToBroker | undefined;
    await this.#changed.until(() => {
      const index = this.messages.findIndex((message, i) => !this.#taken.has(i) && predicate(message));
      if (index < 0) return false;
      this.#taken.add(index);
      found = this.messages[index];
      return true;
    }, what);
    return found as VolunteerToBroker;
  }

  async nextSlots(slots: number): Promise<void> {
    await this.next((m) => m.type === 'slots' && m.slots === slots, `a slots announcement of ${slots}`);
  }

  async waitForClosedConnections(count: number): Promise<void> {
    await this.#changed.until(() => this.closedConnections >= count, `${count} closed volunteer connection(s)`);
  }

  /** Hands the volunteer an offer; resolves with its answer or decline. */
  async offer(offer: SessionDescription, exit: ExitInfo, pool?: 'personal'): Promise<VolunteerToBroker & { type: 'answer' | 'decline' }> {
    const socket = this.#socket;
    if (socket === undefined) throw new Error('no volunteer is connected');
    const matchId = `m${nextMatch++}`;
    socket.send(JSON.stringify({ type: 'offer', matchId, offer, exit, ...(pool ? { pool } : {}) } satisfies BrokerToVolunteer));
    return this.next(
      (m): m is VolunteerToBroker & { type: 'answer' | 'decline' } => (m.type === 'answer' || m.type === 'decline') && m.matchId === matchId,
      `the answer to ${matchId}`,
    );
  }

  sendRaw(text: string): void {
    this.#socket?.send(text);
  }

  /** Closes the current volunteer socket as the broker would (e.g. 1008 BENCHED). */
  closeVolunteer(code: number, reason: string): void {
    this.#socket?.close(code, reason);
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await withTimeout(new Promise<void>((resolve) => this.server.close(() => resolve())), 'the test broker to close', STEP_TIMEOUT_MS);
  }
}

/** A real exit endpoint; what it does with each connection is up to the test. */
export class TestExit {
  readonly sockets: ServerSocket[] = [];
  closed = 0;
  /** Upgrades waiting for releaseUpgrades() (only with holdUpgrades). */
  readonly heldUpgrades: Array<() => void> = [];
  readonly #heldSockets: Duplex[] = [];
  readonly #changed = new Condition();

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    onConnection: (socket: ServerSocket, exit: TestExit) => void,
    holdUpgrades: boolean,
  ) {
    server.on('upgrade', (request, socket, head) => {
      const upgrade = () => wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
      if (!holdUpgrades) return upgrade();
      this.#heldSockets.push(socket);
      this.heldUpgrades.push(upgrade);
      this.#changed.notify();
    });
    wss.on('connection', (socket: ServerSocket) => {
      this.sockets.push(socket);
      socket.on('close', () => {
        this.closed += 1;
        this.#changed.notify();
      });
      onConnection(socket, this);
      this.#changed.notify();
    });
  }

  static async start(onConnection: (socket: ServerSocket, exit: TestExit) => void, options: { holdUpgrades?: boolean } = {}): Promise<TestExit> {
    const server = createServer((_, response) => response.writeHead(426).end());
    const wss = new WebSocketServer({ noServer: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TestExit(server, wss, onConnection, options.holdUpgrades === true);
  }

  static echo(options: { holdUpgrades?: boolean } = {}): Promise<TestExit> {
    return TestExit.start((socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })), options);
  }

  info(id = 'exit-1'): ExitInfo {
    // A well-formed X25519 key (32 bytes) derived from the id: the signed exit list takes only well-formed keys.
    return { id, url: `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/`, publicKey: createHash('sha256').update(id).digest('base64url') };
  }

  releaseUpgrades(): void {
    for (const upgrade of this.heldUpgrades.splice(0)) upgrade();
  }

  notify(): void {
    this.#changed.notify();
  }

  async until(predicate: () => boolean, what: string): Promise<void> {
    await this.#changed.until(predicate, what);
  }

  async close(): Promise<void> {
    for (const socket of this.#heldSockets) socket.destroy();
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await withTimeout(new Promise<void>((resolve) => this.server.close(() => resolve())), 'the test exit to close', STEP_TIMEOUT_MS);
  }
}

const openPeers = new Set<RTCPeerConnection>();

/** The test's own client peer failed locally (seen rarely with node-datachannel: "remote candidate without ICE transport"). */
export class ClientPeerError extends Error {
  override readonly name = 'ClientPeerError';
}

/** A client as the extension's offscreen document will be: one data channel 'ferry', a full (non-trickle) offer. */
export class TestClient {
  readonly received: ArrayBuffer[] = [];
  receivedBytes = 0;
  channelClosed = false;
  readonly #changed = new Condition();

  private constructor(
    readonly peer: RTCPeerConnection,
    readonly channel: RTCDataChannel,
    readonly offer: SessionDescription,
  ) {
    channel.binaryType = 'arraybuffer';
    channel.addEventListener('message', (event: MessageEvent) => {
      const data = event.data as ArrayBuffer;
      this.received.push(data);
      this.receivedBytes += data.byteLength;
      this.#changed.notify();
    });
    channel.addEventListener('close', () => {
      this.channelClosed = true;
      this.#changed.notify();
    });
    channel.addEventListener('open', () => this.#changed.notify());
  }

  static async create(label = DATA_CHANNEL_LABEL): Promise<TestClient> {
    const peer = new RTCPeerConnection({ iceServers: [] }) as unknown as RTCPeerConnection;
    openPeers.add(peer);
    const channel = peer.createDataChannel(label);
    await peer.setLocalDescription(await peer.createOffer());
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = () => peer.iceGatheringState === 'complete' && resolve();
        peer.addEventListener('icegatheringstatechange', check);
        check();
      }),
      'the client ICE gathering',
      STEP_TIMEOUT_MS,
    );
    const local = peer.localDescription;
    if (local === null) throw new Error('no local offer');
    return new TestClient(peer, channel, { type: 'offer', sdp: local.sdp });
  }

  async accept(answer: SessionDescription): Promise<void> {
    try {
      await this.peer.setRemoteDescription(answer);
    } catch (error) {
      throw new ClientPeerError(
        `the test client could not apply the answer: ${(error as Error).message} ` +
          `(connection ${this.peer.connectionState}, ice ${this.peer.iceConnectionState}, gathering ${this.peer.iceGatheringState})`,
      );
    }
    await this.#changed.until(() => this.channel.readyState === 'open', 'the client data channel to open');
  }

  async until(predicate: () => boolean, what: string): Promise<void> {
    await this.#changed.until(predicate, what);
  }

  close(): void {
    this.peer.close();
    openPeers.delete(this.peer);
  }
}

/** Closes every client peer a test left open (call from after()). */
export function closeAllClientPeers(): void {
  for (const peer of openPeers) peer.close();
  openPeers.clear();
}

/**
 * A client connected through the volunteer to `exitInfo`. A rare local failure of the test's own node-datachannel
 * client (never of the volunteer) gets one fresh client; the volunteer frees the abandoned slot by its own timeout,
 * so with maxClients=1 such a failure still fails the test.
 */
export async function connectTestClient(broker: TestBroker, exitInfo: ExitInfo, attemptsLeft = 2): Promise<TestClient> {
  const client = await TestClient.create();
  const reply = await broker.offer(client.offer, exitInfo);
  if (reply.type !== 'answer') {
    client.close();
    throw new Error(`expected an answer, got ${JSON.stringify(reply)}`);
  }
  try {
    await client.accept(reply.answer);
  } catch (error) {
    client.close();
    if (!(error instanceof ClientPeerError) || attemptsLeft <= 1) throw error;
    return connectTestClient(broker, exitInfo, attemptsLeft - 1);
  }
  return client;
}
