/**
 * @module page-volunteer
 * The relay core as a web page runs it (the tab and the widget): a RelayWorker on the page's own WebRTC and
 * WebSocket (relay-worker/browser.ts), and the week's history in the page origin's IndexedDB. Both shells wire this
 * and differ only in when they start it.
 */

import type { SiteConfig } from '../protocol/site-config.ts';
import { browserRelayEnvironment } from '../relay-worker/browser.ts';
import { IndexedDbHistoryStore } from '../relay-worker/browser-history-store.ts';
import { createRelayWorkerConfig } from '../relay-worker/config.ts';
import { HelpHistoryRecorder, type HistorySummary, readHistorySummary } from '../relay-worker/help-history.ts';
import type { RelayStatus } from '../relay-worker/index.ts';
import { RelayWorker } from '../relay-worker/relay-worker.ts';
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
  readonly #store = new IndexedDbHistoryStore();
  readonly #recorder: HelpHistoryRecorder;
  #worker: RelayWorker | undefined;

  constructor(init: PageVolunteerInit) {
    this.#init = init;
    this.#recorder = new HelpHistoryRecorder({
      store: {
        add: async (additions, oldest) => {
          await this.#store.add(additions, oldest);
          void this.refreshHistory();
        },
        read: (fromHour) => this.#store.read(fromHour),
      },
      onError: (error) => init.onProblem(error instanceof Error ? error.message : String(error)),
    });
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Starts relaying (a second call does nothing). Throws RelayWorkerConfigError or RelayEnvironmentError. */
  start(): void {
    if (this.#worker !== undefined) return;
    const worker = new RelayWorker({
      config: createRelayWorkerConfig({
        brokerUrl: this.#init.site.brokerUrl,
        kind: this.#init.kind,
        maxClients: this.#init.maxClients,
        exitListKeys: this.#init.site.exitListKeys,
      }),
      environment: browserRelayEnvironment(),
      onStatus: (status) => {
        if (worker !== this.#worker) return;
        this.#recorder.record(status);
        this.#init.onStatus(status);
      },
    });
    this.#worker = worker;
    worker.start();
  }

  /** Stops relaying and writes the history's last additions. */
  stop(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) {
      worker.stop();
      this.#recorder.record(worker.status);
      this.#init.onStatus(worker.status);
    }
    return this.#recorder.close();
  }

  /** "Am I helping?" (relay-worker/self-check.ts). */
  selfCheck(): Promise<SelfCheckResult> {
    return this.#worker?.selfCheck() ?? Promise.resolve({ ok: false, failed: 'broker', detail: 'not helping' });
  }

  async refreshHistory(): Promise<void> {
    try {
      this.#init.onHistory(await readHistorySummary(this.#store, Date.now()));
    } catch (error) {
      this.#init.onProblem(error instanceof Error ? error.message : String(error));
    }
  }
}
