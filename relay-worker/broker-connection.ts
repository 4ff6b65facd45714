/**
 * @module broker-connection
 * The volunteer's one WebSocket to the broker: says hello with the free slots, keeps the broker's exit list from
 * `welcome`, hands offers to the worker, sends answers, declines and slot changes, and reconnects with bounded
 * exponential backoff when the broker is unreachable or the socket drops. Relaying pairs do not depend on it.
 */
import { ExitListError, verifyExitList } from '../protocol/exit-list.ts';
import {
  BENCHED,
  type BrokerOffer,
  type BrokerToVolunteer,
  type ExitInfo,
  type NatClass,
  parseBrokerMessage,
  type SessionDescription,
  type VolunteerToBroker,
  WebSocketCloseCode,
} from '../protocol/signaling.ts';
import { type RelayWorkerConfig, volunteerSocketUrl } from './config.ts';
import { type RelayEnvironment, WEBSOCKET_OPEN } from './environment.ts';

/** Largest broker message accepted (characters); a welcome with many exits stays far below it. */
export const MAX_BROKER_MESSAGE_CHARS = 256 * 1024;
/** Reconnect delays are spread by up to this fraction either way, so volunteers do not return all at once. */
export const RECONNECT_JITTER_FRACTION = 0.2;

export type BrokerConnectionState = 'stopped' | 'connecting' | 'connected' | 'unreachable';

export type BrokerConnectionConfig = Pick<
  RelayWorkerConfig,
  'brokerUrl' | 'kind' | 'nat' | 'exitListKeys' | 'brokerConnectTimeoutMs' | 'brokerReconnectDelayMs' | 'brokerReconnectMaxDelayMs'
>;

export interface BrokerConnectionEvents {
  onStateChange(state: BrokerConnectionState): void;
  /** Called only while connected (after welcome). */
  onOffer(offer: BrokerOffer): void;
  /** Something went wrong that a volunteer may want to see; the connection handles it by itself. */
  onProblem(message: string): void;
}

export interface BrokerConnectionInit {
  environment: RelayEnvironment;
  config: BrokerConnectionConfig;
  /** Free slots right now, announced in every hello. */
  freeSlots(): number;
  /** Free personal slots (for pairing-link holders) right now, announced in every hello. */
  freePersonalSlots(): number;
  /** Ids of the pairing links in force, announced in every hello. */
  pairingIds(): string[];
  /** The NAT class to announce in hello: the configured one, or what a probe found. */
  natClass(): NatClass;
  events: BrokerConnectionEvents;
}

export class BrokerConnection {
  readonly socketUrl: string;
  #state: BrokerConnectionState = 'stopped';
  #socket: WebSocket | undefined;
  #exits: readonly ExitInfo[] = [];
  #natProbeUrl: string | undefined;
  #stunUrls: readonly string[] = [];
  #failures = 0;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** While unreachable: when the next attempt starts (ms since the epoch), for "retrying in N s". */
  #retryAt: number | undefined;

  constructor(private readonly init: BrokerConnectionInit) {
    this.socketUrl = volunteerSocketUrl(init.config.brokerUrl);
  }

  get state(): BrokerConnectionState {
    return this.#state;
  }

  /** While unreachable: when the next attempt starts (ms since the epoch). */
  get retryAt(): number | undefined {
    return this.#state === 'unreachable' ? this.#retryAt : undefined;
  }

  /** The NAT probe the latest welcome named, if any. */
  get natProbeUrl(): string | undefined {
    return this.#state === 'connected' ? this.#natProbeUrl : undefined;
  }

  /** The STUN servers the latest welcome named. */
  get stunUrls(): readonly string[] {
    return this.#state === 'connected' ? this.#stunUrls : [];
  }

  /** The exits of the latest welcome; empty while not connected, so no offer passes the allowlist then. */
  get exits(): readonly ExitInfo[] {
    return this.#state === 'connected' ? this.#exits : [];
  }

  start(): void {
    if (this.#state !== 'stopped') return;
    this.#setState('connecting');
    this.#connect();
  }

  stop(): void {
    if (this.#state === 'stopped') return;
    this.#clearTimers();
    const socket = this.#socket;
    this.#socket = undefined;
    this.#exits = [];
    closeQuietly(socket);
    this.#setState('stopped');
  }

  sendSlots(slots: number, personalSlots: number): boolean {
    return this.#send({ type: 'slots', slots, personalSlots });
  }

  sendNat(nat: NatClass): boolean {
    return this.#send({ type: 'nat', nat });
  }

  sendPairings(pairingIds: string[]): boolean {
    return this.#send({ type: 'pairings', pairings: pairingIds });
  }

  sendAnswer(matchId: string, answer: SessionDescription): boolean {
    return this.#send({ type: 'answer', matchId, answer });
  }

  sendDecline(matchId: string, reason: string): boolean {
    return this.#send({ type: 'decline', matchId, reason: reason.slice(0, 200) });
  }

  #send(message: VolunteerToBroker): boolean {
    const socket = this.#socket;
    if (this.#state !== 'connected' || socket === undefined || socket.readyState !== WEBSOCKET_OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  #connect(): void {
    this.#reconnectTimer = undefined;
    let socket: WebSocket;
    try {
      socket = this.init.environment.createWebSocket(this.socketUrl);
    } catch (error) {
      this.#onSocketGone(undefined, `cannot open a WebSocket to ${this.socketUrl}: ${describe(error)}`);
      return;
    }
    this.#socket = socket;
    socket.binaryType = 'arraybuffer';
    this.#connectTimer = setTimeout(() => {
      this.#onSocketGone(socket, `the broker at ${this.init.config.brokerUrl} did not answer within ${this.init.config.brokerConnectTimeoutMs} ms`);
    }, this.init.config.brokerConnectTimeoutMs);
    socket.addEventListener('open', () => {
      if (socket !== this.#socket) return;
      const { kind } = this.init.config;
      const nat = this.init.natClass();
      const hello: VolunteerToBroker = { type: 'hello', version: 1, kind, nat, slots: this.init.freeSlots() };
      const pairings = this.init.pairingIds();
      // Only volunteers with pairing links say more, so a plain hello stays what it always was.
      if (pairings.length > 0) Object.assign(hello, { personalSlots: this.init.freePersonalSlots(), pairings });
      socket.send(JSON.stringify(hello));
    });
    socket.addEventListener('message', (event: MessageEvent) => {
      if (socket === this.#socket) this.#onMessage(event.data);
    });
    // Listeners stay attached after we give up a socket (some runtimes throw on an 'error' nobody listens to);
    // the identity check makes them no-ops then.
    const onGone = () => this.#onSocketGone(socket, `lost the connection to the broker at ${this.init.config.brokerUrl}`);
    socket.addEventListener('close', (event: CloseEvent) => {
      // Benched for unanswered offers: coming straight back would only be refused (429) until the broker's
      // cooldown has passed, so this counts as a failed attempt and backs off.
      if (event.code === WebSocketCloseCode.POLICY_VIOLATION && event.reason === BENCHED) {
        this.#onSocketGone(socket, 'the broker benched this volunteer for offers it did not answer in time; retrying later', { backOff: true });
      } else onGone();
    });
    socket.addEventListener('error', onGone);
  }

  #onMessage(data: unknown): void {
    if (typeof data !== 'string') {
      this.init.events.onProblem('the broker sent a binary message; ignored');
      return;
    }
    if (data.length > MAX_BROKER_MESSAGE_CHARS) {
      this.init.events.onProblem(`the broker sent a message over ${MAX_BROKER_MESSAGE_CHARS} characters; ignored`);
      return;
    }
    let message: BrokerToVolunteer;
    try {
      message = parseBrokerMessage(JSON.parse(data));
    } catch (error) {
      this.init.events.onProblem(`the broker sent a malformed message (${describe(error)}); ignored`);
      return;
    }
    switch (message.type) {
      case 'welcome': {
        // The exits this volunteer will dial come only from a list the operator signed: a broker may choose among
        // them but cannot add one. A refused list counts as a failed connection (backoff, and the reason is shown).
        let exits: readonly ExitInfo[];
        if (message.exitList === undefined) {
          this.#onSocketGone(this.#socket, 'the broker has no exit list yet, so there is nowhere to relay to (NO_EXIT_LIST)');
          return;
        }
        try {
          exits = verifyExitList(message.exitList, this.init.config.exitListKeys, Date.now()).exits;
        } catch (error) {
          if (!(error instanceof ExitListError)) throw error;
          this.#onSocketGone(this.#socket, `${error.message} (${error.code})`);
          return;
        }
        clearTimeout(this.#connectTimer);
        this.#connectTimer = undefined;
        this.#failures = 0;
        this.#exits = Object.freeze(exits.map((exit) => Object.freeze({ ...exit })));
        this.#natProbeUrl = message.natProbeUrl;
        this.#stunUrls = Object.freeze([...(message.stunUrls ?? [])]);
        this.#setState('connected');
        return;
      }
      case 'offer':
        if (this.#state === 'connected') this.init.events.onOffer(message);
        return;
      case 'error':
        this.init.events.onProblem(`the broker reported ${message.code}: ${message.message}`);
        return;
    }
  }

  #onSocketGone(socket: WebSocket | undefined, problem: string, options: { backOff?: boolean } = {}): void {
    if (socket !== this.#socket || this.#state === 'stopped') return;
    const wasConnected = this.#state === 'connected' && options.backOff !== true;
    this.#socket = undefined;
    this.#exits = [];
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    closeQuietly(socket);
    this.init.events.onProblem(problem);
    // A drop after a welcome is often a broker restart: try again at once and say "connecting". A failed attempt
    // means the broker is unreachable for now.
    const delay = wasConnected ? 0 : this.#nextDelayMs();
    this.#failures = wasConnected ? 0 : this.#failures + 1;
    this.#retryAt = Date.now() + delay;
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
    // Unreachable again is news too: the retry time moved.
    this.#setState(wasConnected ? 'connecting' : 'unreachable', { always: !wasConnected });
  }

  #nextDelayMs(): number {
    const { brokerReconnectDelayMs: base, brokerReconnectMaxDelayMs: max } = this.init.config;
    const exponential = Math.min(max, base * 2 ** Math.min(this.#failures, 30));
    const jitter = 1 + RECONNECT_JITTER_FRACTION * (2 * Math.random() - 1);
    return Math.round(Math.min(max, exponential * jitter));
  }

  #setState(state: BrokerConnectionState, options: { always?: boolean } = {}): void {
    if (state === this.#state && options.always !== true) return;
    this.#state = state;
    this.init.events.onStateChange(state);
  }

  #clearTimers(): void {
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#reconnectTimer);
    this.#connectTimer = undefined;
    this.#reconnectTimer = undefined;
  }
}

function closeQuietly(socket: WebSocket | undefined): void {
  try {
    socket?.close(WebSocketCloseCode.NORMAL);
  } catch {
    // Already closing or closed: nothing left to release.
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
