/**
 * @module browser-volunteer
 * The volunteer as every browser shell runs it: the extension's offscreen document (and Firefox's event page), the
 * Ferry tab and the widget. One RelayWorker on the page's own WebRTC (browser.ts), its week of history in the
 * origin's IndexedDB (browser-history-store.ts), and the device's battery and connection watched for the pauses the
 * volunteer chose (device-conditions.ts). The shells differ only in when they start it and with what limits.
 */
import type { RelayStatus } from '../protocol/relay-status.ts';
import { browserRelayEnvironment } from './browser.ts';
import { IndexedDbHistoryStore } from './browser-history-store.ts';
import { createRelayWorkerConfig } from './config.ts';
import { DeviceConditions, type DevicePlatform } from './device-conditions.ts';
import { HelpHistoryRecorder, type HistorySummary, readHistorySummary } from './help-history.ts';
import type { MonthlyUsage } from './monthly-cap.ts';
import { RelayWorker } from './relay-worker.ts';
import type { SelfCheckResult } from './self-check.ts';

export interface BrowserVolunteerConfig {
  brokerUrl: string;
  kind: 'extension' | 'tab' | 'widget';
  maxClients: number;
  /** Bytes a second for everything relayed; 0 = no cap. */
  maxBytesPerSecond: number;
  /** Bytes a calendar month; 0 = no cap. */
  monthlyDataCapBytes: number;
  /** The monthly count kept from earlier runs. */
  usage?: MonthlyUsage | undefined;
  /** Pause while on battery / a metered connection, where the browser tells. */
  pauseOnBattery: boolean;
  pauseOnMetered: boolean;
  exitListKeys: readonly string[];
  pairingTokens: readonly string[];
}

export interface BrowserVolunteerEvents {
  onStatus(status: RelayStatus): void;
  /** The monthly count changed (the shell keeps it where it can: an offscreen document has no storage of its own). */
  saveUsage?(usage: MonthlyUsage): void;
  /** The week's history was written (a page shows it again). */
  onHistorySaved?(): void;
  /** The history could not be kept (storage refused): worth telling the person. */
  onProblem?(message: string): void;
}

export class BrowserVolunteer {
  readonly #events: BrowserVolunteerEvents;
  readonly #store = new IndexedDbHistoryStore();
  readonly #history: HelpHistoryRecorder;
  #worker: RelayWorker | undefined;
  #running: BrowserVolunteerConfig | undefined;
  #device: DeviceConditions | undefined;

  constructor(events: BrowserVolunteerEvents) {
    this.#events = events;
    this.#history = new HelpHistoryRecorder({
      store: {
        add: async (additions, oldest) => {
          await this.#store.add(additions, oldest);
          events.onHistorySaved?.();
        },
        read: (fromHour) => this.#store.read(fromHour),
      },
      onError: (error) => events.onProblem?.(error instanceof Error ? error.message : String(error)),
    });
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  /**
   * Starts relaying; a second start with the same settings is ignored (the links are updated), with other settings it
   * restarts. Throws RelayWorkerConfigError or RelayEnvironmentError: the shell says "could not start".
   */
  start(config: BrowserVolunteerConfig): void {
    const running = this.#running;
    if (running !== undefined && sameSettings(running, config)) {
      this.setPairingTokens(config.pairingTokens);
      if (this.#worker !== undefined) this.#events.onStatus(this.#worker.status);
      return;
    }
    void this.stop();
    const worker = new RelayWorker({
      config: createRelayWorkerConfig({
        brokerUrl: config.brokerUrl,
        kind: config.kind,
        maxClients: config.maxClients,
        maxBytesPerSecond: config.maxBytesPerSecond,
        monthlyDataCapBytes: config.monthlyDataCapBytes,
        exitListKeys: config.exitListKeys,
        pairingTokens: config.pairingTokens,
      }),
      environment: browserRelayEnvironment(),
      usageStore: { load: async () => config.usage, save: async (usage) => this.#events.saveUsage?.(usage) },
      onStatus: (status) => {
        if (worker !== this.#worker) return;
        this.#history.record(status);
        this.#events.onStatus(status);
      },
    });
    this.#worker = worker;
    this.#running = config;
    // The battery and the connection, where the browser tells; the first reading comes before the broker is reached.
    const device = new DeviceConditions({
      platform: globalThis.navigator as unknown as DevicePlatform,
      pauseOnBattery: config.pauseOnBattery,
      pauseOnMetered: config.pauseOnMetered,
      onChange: (reason) => {
        if (worker === this.#worker) worker.pauseForDevice(reason);
      },
    });
    this.#device = device;
    void device.start().then(() => {
      if (worker === this.#worker) worker.start();
    });
  }

  /** A link for a friend was made or revoked: the running worker tells the broker at once, without a restart. */
  setPairingTokens(tokens: readonly string[]): void {
    if (this.#running === undefined || this.#worker === undefined) return;
    if (this.#running.pairingTokens.join() === tokens.join()) return;
    this.#running = { ...this.#running, pairingTokens: [...tokens] };
    this.#worker.setPairingTokens(tokens);
  }

  /** "Am I helping?" (self-check.ts); says so when the volunteer is not running. */
  selfCheck(): Promise<SelfCheckResult> {
    return this.#worker?.selfCheck() ?? Promise.resolve({ ok: false, failed: 'broker', detail: 'not helping' });
  }

  /** Stops relaying; resolves when the history's last additions are written. */
  stop(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#running = undefined;
    this.#device?.stop();
    this.#device = undefined;
    if (worker !== undefined) {
      worker.stop();
      this.#history.record(worker.status);
      this.#events.onStatus(worker.status);
    }
    return this.#history.flush();
  }

  /** The week, from this origin's IndexedDB. */
  readHistory(now = Date.now()): Promise<HistorySummary> {
    return readHistorySummary(this.#store, now);
  }
}

function sameSettings(a: BrowserVolunteerConfig, b: BrowserVolunteerConfig): boolean {
  return (
    a.brokerUrl === b.brokerUrl &&
    a.kind === b.kind &&
    a.maxClients === b.maxClients &&
    a.maxBytesPerSecond === b.maxBytesPerSecond &&
    a.monthlyDataCapBytes === b.monthlyDataCapBytes &&
    a.pauseOnBattery === b.pauseOnBattery &&
    a.pauseOnMetered === b.pauseOnMetered &&
    a.exitListKeys.join() === b.exitListKeys.join()
  );
}
