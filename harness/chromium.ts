/**
 * @module harness/chromium
 * Starts a real Chromium with the built Ferry extension, as its own process (so its PID is known and it can be killed
 * like a person closing it), and attaches Playwright over the DevTools protocol to drive the extension's pages.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page, type Worker } from 'playwright-core';
import { bridgeNamespacePort, type NamespaceBridge } from './namespace-bridge.ts';
import { killTree, terminate } from './processes.ts';

export const CHROMIUM_PATH = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
/** Chromium must print its DevTools address within this time. */
const STARTUP_TIMEOUT_MS = 30_000;
/** The extension's service worker must register within this time. */
const SERVICE_WORKER_TIMEOUT_MS = 20_000;
/** How many stderr chunks to keep for diagnosis. */
const STDERR_TAIL_CHUNKS = 50;

export class ChromiumLaunchError extends Error {
  override name = 'ChromiumLaunchError';
  readonly code = 'FERRY_ERR_CHROMIUM';
}

export interface ChromiumOptions {
  /** The unpacked extension to load; none for a plain browser (benchmarks). */
  extensionDir?: string;
  headless: boolean;
  /** A profile folder; a fresh temporary one (deleted on close) when absent. */
  userDataDir?: string;
  extraArgs?: string[];
  /**
   * The browser's language, e.g. 'fa': on Linux Chromium takes its UI language (chrome.i18n's) from the LANGUAGE
   * environment variable, not from --lang.
   */
  language?: string;
  /** Called before launch with the profile folder (e.g. to install the native host manifest into it). */
  prepareProfile?(userDataDir: string): void | Promise<void>;
  /**
   * A network namespace to run the browser in (`ip netns exec`; a lab's, harness/nat-lab.ts): its pages, its WebRTC
   * and the native helper it starts see only that namespace's network. DevTools are reached through a bridge.
   */
  namespace?: string;
}

export class FerryBrowser {
  private constructor(
    readonly process: ChildProcess,
    readonly pid: number,
    readonly browser: Browser,
    readonly context: BrowserContext,
    readonly userDataDir: string,
    private readonly ownsProfile: boolean,
    readonly extensionId: string,
    readonly serviceWorker: Worker | undefined,
    private readonly stderrTail: string[],
  ) {}

  static async launch(options: ChromiumOptions): Promise<FerryBrowser> {
    if (!existsSync(CHROMIUM_PATH))
      throw new ChromiumLaunchError(`Chromium is not installed at ${CHROMIUM_PATH}: run "apt-get install -y chromium" (npm test does it for you)`);
    if (options.extensionDir && !existsSync(join(options.extensionDir, 'manifest.json')))
      throw new ChromiumLaunchError(`no built extension in ${options.extensionDir}: run "npm run build"`);
    const ownsProfile = options.userDataDir === undefined;
    const userDataDir = options.userDataDir ?? mkdtempSync(join(tmpdir(), 'ferry-profile-'));
    await options.prepareProfile?.(userDataDir);
    const args = [
      `--user-data-dir=${userDataDir}`,
      '--remote-debugging-port=0',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--password-store=basic',
      ...(options.extensionDir ? [`--disable-extensions-except=${options.extensionDir}`, `--load-extension=${options.extensionDir}`] : []),
      ...(options.headless ? ['--headless'] : []),
      ...(options.extraArgs ?? []),
      'about:blank',
    ];
    // Its own process group, so closing it also ends the renderer and GPU processes it started.
    const env = options.language === undefined ? process.env : { ...process.env, LANGUAGE: options.language, LC_ALL: '', LANG: 'C.UTF-8' };
    const chromiumArgs = [...args, ...(options.language === undefined ? [] : [`--lang=${options.language}`])];
    // `ip netns exec` enters the namespace and then execs Chromium: the pid is Chromium's own.
    const child =
      options.namespace === undefined
        ? spawn(CHROMIUM_PATH, chromiumArgs, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env })
        : spawn('ip', ['netns', 'exec', options.namespace, CHROMIUM_PATH, ...chromiumArgs], { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env });
    const pid = child.pid;
    const stderrTail: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrTail.push(chunk.toString());
      if (stderrTail.length > STDERR_TAIL_CHUNKS) stderrTail.shift();
    });
    if (pid === undefined) throw new ChromiumLaunchError(`could not start ${CHROMIUM_PATH}`);
    let bridge: NamespaceBridge | undefined;
    try {
      let endpoint = await waitForDevTools(child);
      if (options.namespace !== undefined) {
        const inside = new URL(endpoint);
        bridge = await bridgeNamespacePort(options.namespace, Number(inside.port));
        inside.port = String(bridge.port);
        endpoint = inside.href;
      }
      const browser = await chromium.connectOverCDP(endpoint);
      const devToolsBridge = bridge;
      if (devToolsBridge !== undefined) child.once('exit', () => void devToolsBridge.close());
      const context = browser.contexts()[0];
      if (!context) throw new ChromiumLaunchError('Chromium has no default context');
      let serviceWorker: Worker | undefined;
      let extensionId = '';
      if (options.extensionDir) {
        serviceWorker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: SERVICE_WORKER_TIMEOUT_MS }));
        extensionId = new URL(serviceWorker.url()).host;
      }
      return new FerryBrowser(child, pid, browser, context, userDataDir, ownsProfile, extensionId, serviceWorker, stderrTail);
    } catch (error) {
      killTree(child);
      await bridge?.close();
      if (ownsProfile) rmSync(userDataDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The last lines Chromium (and the native helper it started) wrote to stderr: for diagnosing failures. */
  get recentOutput(): string {
    return this.stderrTail.join('');
  }

  /** Opens an extension page, e.g. 'popup.html'. */
  async openExtensionPage(path: string): Promise<Page> {
    const page = await this.context.newPage();
    await page.goto(`chrome-extension://${this.extensionId}/${path}`);
    return page;
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Ends the browser process (by PID) and deletes a temporary profile. Safe to call twice. */
  async close(): Promise<void> {
    await this.browser.close().catch(() => {});
    await terminate(this.process);
    if (this.ownsProfile) rmSync(this.userDataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }

  /** Kills the browser at once, as a crash or a closed laptop would. */
  kill(): void {
    killTree(this.process, 'SIGKILL');
  }
}

function waitForDevTools(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new ChromiumLaunchError(`Chromium did not start within ${STARTUP_TIMEOUT_MS} ms: ${output.slice(-500)}`)),
      STARTUP_TIMEOUT_MS,
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
      if (output.length > 64 * 1024) output = output.slice(-8 * 1024);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new ChromiumLaunchError(`Chromium exited with code ${code} before it was ready: ${output.slice(-500)}`));
    });
  });
}
