/**
 * @module harness/firefox
 * A real Firefox (Debian's firefox-esr) with the Firefox build of Ferry (dist-firefox/), driven by puppeteer-core
 * over WebDriver BiDi, which needs no separate driver. The add-on is installed unpacked, as a temporary add-on, into
 * a fresh profile that is deleted on close; the browser runs in its own process group and is ended by its PID, also
 * when a test fails half way.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { type HelpOthersPhase, parseUiState, UI_STATE_STORAGE_KEY, type UiState } from '../protocol/extension-state.ts';
import { POPUP_PATH, REPO_ROOT } from './paths.ts';
import { killTree, terminate } from './processes.ts';
import { NetworkStartError } from './servers.ts';
import { waitFor } from './wait.ts';

export const FIREFOX_PATH = process.env.FERRY_FIREFOX ?? '/usr/bin/firefox-esr';
/** The unpacked Firefox build `npm run build` writes (vite.firefox.config.ts). */
export const FIREFOX_EXTENSION_DIR = join(REPO_ROOT, 'dist-firefox');
/** Firefox must start and accept the BiDi session within this time. */
const STARTUP_TIMEOUT_MS = 60_000;
/** An add-on page must have loaded within this time. */
const PAGE_LOAD_TIMEOUT_MS = 20_000;
/** A switch must reach the awaited phase within this time. */
export const FIREFOX_PHASE_TIMEOUT_MS = 60_000;
/** How often the add-on's state is read while waiting for a phase (ms). */
const PHASE_POLL_MS = 100;

export class FirefoxLaunchError extends Error {
  override name = 'FirefoxLaunchError';
  readonly code = 'FERRY_ERR_FIREFOX';
}

export interface FirefoxOptions {
  /** The unpacked add-on to install (default FIREFOX_EXTENSION_DIR). */
  extensionDir?: string;
  headless: boolean;
  /** Extra about:config preferences for this profile. */
  prefs?: Record<string, string | number | boolean>;
}

/** One Firefox process with the Ferry add-on installed. */
export class FerryFirefox {
  private constructor(
    readonly process: ChildProcess,
    readonly pid: number,
    readonly browser: Browser,
    readonly profileDir: string,
    /** The add-on's id (browser_specific_settings.gecko.id). */
    readonly addonId: string,
    /** The host of its pages' moz-extension:// URLs, pinned at launch (Firefox picks a random one otherwise). */
    readonly internalUuid: string,
  ) {}

  static async launch(options: FirefoxOptions): Promise<FerryFirefox> {
    if (!existsSync(FIREFOX_PATH))
      throw new FirefoxLaunchError(`Firefox is not installed at ${FIREFOX_PATH}: run "apt-get install -y firefox-esr" (npm test does it for you)`);
    const extensionDir = options.extensionDir ?? FIREFOX_EXTENSION_DIR;
    const manifestPath = join(extensionDir, 'manifest.json');
    if (!existsSync(manifestPath)) throw new FirefoxLaunchError(`no built Firefox add-on in ${extensionDir}: run "npm run build"`);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { browser_specific_settings?: { gecko?: { id?: string } } };
    const addonId = manifest.browser_specific_settings?.gecko?.id;
    if (addonId === undefined) throw new FirefoxLaunchError(`${manifestPath} has no browser_specific_settings.gecko.id, which Firefox needs`);
    const internalUuid = randomUUID();
    const profileDir = mkdtempSync(join(tmpdir(), 'ferry-firefox-'));
    let browser: Browser | undefined;
    try {
      browser = await puppeteer.launch({
        browser: 'firefox',
        protocol: 'webDriverBiDi',
        executablePath: FIREFOX_PATH,
        headless: options.headless,
        userDataDir: profileDir,
        timeout: STARTUP_TIMEOUT_MS,
        // WebDriver may open only web pages unless this is given; the add-on's popup is a moz-extension:// page.
        args: ['--remote-allow-system-access'],
        // The test ends the process itself, by its PID.
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
        extraPrefsFirefox: {
          // Pins the add-on's moz-extension:// host, so its pages can be opened by URL.
          'extensions.webextensions.uuids': JSON.stringify({ [addonId]: internalUuid }),
          ...options.prefs,
        },
      });
      const child = browser.process();
      if (child === null || child.pid === undefined) throw new FirefoxLaunchError(`could not start ${FIREFOX_PATH}`);
      const installedId = await browser.installExtension(extensionDir);
      if (installedId !== addonId) throw new FirefoxLaunchError(`Firefox installed the add-on as ${installedId}, expected ${addonId}`);
      return new FerryFirefox(child, child.pid, browser, profileDir, addonId, internalUuid);
    } catch (error) {
      const child = browser?.process();
      if (child) killTree(child, 'SIGKILL');
      rmSync(profileDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      throw error;
    }
  }

  /** The URL of one of the add-on's pages, e.g. 'extension/popup/popup.html'. */
  extensionUrl(path: string): string {
    return `moz-extension://${this.internalUuid}/${path}`;
  }

  /**
   * Opens one of the add-on's pages in a new tab and waits until it has loaded. Firefox moves the tab into the add-on's
   * own process for it, and puppeteer's navigation promise never settles then (checked with firefox-esr 153): so the
   * page itself is asked when it is there, and the navigation's own outcome is not awaited.
   */
  async openExtensionPage(path: string): Promise<Page> {
    const page = await this.browser.newPage();
    const url = this.extensionUrl(path);
    void page.goto(url, { timeout: PAGE_LOAD_TIMEOUT_MS }).catch(() => undefined);
    await waitFor(
      async () => (await page.evaluate(() => document.readyState === 'complete' && document.location.href).catch(() => false)) === url,
      `the add-on page ${path} to load`,
      { timeoutMs: PAGE_LOAD_TIMEOUT_MS, intervalMs: 100 },
    );
    return page;
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Ends Firefox (politely, then by its PID and process group) and deletes the profile. Safe to call twice. */
  async close(): Promise<void> {
    await Promise.race([this.browser.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await terminate(this.process);
    rmSync(this.profileDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

/** The settings a volunteer needs: the network's broker and its operator's exit-list keys. */
export interface FirefoxVolunteerSettings {
  brokerUrl: string;
  exitListKeys: string[];
}

/** The settings page's path inside the built add-on (its manifest's options_ui.page). */
const OPTIONS_PATH = 'extension/options/options.html';

/** Firefox with the Ferry add-on, driven through its popup as a person would: flip Help others, read the status. */
export class FirefoxVolunteer {
  private constructor(
    readonly firefox: FerryFirefox,
    readonly popup: Page,
  ) {}

  /**
   * Launches Firefox, fills in the add-on's settings page as a person would (the broker and the operator's exit-list
   * key) and saves it, then opens the popup.
   */
  static async launch(options: FirefoxOptions & { settings: FirefoxVolunteerSettings }): Promise<FirefoxVolunteer> {
    const firefox = await FerryFirefox.launch(options);
    try {
      const settingsPage = await firefox.openExtensionPage(OPTIONS_PATH);
      await settingsPage.locator('#brokerUrl').fill(options.settings.brokerUrl);
      await settingsPage.locator('#exitListKeys').fill(options.settings.exitListKeys.join('\n'));
      await settingsPage.click('#save');
      await waitFor(async () => /^Saved/.test(await settingsPage.$eval('#notice', (element) => element.textContent ?? '')), 'the settings page to say Saved', {
        timeoutMs: PAGE_LOAD_TIMEOUT_MS,
      });
      await settingsPage.close();
      const popup = await firefox.openExtensionPage(POPUP_PATH);
      return new FirefoxVolunteer(firefox, popup);
    } catch (error) {
      await firefox.close();
      throw error;
    }
  }

  /** What is stored in the add-on's settings (storage.local), as the extension reads it. */
  async storedSettings(): Promise<Record<string, unknown>> {
    return this.popup.evaluate(() => chrome.storage.local.get(null));
  }

  get pid(): number {
    return this.firefox.pid;
  }

  /** The state the add-on publishes (storage.session), validated: what the popup shows right now. */
  async state(): Promise<UiState> {
    const state = await this.publishedState();
    if (state === undefined) throw new NetworkStartError('the add-on has published no state yet (its background page has not started)');
    return state;
  }

  private async publishedState(): Promise<UiState | undefined> {
    const stored: unknown = await this.popup.evaluate(async (key) => (await chrome.storage.session.get(key))[key], UI_STATE_STORAGE_KEY);
    return stored === undefined ? undefined : parseUiState(stored);
  }

  async statusText(feature: 'proxy-me' | 'help-others'): Promise<string> {
    return this.popup.$eval(`#${feature}-status`, (element) => element.textContent ?? '');
  }

  /** The toolbar badge's text, as the toolbar shows it. */
  async badgeText(): Promise<string> {
    return this.popup.evaluate(() => chrome.action.getBadgeText({}));
  }

  /** Flips Help others in the popup, as a person clicks it. */
  async setHelpOthers(on: boolean): Promise<void> {
    const checked = await this.popup.$eval('#help-others', (element) => (element as HTMLInputElement).checked);
    if (checked !== on) await this.popup.click('#help-others');
  }

  async waitForHelpOthers(phases: readonly HelpOthersPhase[], timeoutMs = FIREFOX_PHASE_TIMEOUT_MS): Promise<UiState> {
    let last: UiState | undefined;
    try {
      return await waitFor(
        async () => {
          last = await this.publishedState();
          return last !== undefined && phases.includes(last.helpOthers.phase) ? last : undefined;
        },
        `Help others to reach ${phases.join(' or ')}`,
        { timeoutMs, intervalMs: PHASE_POLL_MS },
      );
    } catch (error) {
      throw new NetworkStartError(`${error instanceof Error ? error.message : String(error)}; last state: ${JSON.stringify(last)}`);
    }
  }

  async close(): Promise<void> {
    await this.firefox.close();
  }
}
