/**
 * @module harness/ferry-user
 * One real Chromium with the built Ferry extension, driven through its popup as a person would: flip a switch, read
 * the status line, and follow the UiState the extension publishes (protocol/extension-state.ts).
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { installNativeHost } from '../native-helper/install.ts';
import { type HelpOthersPhase, type ProxyMePhase, parseUiState, UI_STATE_STORAGE_KEY, type UiState } from '../protocol/extension-state.ts';
import { FerryBrowser } from './chromium.ts';
import { EXTENSION_DIR, POPUP_PATH } from './paths.ts';
import { NetworkStartError } from './servers.ts';
import { waitFor } from './wait.ts';

/** A switch must reach the awaited phase within this time. */
export const PHASE_TIMEOUT_MS = 60_000;
/** How often the extension's state is read while waiting for a phase (ms). */
const PHASE_POLL_MS = 100;

export interface FerryUserOptions {
  brokerUrl: string;
  /** The network operator's exit-list key: written to the settings, and to the helper's launcher with installHelper. */
  exitListKey: string;
  headless: boolean;
  /** The browser's language (Chromium's --lang), e.g. 'fa': the extension's pages follow it through chrome.i18n. */
  language?: string;
  /** A profile folder that outlives this browser (a restart test); a fresh temporary one when absent. */
  userDataDir?: string;
  /** Written to chrome.storage.local before anything is switched on. */
  settings?: Record<string, unknown>;
  /** Installs the native helper's host manifest into the profile (the client needs it; volunteers do not). */
  installHelper?: boolean;
  /** With installHelper: the client session's timing, passed to `ferry helper --native` by its launcher. */
  helperSession?: HelperSessionTiming;
  /** With installHelper: more `ferry helper --native` flags for its launcher (e.g. --rendezvous-ca FILE). */
  helperFlags?: string[];
  /** A lab's network namespace to run the browser (and the helper it starts) in. */
  namespace?: string;
}

/** The popup's switches, by their element ids; each has a status line `#<id>-status`. */
export type PopupSwitch = 'proxy-me' | 'help-others' | 'whole-device';

/** The client session's timing in the helper (protocol/config.ts names them; defaults there). */
export interface HelperSessionTiming {
  heartbeatIntervalMs: number;
  pathSilenceTimeoutMs: number;
}

/** The `ferry helper --native` flags that set `timing`. */
export function helperSessionFlags(timing: HelperSessionTiming | undefined): string[] {
  return timing === undefined ? [] : ['--heartbeat-ms', String(timing.heartbeatIntervalMs), '--path-silence-ms', String(timing.pathSilenceTimeoutMs)];
}

/** One browser with the Ferry extension, driven through its popup. */
export class FerryUser {
  private constructor(
    readonly browser: FerryBrowser,
    readonly popup: Page,
  ) {}

  static async launch(options: FerryUserOptions): Promise<FerryUser> {
    const browser = await FerryBrowser.launch({
      extensionDir: EXTENSION_DIR,
      headless: options.headless,
      ...(options.userDataDir === undefined ? {} : { userDataDir: options.userDataDir }),
      ...(options.language === undefined ? {} : { language: options.language }),
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options.installHelper
        ? {
            prepareProfile: async (userDataDir: string) =>
              void (await installNativeHost({
                userDataDir,
                helperFlags: [
                  '--exit-list-key',
                  options.exitListKey,
                  ...helperSessionFlags(options.helperSession),
                  // Never the machine's own whole-device service: a test that flips the switch must not reroute the
                  // machine it runs on. A test that wants one passes its own --tun-socket (the later flag wins).
                  '--tun-socket',
                  join(userDataDir, 'no-whole-device-service.sock'),
                  ...(options.helperFlags ?? []),
                ],
              })),
          }
        : {}),
    });
    try {
      const popup = await browser.openExtensionPage(POPUP_PATH);
      await popup.evaluate(async (settings) => chrome.storage.local.set(settings), {
        brokerUrl: options.brokerUrl,
        exitListKeys: [options.exitListKey],
        ...options.settings,
      });
      await popup.reload();
      return new FerryUser(browser, popup);
    } catch (error) {
      await browser.close();
      throw error;
    }
  }

  get pid(): number {
    return this.browser.pid;
  }

  /** The state the extension publishes, validated: what the popup shows right now. */
  async state(): Promise<UiState> {
    const state = await this.publishedState();
    if (state === undefined) throw new NetworkStartError('the extension has published no state yet (its service worker has not started)');
    return state;
  }

  /** The published state, or undefined before the service worker first stores one. */
  private async publishedState(): Promise<UiState | undefined> {
    const stored: unknown = await this.popup.evaluate(async (key) => (await chrome.storage.session.get(key))[key], UI_STATE_STORAGE_KEY);
    return stored === undefined ? undefined : parseUiState(stored);
  }

  /** Writes settings to chrome.storage.local, as the options page saves them; a running Proxy me takes them at its next start. */
  async changeSettings(settings: Record<string, unknown>): Promise<void> {
    await this.popup.evaluate(async (changed) => chrome.storage.local.set(changed), settings);
  }

  async statusText(feature: PopupSwitch): Promise<string> {
    return (await this.popup.locator(`#${feature}-status`).textContent()) ?? '';
  }

  /** Flips a switch in the popup, as a person clicks it ("whole-device" shows only while Proxy me is connected). */
  async setSwitch(feature: PopupSwitch, on: boolean): Promise<void> {
    const toggle = this.popup.locator(`#${feature}`);
    if ((await toggle.isChecked()) !== on) await toggle.click();
  }

  async waitForProxyMe(phases: readonly ProxyMePhase[], timeoutMs = PHASE_TIMEOUT_MS): Promise<UiState> {
    return this.waitFor((state) => phases.includes(state.proxyMe.phase), `Proxy me to reach ${phases.join(' or ')}`, timeoutMs);
  }

  async waitForHelpOthers(phases: readonly HelpOthersPhase[], timeoutMs = PHASE_TIMEOUT_MS): Promise<UiState> {
    return this.waitFor((state) => phases.includes(state.helpOthers.phase), `Help others to reach ${phases.join(' or ')}`, timeoutMs);
  }

  /** Resolves with the published state once `done` holds of it (within `timeoutMs`). */
  async waitFor(done: (state: UiState) => boolean, what: string, timeoutMs: number): Promise<UiState> {
    let last: UiState | undefined;
    try {
      return await waitFor(
        async () => {
          last = await this.publishedState();
          return last !== undefined && done(last) ? last : undefined;
        },
        what,
        { timeoutMs, intervalMs: PHASE_POLL_MS },
      );
    } catch (error) {
      throw new NetworkStartError(`${error instanceof Error ? error.message : String(error)}; last state: ${JSON.stringify(last)}`);
    }
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}
