/**
 * @module help-others-runner
 * Runs the volunteer relay worker where the browser has WebRTC (Chromium: the offscreen document; Firefox: the
 * background page itself) and forwards its status.
 */

import { browserRelayEnvironment } from '../../relay-worker/browser.ts';
import { IndexedDbHistoryStore } from '../../relay-worker/browser-history-store.ts';
import { DeviceConditions, type DevicePlatform } from '../../relay-worker/device-conditions.ts';
import { HelpHistoryRecorder } from '../../relay-worker/help-history.ts';
import { createRelayWorkerConfig, type RelayStatus, RelayWorker } from '../../relay-worker/index.ts';
import type { MonthlyUsage } from '../../relay-worker/monthly-cap.ts';
import type { SelfCheckResult } from '../../relay-worker/self-check.ts';
import type { OffscreenMessage } from '../messages.ts';

export interface HelpOthersConfig {
  brokerUrl: string;
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

export class HelpOthersRunner {
  private worker: RelayWorker | undefined;
  private running: HelpOthersConfig | undefined;
  private device: DeviceConditions | undefined;
  /** The week's history, in the extension's IndexedDB, where the popup reads it. */
  private readonly history = new HelpHistoryRecorder({
    store: new IndexedDbHistoryStore(),
    onError: (error) => console.warn('[ferry] the help history could not be saved:', error),
  });

  constructor(
    private readonly onStatus: (status: RelayStatus) => void,
    private readonly saveUsage: (usage: MonthlyUsage) => void,
  ) {}

  /** Starts relaying; a second start with the same settings is ignored, with other settings it restarts. */
  start(config: HelpOthersConfig): void {
    if (
      this.running !== undefined &&
      this.running.brokerUrl === config.brokerUrl &&
      this.running.maxClients === config.maxClients &&
      this.running.maxBytesPerSecond === config.maxBytesPerSecond &&
      this.running.monthlyDataCapBytes === config.monthlyDataCapBytes &&
      this.running.pauseOnBattery === config.pauseOnBattery &&
      this.running.pauseOnMetered === config.pauseOnMetered &&
      this.running.exitListKeys.join() === config.exitListKeys.join()
    ) {
      this.setPairingTokens(config.pairingTokens);
      if (this.worker !== undefined) this.onStatus(this.worker.status);
      return;
    }
    this.stop();
    // Throws RelayWorkerConfigError or RelayEnvironmentError; the caller reports it as "could not start".
    const worker = new RelayWorker({
      config: createRelayWorkerConfig({
        brokerUrl: config.brokerUrl,
        kind: 'extension',
        maxClients: config.maxClients,
        maxBytesPerSecond: config.maxBytesPerSecond,
        monthlyDataCapBytes: config.monthlyDataCapBytes,
        exitListKeys: config.exitListKeys,
        pairingTokens: config.pairingTokens,
      }),
      environment: browserRelayEnvironment(),
      // The offscreen document has no chrome.storage: the count comes in help-start and goes back to the background.
      usageStore: { load: async () => config.usage, save: async (usage) => this.saveUsage(usage) },
      onStatus: (status) => {
        if (worker !== this.worker) return;
        this.history.record(status);
        this.onStatus(status);
      },
    });
    this.worker = worker;
    this.running = config;
    // The battery and the connection, where Chromium tells (this document has navigator.getBattery and
    // navigator.connection); the first reading comes before the worker reaches the broker.
    const device = new DeviceConditions({
      platform: navigator as unknown as DevicePlatform,
      pauseOnBattery: config.pauseOnBattery,
      pauseOnMetered: config.pauseOnMetered,
      onChange: (reason) => {
        if (worker === this.worker) worker.pauseForDevice(reason);
      },
    });
    this.device = device;
    void device.start().then(() => {
      if (worker === this.worker) worker.start();
    });
  }

  /** "Am I helping?" (relay-worker/self-check.ts); says so when Help others is not running. */
  selfCheck(): Promise<SelfCheckResult> {
    const worker = this.worker;
    if (worker === undefined) return Promise.resolve({ ok: false, failed: 'broker', detail: 'Help others is off' });
    return worker.selfCheck();
  }

  /** A link for a friend was made or revoked: the running worker tells the broker at once, without a restart. */
  setPairingTokens(tokens: readonly string[]): void {
    if (this.running === undefined || this.worker === undefined) return;
    if (this.running.pairingTokens.join() === tokens.join()) return;
    this.running = { ...this.running, pairingTokens: [...tokens] };
    this.worker.setPairingTokens(tokens);
  }

  stop(): void {
    const worker = this.worker;
    this.worker = undefined;
    this.running = undefined;
    this.device?.stop();
    this.device = undefined;
    worker?.stop();
    if (worker !== undefined) this.history.record(worker.status);
    void this.history.flush();
  }
}

/** The commands of Help others (background/help-others.ts sends them) among the offscreen document's messages. */
export type HelpOthersCommand = Extract<OffscreenMessage, { type: 'help-start' | 'help-stop' | 'help-pairings' }>;

export function isHelpOthersCommand(message: OffscreenMessage): message is HelpOthersCommand {
  return message.type === 'help-start' || message.type === 'help-stop' || message.type === 'help-pairings';
}

/** Carries out one command on the runner. Throws what HelpOthersRunner.start throws (a relay that cannot start). */
export function applyHelpOthersCommand(runner: HelpOthersRunner, command: HelpOthersCommand): void {
  switch (command.type) {
    case 'help-start':
      runner.start({
        brokerUrl: command.brokerUrl,
        maxClients: command.maxClients,
        maxBytesPerSecond: command.maxBytesPerSecond,
        monthlyDataCapBytes: command.monthlyDataCapBytes,
        pauseOnBattery: command.pauseOnBattery,
        pauseOnMetered: command.pauseOnMetered,
        usage: command.usage,
        exitListKeys: command.exitListKeys,
        pairingTokens: command.pairingTokens,
      });
      return;
    case 'help-pairings':
      runner.setPairingTokens(command.pairingTokens);
      return;
    case 'help-stop':
      runner.stop();
      return;
  }
}
