/**
 * @module relay-worker
 * A volunteer: keeps a connection to the broker, accepts up to maxClients clients, relays each to the exit its offer
 * names (only exits on the broker's list), announces free slots after every change, and reports an honest status.
 */

import { NAT_PROBE_RESULT_LIFETIME_MS } from '../protocol/nat-probe.ts';
import { createPairingToken, pairingIdOf } from '../protocol/pairing.ts';
import type { PauseReason, RelayState, RelayStatus } from '../protocol/relay-status.ts';
import type { BrokerOffer, SessionDescription } from '../protocol/signaling.ts';
import { BrokerConnection, type BrokerConnectionState } from './broker-connection.ts';
import type { RelayWorkerConfig } from './config.ts';
import type { RelayEnvironment } from './environment.ts';
import { ExitRefusedError, verifyOfferedExit } from './exit-allowlist.ts';
import { iceUfragOf } from './ice-ufrag.ts';
import { MonthlyDataCap, type UsageStore } from './monthly-cap.ts';
import { NatProbeError, probeNatClass } from './nat-probe-client.ts';

/** Tries of the NAT probe when this runtime's own WebRTC fails (not the probe's refusal), and the pause before each retry, growing. */
const NAT_PROBE_LOCAL_ATTEMPTS = 3;
const NAT_PROBE_LOCAL_RETRY_MS = 250;

import { RelayRateLimit } from './rate-limit.ts';
import { RelayPair, type RelayPairCloseReason } from './relay-pair.ts';
import type { SelfCheckResult } from './self-check.ts';

/** While bytes flow, the status callback runs at most this often for traffic alone (ms). State changes go at once. */
export const TRAFFIC_STATUS_INTERVAL_MS = 1_000;

/** Pair endings worth showing the volunteer; the others are the normal end of someone's visit. */
const NOTEWORTHY_CLOSE_REASONS: ReadonlySet<RelayPairCloseReason> = new Set([
  'exit-unreachable',
  'protocol-violation',
  'buffer-limit',
  'send-failed',
  'answer-failed',
]);

/** Which of the volunteer's slots a client holds: anyone's, or one kept for its pairing links. */
type SlotPool = 'common' | 'personal';

export interface RelayWorkerInit {
  config: Readonly<RelayWorkerConfig>;
  environment: RelayEnvironment;
  /** Called on every change of state or clients, and at most every TRAFFIC_STATUS_INTERVAL_MS for traffic. */
  onStatus?: (status: RelayStatus) => void;
  /** Keeps the monthly data cap's count between runs (monthly-cap.ts); without it the count starts at each run. */
  usageStore?: UsageStore;
  /** The clock of the monthly cap (ms since the epoch); tests move it. */
  now?: () => number;
}

/**
 * Least time between two saves of the monthly count while bytes flow (ms): a file write or a chrome.storage write
 * each time; a crash loses at most this much of the count. Pausing and stopping save at once.
 */
const USAGE_SAVE_INTERVAL_MS = 30_000;
/** A pause the device asks for, not a limit the volunteer's usage reached. */
export type DevicePauseReason = Exclude<PauseReason, 'monthly-cap'>;

/** What a device pause says in the status (English; the shells show their own words by pauseReason). */
const DEVICE_PAUSE_WORDING: Readonly<Record<DevicePauseReason, string>> = {
  battery: 'the device runs on battery',
  metered: 'the connection is metered',
};

/** Longest single wait while paused (ms): the end of the month is checked again at least this often. */
const PAUSE_RECHECK_MS = 60 * 60_000;

export class RelayWorker {
  #broker: BrokerConnection | undefined;
  /**
   * Every pair holding a slot, from the offer until it closes: which of its slots it holds, and whether its answer
   * has gone to the broker (see #announceSlots for why that matters).
   */
  readonly #pairs = new Map<RelayPair, { pool: SlotPool; answered: boolean }>();
  /** Tokens of the pairing links in force (config.pairingTokens, then setPairingTokens). */
  /** The one-off link of a running self-check, and the ICE username fragments of its offers. */
  #checkToken: string | undefined;
  readonly #checkOfferUfrags = new Set<string>();
  #pairingTokens: readonly string[];
  #clientsNow = 0;
  #clientsTotal = 0;
  #bytesClientToExit = 0;
  #bytesExitToClient = 0;
  /** A pause the device asked for (pauseForDevice); the monthly cap's is #paused. */
  #devicePause: DevicePauseReason | undefined;
  #lastError: string | undefined;
  #trafficStatusTimer: ReturnType<typeof setTimeout> | undefined;
  #lastReported: RelayStatus | undefined;
  /** The NAT class the probe found, and when (Date.now()); reused until NAT_PROBE_RESULT_LIFETIME_MS passes. */
  #probed: { nat: 'unrestricted' | 'restricted'; at: number } | undefined;
  #probing = false;
  /** The bandwidth cap every pair shares; undefined without one. */
  readonly #rateLimit: RelayRateLimit | undefined;
  /** The monthly data cap; undefined without one. */
  readonly #monthlyCap: MonthlyDataCap | undefined;
  /** Between start() and stop(). */
  #running = false;
  /** While a limit holds the volunteer: which, and until when. */
  #paused: { by: string; until: number } | undefined;
  #resumeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly init: RelayWorkerInit) {
    this.#pairingTokens = init.config.pairingTokens;
    this.#rateLimit = init.config.maxBytesPerSecond > 0 ? new RelayRateLimit(init.config.maxBytesPerSecond) : undefined;
    this.#monthlyCap =
      init.config.monthlyDataCapBytes > 0 ? new MonthlyDataCap(init.config.monthlyDataCapBytes, init.usageStore, init.now ?? (() => Date.now())) : undefined;
  }

  get status(): RelayStatus {
    const status: RelayStatus = {
      state: this.#state(),
      clientsNow: this.#clientsNow,
      clientsTotal: this.#clientsTotal,
      bytesClientToExit: this.#bytesClientToExit,
      bytesExitToClient: this.#bytesExitToClient,
    };
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    if (this.#paused !== undefined) {
      status.pausedBy = this.#paused.by;
      status.pausedUntil = this.#paused.until;
      status.pauseReason = 'monthly-cap';
    } else if (this.#running && this.#devicePause !== undefined) {
      status.pausedBy = DEVICE_PAUSE_WORDING[this.#devicePause];
      status.pauseReason = this.#devicePause;
    }
    const retryAt = this.#broker?.retryAt;
    if (status.state === 'broker-unreachable' && retryAt !== undefined) status.retryAt = retryAt;
    return status;
  }

  /**
   * The device asks for a pause (on battery, on a metered connection: the shell watches, device-conditions.ts) or
   * lifts it (undefined). Pausing leaves the broker and closes every pair, as the monthly cap does; lifting it
   * connects again unless the monthly cap still holds.
   */
  pauseForDevice(reason: DevicePauseReason | undefined): void {
    if (reason === this.#devicePause) return;
    this.#devicePause = reason;
    if (this.#running && this.#paused === undefined) {
      if (reason !== undefined) this.#disconnect('limit', `paused: ${DEVICE_PAUSE_WORDING[reason]}`);
      else if (this.#broker === undefined) this.#connect();
    }
    this.#report();
  }

  /** Free slots for anyone. */
  get freeSlots(): number {
    return Math.max(0, this.init.config.maxClients - this.#holding('common'));
  }

  /** Free slots for holders of this volunteer's pairing links; 0 without any link. */
  get freePersonalSlots(): number {
    if (this.#allPairingTokens().length === 0) return 0;
    return Math.max(0, this.init.config.maxPersonalClients - this.#holding('personal'));
  }

  /**
   * Replaces the pairing links in force (a new one made, one revoked) and tells the broker at once. Throws
   * PairingFormatError for a malformed token. Clients already relayed stay.
   */
  setPairingTokens(tokens: readonly string[]): void {
    tokens.forEach(pairingIdOf);
    this.#pairingTokens = [...tokens];
    this.#sendPairings();
  }

  /** The person's links and, during a self-check, its one-off link. */
  #allPairingTokens(): string[] {
    return this.#checkToken === undefined ? [...this.#pairingTokens] : [...this.#pairingTokens, this.#checkToken];
  }

  #sendPairings(): void {
    this.#broker?.sendPairings(this.#allPairingTokens().map(pairingIdOf));
    this.#announceSlots();
  }

  /**
   * "Am I helping?": checks this volunteer end to end as a client reaches it (self-check.ts): the broker, a data
   * channel through this volunteer, and the exit's answer through it. The check is not counted as someone helped.
   */
  async selfCheck(): Promise<SelfCheckResult> {
    const broker = this.#broker;
    if (!this.#running) return { ok: false, failed: 'broker', detail: 'the volunteer is not running' };
    if (this.#state() === 'paused') return { ok: false, failed: 'broker', detail: `paused: ${this.status.pausedBy ?? 'a limit you set'}` };
    if (broker === undefined || broker.state !== 'connected') {
      return { ok: false, failed: 'broker', detail: this.#lastError ?? 'not connected to the broker yet' };
    }
    const exit = broker.exits[0];
    if (exit === undefined) return { ok: false, failed: 'exit', detail: 'the broker lists no exit' };
    if (this.init.config.maxPersonalClients === 0) {
      return { ok: false, failed: 'data-channel', detail: 'this volunteer keeps no slot for links (maxPersonalClients is 0), which the check uses' };
    }
    if (this.#checkToken !== undefined) return { ok: false, failed: 'data-channel', detail: 'a check is already running' };
    this.#checkToken = createPairingToken();
    this.#sendPairings();
    try {
      // Loaded on demand: the check speaks the client's protocol (Noise, ChaCha20), which a widget that never checks
      // should not download (the widget's size budget).
      const { runSelfCheck } = await import('./self-check.ts');
      return await runSelfCheck({
        environment: this.init.environment,
        brokerUrl: this.init.config.brokerUrl,
        exit,
        iceServers: this.#iceServers(),
        nat: this.#freshProbe() ?? this.init.config.nat,
        pairingToken: this.#checkToken,
        expectOffer: (ufrag) => this.#checkOfferUfrags.add(ufrag),
      });
    } finally {
      this.#checkToken = undefined;
      this.#checkOfferUfrags.clear();
      this.#sendPairings();
    }
  }

  /** Connects to the broker and starts accepting clients (first checking the monthly cap). Does nothing if already started. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const cap = this.#monthlyCap;
    if (cap === undefined) {
      if (this.#devicePause === undefined) this.#connect();
      else this.#report();
      return;
    }
    this.#report();
    void cap.restore().then(() => {
      if (!this.#running || this.#broker !== undefined || this.#paused !== undefined) return;
      if (cap.reached) this.#pause();
      else if (this.#devicePause === undefined) this.#connect();
    });
  }

  #connect(): void {
    this.#broker = new BrokerConnection({
      environment: this.init.environment,
      config: this.init.config,
      freeSlots: () => this.#announced('common'),
      freePersonalSlots: () => this.#announced('personal'),
      pairingIds: () => this.#allPairingTokens().map(pairingIdOf),
      natClass: () => this.#freshProbe() ?? this.init.config.nat,
      events: {
        onStateChange: (state) => this.#onBrokerState(state),
        onOffer: (offer) => void this.#onOffer(offer),
        onProblem: (message) => {
          this.#lastError = message;
          this.#report();
        },
      },
    });
    this.#broker.start();
    this.#report();
  }

  /** Closes every pair and the broker connection. The worker may be started again; counters are kept. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#paused = undefined;
    clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
    this.#disconnect('stopped', 'the volunteer stopped relaying');
    clearTimeout(this.#trafficStatusTimer);
    this.#trafficStatusTimer = undefined;
    void this.#monthlyCap?.flush();
    this.#report();
  }

  /** Leaves the broker and closes every pair. */
  #disconnect(reason: 'stopped' | 'limit', detail: string): void {
    const broker = this.#broker;
    this.#broker = undefined;
    broker?.stop();
    for (const pair of [...this.#pairs.keys()]) pair.close(reason, detail);
  }

  /**
   * The monthly cap is used up: leave the broker, close every pair (their clients resume through other volunteers)
   * and wait for the month to end.
   */
  #pause(): void {
    const cap = this.#monthlyCap;
    if (cap === undefined || this.#paused !== undefined) return;
    const until = cap.resetsAt;
    this.#paused = { by: `the monthly data cap (${cap.capBytes} bytes) is used up until ${new Date(until).toISOString().slice(0, 10)}`, until };
    this.#disconnect('limit', 'the monthly data cap is used up');
    void cap.flush();
    this.#waitForResume();
    this.#report();
  }

  #waitForResume(): void {
    const paused = this.#paused;
    if (paused === undefined) return;
    const now = (this.init.now ?? Date.now)();
    if (now >= paused.until && this.#monthlyCap?.reached !== true) {
      this.#paused = undefined;
      if (this.#devicePause === undefined) this.#connect();
      else this.#report();
      return;
    }
    this.#resumeTimer = setTimeout(() => this.#waitForResume(), Math.min(PAUSE_RECHECK_MS, Math.max(1_000, paused.until - now)));
  }

  #state(): RelayState {
    if (!this.#running) return 'stopped';
    if (this.#paused !== undefined || this.#devicePause !== undefined) return 'paused';
    const broker = this.#broker;
    if (broker === undefined) return 'connecting';
    if (this.#clientsNow > 0) return 'relaying';
    switch (broker.state) {
      case 'connected':
        return 'waiting';
      case 'unreachable':
        return 'broker-unreachable';
      default:
        return 'connecting';
    }
  }

  #onBrokerState(state: BrokerConnectionState): void {
    // A fresh welcome means earlier broker trouble is over; keep other problems visible.
    if (state === 'connected') {
      this.#lastError = undefined;
      void this.#learnNatClass();
    }
    this.#report();
  }

  /**
   * A volunteer with no measured NAT class probes it where the broker says (protocol/nat-probe.ts) and tells the
   * broker, which then matches it only to clients it can reach. Once an hour at most; a failed probe changes nothing.
   */
  async #learnNatClass(): Promise<void> {
    const broker = this.#broker;
    const probeUrl = broker?.natProbeUrl;
    if (broker === undefined || probeUrl === undefined || this.init.config.nat !== 'unknown' || this.#probing) return;
    const fresh = this.#freshProbe();
    if (fresh !== undefined) {
      broker.sendNat(fresh);
      return;
    }
    this.#probing = true;
    try {
      const probe = () => probeNatClass(this.init.environment, { probeUrl, iceServers: this.#iceServers() });
      // This runtime's own WebRTC failing (libdatachannel under load: "Got a remote candidate without ICE transport")
      // says nothing of the network: a few more tries, each with a new peer connection, a moment apart. A refusing
      // probe (NatProbeError) is not retried.
      let nat: 'unrestricted' | 'restricted' | undefined;
      for (let attempt = 1; nat === undefined; attempt++) {
        try {
          nat = await probe();
        } catch (error) {
          if (error instanceof NatProbeError || attempt >= NAT_PROBE_LOCAL_ATTEMPTS || this.#broker !== broker) throw error;
          await new Promise((resolve) => setTimeout(resolve, NAT_PROBE_LOCAL_RETRY_MS * attempt));
        }
      }
      this.#probed = { nat, at: Date.now() };
      if (this.#broker === broker) broker.sendNat(nat);
    } catch (error) {
      this.#lastError = `could not learn this network's NAT class: ${error instanceof Error ? error.message : String(error)}`;
      this.#report();
    } finally {
      this.#probing = false;
    }
  }

  /** The class the last probe found, while it is younger than NAT_PROBE_RESULT_LIFETIME_MS. */
  #freshProbe(): 'unrestricted' | 'restricted' | undefined {
    return this.#probed !== undefined && Date.now() - this.#probed.at < NAT_PROBE_RESULT_LIFETIME_MS ? this.#probed.nat : undefined;
  }

  /** The configured ICE servers and the STUN servers the broker named. */
  #iceServers(): RTCIceServer[] {
    const stunUrls = this.#broker?.stunUrls ?? [];
    return stunUrls.length === 0 ? [...this.init.config.iceServers] : [...this.init.config.iceServers, { urls: [...stunUrls] }];
  }

  async #onOffer(offer: BrokerOffer): Promise<void> {
    const broker = this.#broker;
    if (broker === undefined) return;
    const pool: SlotPool = offer.pool ?? 'common';
    if ((pool === 'personal' ? this.freePersonalSlots : this.freeSlots) === 0) {
      broker.sendDecline(offer.matchId, pool === 'personal' ? 'no free personal slot' : 'no free slot');
      return;
    }
    let exitUrl: URL;
    try {
      exitUrl = verifyOfferedExit(offer.exit, broker.exits);
    } catch (error) {
      const reason = error instanceof ExitRefusedError ? `${error.code}: ${error.message}` : 'exit refused';
      this.#lastError = `refused an offer: ${reason}`;
      broker.sendDecline(offer.matchId, reason);
      this.#report();
      return;
    }
    // No `slots` here: the broker holds this client's slot from its offer until the answer, and then counts it as
    // used itself (see #announceSlots).
    // The offer of this volunteer's own self-check: relayed like any other, but nobody was helped.
    const ufrag = iceUfragOf(offer.offer.sdp);
    const selfCheck = ufrag !== undefined && this.#checkOfferUfrags.has(ufrag);
    const pair = this.#createPair(exitUrl.href, pool, selfCheck);
    let answer: SessionDescription;
    try {
      answer = await pair.answer(offer.offer);
    } catch (error) {
      this.#broker?.sendDecline(offer.matchId, error instanceof Error ? error.message : 'could not answer');
      return;
    }
    if (pair.isClosed || this.#broker !== broker) return;
    const held = this.#pairs.get(pair);
    if (held !== undefined) held.answered = true;
    broker.sendAnswer(offer.matchId, answer);
  }

  #createPair(exitUrl: string, pool: SlotPool, selfCheck = false): RelayPair {
    const pair: RelayPair = new RelayPair({
      environment: this.init.environment,
      config: { ...this.init.config, iceServers: this.#iceServers() },
      exitUrl,
      rateLimit: this.#rateLimit,
      events: {
        onClientConnected: () => {
          if (selfCheck) return;
          this.#clientsNow += 1;
          this.#clientsTotal += 1;
          this.#report();
        },
        onRelayed: (direction, byteLength) => {
          if (selfCheck) return;
          if (direction === 'c2e') this.#bytesClientToExit += byteLength;
          else this.#bytesExitToClient += byteLength;
          if (this.#monthlyCap?.add(byteLength) === true) {
            this.#pause();
            return;
          }
          this.#reportTrafficSoon();
        },
        onClosed: (reason, detail) => {
          this.#pairs.delete(pair);
          if (pair.isClientConnected && !selfCheck) this.#clientsNow -= 1;
          if (NOTEWORTHY_CLOSE_REASONS.has(reason)) this.#lastError = detail;
          this.#announceSlots();
          this.#report();
        },
      },
    });
    this.#pairs.set(pair, { pool, answered: false });
    return pair;
  }

  /** Pairs holding a slot of `pool`; with `answeredOnly`, only those whose answer has gone to the broker. */
  #holding(pool: SlotPool, answeredOnly = false): number {
    let count = 0;
    for (const held of this.#pairs.values()) if (held.pool === pool && (held.answered || !answeredOnly)) count += 1;
    return count;
  }

  /**
   * The free slots to tell the broker: the limit minus the clients it has been answered for. A client whose offer is
   * still being answered is left out on purpose: the broker holds a slot for it until the answer, then counts it as
   * used itself, and it reads this volunteer's messages in order. Counted here too, the client was counted twice
   * (whenever a `slots` message crossed an offer in flight) and the broker refused clients while this volunteer
   * had room (found by `npm run bench:network`).
   */
  #announced(pool: SlotPool): number {
    if (pool === 'personal' && this.#allPairingTokens().length === 0) return 0;
    const limit = pool === 'personal' ? this.init.config.maxPersonalClients : this.init.config.maxClients;
    return Math.max(0, limit - this.#holding(pool, true));
  }

  #announceSlots(): void {
    this.#broker?.sendSlots(this.#announced('common'), this.#announced('personal'));
  }

  #reportTrafficSoon(): void {
    if (this.#trafficStatusTimer !== undefined) return;
    this.#trafficStatusTimer = setTimeout(() => {
      this.#trafficStatusTimer = undefined;
      void this.#monthlyCap?.flush(USAGE_SAVE_INTERVAL_MS);
      this.#report();
    }, TRAFFIC_STATUS_INTERVAL_MS);
  }

  #report(): void {
    const onStatus = this.init.onStatus;
    if (onStatus === undefined) return;
    const status = this.status;
    if (this.#lastReported !== undefined && sameStatus(this.#lastReported, status)) return;
    this.#lastReported = status;
    try {
      onStatus(status);
    } catch {
      // A failing UI must not stop the relaying; the next status goes out as usual.
    }
  }
}

function sameStatus(a: RelayStatus, b: RelayStatus): boolean {
  return (
    a.state === b.state &&
    a.clientsNow === b.clientsNow &&
    a.clientsTotal === b.clientsTotal &&
    a.bytesClientToExit === b.bytesClientToExit &&
    a.bytesExitToClient === b.bytesExitToClient &&
    a.lastError === b.lastError &&
    a.pausedBy === b.pausedBy &&
    a.pauseReason === b.pauseReason &&
    a.retryAt === b.retryAt
  );
}
