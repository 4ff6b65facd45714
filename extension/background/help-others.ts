/**
 * @module help-others
 * "Help others": the offscreen document runs the relay worker (a volunteer); this side switches it on and off and
 * turns its status reports into the popup's state.
 */

import type { HelpOthersState } from '../../protocol/extension-state.ts';
import type { RelayStatus } from '../../protocol/relay-status.ts';
import type { MonthlyUsage } from '../../relay-worker/monthly-cap.ts';
import type { OffscreenMessage } from '../messages.ts';
import type { Pairings } from '../pairings.ts';
import { capBytesPerSecond, monthlyCapBytes, type Settings } from '../settings.ts';
import { applyRelayStatus, initialHelpOthersState } from '../ui-state.ts';

export interface HelpOthersDeps {
  loadSettings(): Promise<Settings>;
  loadPairings(): Promise<Pairings>;
  /** The monthly cap's count kept from earlier runs, and keeping the latest one (chrome.storage.local). */
  loadUsage(): Promise<MonthlyUsage | undefined>;
  saveUsage(usage: MonthlyUsage): Promise<void>;
  /**
   * Where the relay runs: Chromium's offscreen document (offscreen-document.ts), or in Firefox the background page
   * itself (in-page-relay.ts). Acquired before the first command, released after help-stop.
   */
  offscreen: {
    acquire(): Promise<void>;
    release(): Promise<void>;
    send(message: OffscreenMessage): Promise<void>;
    /** Whether the context running the relay still exists (Chromium may close an offscreen document). */
    isOpen(): Promise<boolean>;
  };
  /**
   * Looks every so often whether the relay's context still exists while Help others is on (chrome.alarms in
   * Chromium: a service worker keeps no timers), and calls reviveIfClosed; `false` stops looking.
   */
  watchRelay?(on: boolean): Promise<void>;
  updateState(change: (state: HelpOthersState) => HelpOthersState): Promise<unknown>;
  /** Keeps the switch's position across browser restarts (chrome.storage.local; the popup's state is per session). */
  rememberSwitch(on: boolean): Promise<void>;
  /** The toolbar badge: how many people are being helped right now (0 clears it). */
  showHelping(clientsNow: number): Promise<void>;
  log(message: string, error?: unknown): void;
}

export class HelpOthers {
  /** Bumped on every switch; a start that finds a newer generation stops there. */
  private generation = 0;
  private on = false;

  constructor(private readonly deps: HelpOthersDeps) {}

  async switchOn(): Promise<void> {
    if (this.on) return;
    await this.deps.rememberSwitch(true).catch((error) => this.deps.log('could not keep the Help others switch', error));
    await this.deps.updateState(() => ({ ...initialHelpOthersState(), on: true, phase: 'connecting' }));
    await this.start();
  }

  /** After the service worker restarted while Help others was on: make sure the relay runs (starting is idempotent). */
  async resume(): Promise<void> {
    if (this.on) return;
    await this.start();
  }

  /**
   * Chromium closed the offscreen document (memory pressure, a crash of its renderer) while Help others was on:
   * open it again and restart the relay, so the volunteer does not silently stop helping.
   */
  async reviveIfClosed(): Promise<void> {
    if (!this.on || (await this.deps.offscreen.isOpen().catch(() => true))) return;
    this.deps.log('the offscreen document was closed while Help others was on: opening it again');
    await this.start();
  }

  /**
   * After the background restarted (a service worker or event page woken again, or the extension reloaded): resumes
   * when the stored state says Help others was on and had not failed.
   */
  async resumeIfOn(stored: HelpOthersState): Promise<void> {
    if (stored.on && stored.phase !== 'failed') await this.resume();
  }

  async switchOff(): Promise<void> {
    this.generation += 1;
    const wasOn = this.on;
    this.on = false;
    await this.deps.rememberSwitch(false).catch((error) => this.deps.log('could not keep the Help others switch', error));
    await this.deps.watchRelay?.(false).catch((error) => this.deps.log('could not stop watching the relay', error));
    await this.deps.updateState(() => initialHelpOthersState());
    await this.#badge(0);
    if (!wasOn) return;
    await this.deps.offscreen.send({ target: 'offscreen', type: 'help-stop' }).catch((error) => this.deps.log('help-stop not delivered', error));
    await this.deps.offscreen.release().catch((error) => this.deps.log('could not close the offscreen document', error));
  }

  /** The links for friends changed (made or revoked): a running relay registers the new set at once. */
  async onPairingsChanged(pairings: Pairings): Promise<void> {
    if (!this.on) return;
    const pairingTokens = pairings.made.map((made) => made.token);
    await this.deps.offscreen
      .send({ target: 'offscreen', type: 'help-pairings', pairingTokens })
      .catch((error) => this.deps.log('help-pairings not delivered', error));
  }

  /** The relay's monthly count changed: kept, so a browser restart does not reset the cap. */
  async onUsage(usage: MonthlyUsage): Promise<void> {
    await this.deps.saveUsage(usage).catch((error) => this.deps.log('could not keep the monthly data count', error));
  }

  async onRelayStatus(status: RelayStatus): Promise<void> {
    await this.deps.updateState((state) => applyRelayStatus(state, status));
    // A late report after the switch went off shows nobody.
    await this.#badge(this.on ? status.clientsNow : 0);
  }

  async #badge(clientsNow: number): Promise<void> {
    await this.deps.showHelping(clientsNow).catch((error) => this.deps.log('could not update the toolbar badge', error));
  }

  private async start(): Promise<void> {
    this.generation += 1;
    const generation = this.generation;
    this.on = true;
    await this.deps.watchRelay?.(true).catch((error) => this.deps.log('could not watch the relay', error));
    try {
      const settings = await this.deps.loadSettings();
      const pairings = await this.deps.loadPairings();
      const usage = await this.deps.loadUsage().catch(() => undefined);
      if (generation !== this.generation) return;
      await this.deps.offscreen.acquire();
      if (generation !== this.generation) return;
      await this.deps.offscreen.send({
        target: 'offscreen',
        type: 'help-start',
        brokerUrl: settings.brokerUrl,
        maxClients: settings.maxClients,
        maxBytesPerSecond: capBytesPerSecond(settings.maxMbps),
        monthlyDataCapBytes: monthlyCapBytes(settings.monthlyCapGb),
        pauseOnBattery: settings.pauseOnBattery,
        pauseOnMetered: settings.pauseOnMetered,
        ...(usage === undefined ? {} : { usage }),
        exitListKeys: settings.exitListKeys,
        pairingTokens: pairings.made.map((made) => made.token),
      });
    } catch (error) {
      if (generation !== this.generation) return;
      this.on = false;
      const message = error instanceof Error ? error.message : String(error);
      this.deps.log('Help others could not start', error);
      await this.deps.offscreen.release().catch(() => undefined);
      await this.deps.updateState((state) => ({ ...state, on: true, phase: 'failed', lastError: message }));
    }
  }
}
