/**
 * @module page-volunteer
 * The volunteer as a web page runs it (the tab and the widget): the browser shells' volunteer
 * (relay-worker/browser-volunteer.ts) with the site's broker and keys, no bandwidth or monthly cap (a page runs only
 * while it is open), and the battery and metered-connection pauses on. Both shells wire this and differ only in when
 * they start it and how many people they help at once.
 */
import type { SiteConfig } from '../protocol/site-config.ts';
import { BrowserVolunteer } from '../relay-worker/browser-volunteer.ts';
import type { HistorySummary } from '../relay-worker/help-history.ts';
import type { RelayStatus } from '../relay-worker/index.ts';
import type { SelfCheckResult } from '../relay-worker/self-check.ts';

export interface PageVolunteerInit {
  site: SiteConfig;
  kind: 'tab' | 'widget';
  /** A page helps fewer people than an extension: it shares the visitor's tab with whatever else they do. */
  maxClients: number;
  onStatus(status: RelayStatus): void;
  /** The week's history changed (after each write). */
  onHistory(summary: HistorySummary): void;
  /** Something worth telling the person failed (the history could not be kept). */
  onProblem(message: string): void;
}

export class PageVolunteer {
  readonly #init: PageVolunteerInit;
  readonly #volunteer: BrowserVolunteer;

  constructor(init: PageVolunteerInit) {
    this.#init = init;
    this.#volunteer = new BrowserVolunteer({
      onStatus: init.onStatus,
      onHistorySaved: () => void this.refreshHistory(),
      onProblem: init.onProblem,
    });
  }

  get running(): boolean {
    return this.#volunteer.running;
  }

  /** Starts relaying (a second call does nothing). Throws RelayWorkerConfigError or RelayEnvironmentError. */
  start(): void {
    this.#volunteer.start({
      brokerUrl: this.#init.site.brokerUrl,
      kind: this.#init.kind,
      maxClients: this.#init.maxClients,
      maxBytesPerSecond: 0,
      monthlyDataCapBytes: 0,
      pauseOnBattery: true,
      pauseOnMetered: true,
      exitListKeys: this.#init.site.exitListKeys,
      pairingTokens: [],
    });
  }

  /** Stops relaying and writes the history's last additions. */
  stop(): Promise<void> {
    return this.#volunteer.stop();
  }

  /** "Am I helping?" (relay-worker/self-check.ts). */
  selfCheck(): Promise<SelfCheckResult> {
    return this.#volunteer.selfCheck();
  }

  async refreshHistory(): Promise<void> {
    try {
      this.#init.onHistory(await this.#volunteer.readHistory());
    } catch (error) {
      this.#init.onProblem(error instanceof Error ? error.message : String(error));
    }
  }
}
