/**
 * @module relay-worker/chromium-engine
 * `ferry volunteer`'s default engine: the relay runs in a page of its own headless Chromium, so every handshake a
 * censor sees (the DTLS ClientHello above all: in a data channel the answerer, the volunteer, sends it) is a
 * browser's, not libdatachannel's. The Node side keeps a loopback HTTP server that serves the built page
 * (dist-widget/headless/) and the engine link (engine-link.ts), starts Chromium in its own process group with a
 * throwaway profile, and opens the page over the DevTools pipe, so the link's key is never on a command line.
 *
 * Chromium ends with this process: it runs with --remote-debugging-pipe, and a browser whose pipe closes shuts down,
 * however the Node side ended (SIGKILL included). On stop it is asked politely, then killed by its group.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type WebSocket, WebSocketServer } from 'ws';
import { contentTypeOf, fileUnder } from '../protocol/adapters/static-files.ts';
import { idleRelayStatus, type RelayStatus } from '../protocol/relay-status.ts';
import type { RelayWorkerConfig } from './config.ts';
import { ENGINE_LINK_PATH, type EngineCommand, type EngineReport, MAX_ENGINE_LINK_MESSAGE_BYTES, parseEngineReport } from './engine-link.ts';
import type { MonthlyUsage } from './monthly-cap.ts';

/** Where Chromium is looked for when neither --chromium nor FERRY_CHROMIUM names it, in this order. */
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome-stable', '/usr/bin/google-chrome'] as const;
/** From spawning Chromium to the page's `ready` on the link (ms): a cold start on a loaded 2-core machine takes ~2 s. */
export const ENGINE_START_TIMEOUT_MS = 30_000;
/** From `stop` to the page's `stopped` (ms); then Chromium is ended anyway. */
export const ENGINE_STOP_TIMEOUT_MS = 3_000;
/** After SIGTERM to Chromium's group, SIGKILL follows after this long (ms). */
export const CHROMIUM_KILL_GRACE_MS = 2_000;
/** Chromium's last stderr kept to explain a failed start (characters). */
const STDERR_TAIL_CHARS = 4_000;
/** Most bytes of DevTools replies kept while waiting for the one we asked for (the pipe is otherwise drained). */
const MAX_DEVTOOLS_REPLY_BYTES = 256 * 1024;

/** The built page's folder: dist-widget/ at the repository's root (the page itself is headless/index.html in it). */
export const DEFAULT_ENGINE_SITE_DIRECTORY = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dist-widget');

/**
 * Chromium's flags for the engine. No background networking of Chromium's own (a volunteer's traffic is Ferry's
 * only); the relay page is never throttled as a background page; its ICE candidates carry the host's real addresses
 * rather than mDNS names (as `ferry volunteer` always did: a client far away cannot resolve a .local name, and a
 * volunteer on a public address has nothing to hide from the clients it serves). None of them touches DTLS.
 */
export function chromiumEngineArgs(userDataDir: string, runsAsRoot: boolean): string[] {
  return [
    '--headless',
    `--user-data-dir=${userDataDir}`,
    '--remote-debugging-pipe',
    ...(runsAsRoot ? ['--no-sandbox'] : []),
    '--disable-gpu',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    '--disable-extensions',
    '--password-store=basic',
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
    // Lighter (measured, docs/benchmarks.md): no startup tab, no spare renderer, the (software) GPU process folded
    // into the browser's.
    '--no-startup-window',
    // No crash reporter: it would start handler processes outside the group, and a volunteer reports nothing home.
    '--disable-breakpad',
    '--disable-crash-reporter',
    '--in-process-gpu',
    '--disable-features=WebRtcHideLocalIpsWithMdns,SpareRendererForSitePerProcess',
  ];
}

/** The engine could not start or stopped on its own; the message says what to do (install Chromium, build, or choose the other engine). */
export class ChromiumEngineError extends Error {
  override readonly name = 'ChromiumEngineError';
  constructor(
    readonly code: 'CHROMIUM_NOT_FOUND' | 'PAGE_NOT_BUILT' | 'ENGINE_START_FAILED' | 'ENGINE_FAILED',
    message: string,
  ) {
    super(message);
  }
}

export interface ChromiumEngineOptions {
  /** Chromium's executable; found among CHROMIUM_CANDIDATES (after FERRY_CHROMIUM) when absent. */
  chromiumPath?: string | undefined;
  /** The built site (DEFAULT_ENGINE_SITE_DIRECTORY when absent). */
  siteDirectory?: string;
  /** Every status the page reports. */
  onStatus(status: RelayStatus): void;
  /** The monthly count changed. */
  onUsage?(usage: MonthlyUsage): void;
  /** The engine ended without being asked (Chromium exited, the page failed): the volunteer has stopped relaying. */
  onFailure(error: ChromiumEngineError): void;
}

/** The executable to run: `requested`, else FERRY_CHROMIUM, else the first of CHROMIUM_CANDIDATES that exists. */
export function findChromium(requested: string | undefined, environment: NodeJS.ProcessEnv = process.env): string {
  const named = requested ?? environment.FERRY_CHROMIUM;
  if (named !== undefined) {
    if (!existsSync(named)) throw new ChromiumEngineError('CHROMIUM_NOT_FOUND', `no Chromium at ${named}`);
    return named;
  }
  const found = CHROMIUM_CANDIDATES.find((candidate) => existsSync(candidate));
  if (found === undefined) {
    throw new ChromiumEngineError(
      'CHROMIUM_NOT_FOUND',
      `no Chromium found (looked for ${CHROMIUM_CANDIDATES.join(', ')}): install it (Debian: apt-get install chromium), name it with --chromium PATH, or run --engine node-datachannel (whose DTLS handshake is not a browser's: see docs/threat-model.md)`,
    );
  }
  return found;
}

export class ChromiumEngine {
  readonly #options: ChromiumEngineOptions;
  readonly #server: Server;
  readonly #links: WebSocketServer;
  readonly #key: Buffer;
  readonly #siteDirectory: string;
  readonly #userDataDir: string;
  #chromium: ChildProcess | undefined;
  #link: WebSocket | undefined;
  #stderrTail = '';
  #lastStatus: RelayStatus | undefined;
  #userAgent = '';
  #stopping = false;
  #failed = false;
  #onReport: ((report: EngineReport) => void) | undefined;

  private constructor(options: ChromiumEngineOptions, siteDirectory: string) {
    this.#options = options;
    this.#siteDirectory = siteDirectory;
    this.#key = randomBytes(32);
    this.#userDataDir = mkdtempSync(join(tmpdir(), 'ferry-volunteer-chromium-'));
    this.#links = new WebSocketServer({ noServer: true, maxPayload: MAX_ENGINE_LINK_MESSAGE_BYTES, perMessageDeflate: false });
    this.#server = createServer((request, response) => this.#serveFile(request, response));
    this.#server.on('upgrade', (request, socket, head) => this.#acceptLink(request, socket, head));
  }

  /**
   * Starts Chromium and waits for the page's `ready` (ENGINE_START_TIMEOUT_MS). Throws ChromiumEngineError with what
   * to do: Chromium missing, the page not built, or Chromium failing to start (its last stderr in the message).
   */
  static async start(options: ChromiumEngineOptions): Promise<ChromiumEngine> {
    const executable = findChromium(options.chromiumPath);
    const siteDirectory = options.siteDirectory ?? DEFAULT_ENGINE_SITE_DIRECTORY;
    if (!existsSync(join(siteDirectory, 'headless', 'index.html'))) {
      throw new ChromiumEngineError(
        'PAGE_NOT_BUILT',
        `the volunteer page is not built (no ${join(siteDirectory, 'headless', 'index.html')}): run "npm run build", or run --engine node-datachannel`,
      );
    }
    const engine = new ChromiumEngine(options, siteDirectory);
    try {
      await engine.#launch(executable);
      return engine;
    } catch (error) {
      await engine.#end();
      throw error;
    }
  }

  /** Chromium's process id (its process group's too). */
  get pid(): number | undefined {
    return this.#chromium?.pid;
  }

  /** The loopback origin that serves the page and the link (http://127.0.0.1:PORT). */
  get pageOrigin(): string {
    const address = this.#server.address() as AddressInfo | null;
    return address === null ? '' : `http://127.0.0.1:${address.port}`;
  }

  /** The page's user agent (which Chromium relays), once it is ready. */
  get userAgent(): string {
    return this.#userAgent;
  }

  /** The page's last status; 'connecting' before its first. */
  get status(): RelayStatus {
    return this.#lastStatus ?? idleRelayStatus('connecting');
  }

  /** Starts relaying with `config` (validated by the caller, checked again by the page). */
  run(config: Readonly<RelayWorkerConfig>, usage: MonthlyUsage | undefined): void {
    this.#send({ type: 'start', config: { ...config }, ...(usage === undefined ? {} : { usage }) });
  }

  /**
   * Stops relaying (bounded by ENGINE_STOP_TIMEOUT_MS), ends Chromium by its process group and removes its profile.
   * Resolves with the last status.
   */
  async stop(): Promise<RelayStatus> {
    if (this.#stopping) return this.status;
    this.#stopping = true;
    if (this.#link !== undefined && !this.#failed) {
      await new Promise<void>((resolveStopped) => {
        const timer = setTimeout(resolveStopped, ENGINE_STOP_TIMEOUT_MS);
        this.#onReport = (report) => {
          if (report.type !== 'stopped') return;
          clearTimeout(timer);
          this.#lastStatus = report.status;
          resolveStopped();
        };
        this.#send({ type: 'stop' });
      });
    }
    await this.#end();
    return this.status;
  }

  async #launch(executable: string): Promise<void> {
    await new Promise<void>((listening) => this.#server.listen(0, '127.0.0.1', listening));
    const { port } = this.#server.address() as AddressInfo;
    const runsAsRoot = process.getuid?.() === 0;
    // Its own process group: ending it ends its renderers and utility processes too. fds 3 and 4: the DevTools pipe.
    // HOME and the XDG folders point into the throwaway profile: Chromium writes nothing elsewhere (its NSS database,
    // caches), so it runs under a service manager's ProtectHome= and leaves nothing behind.
    const home = this.#userDataDir;
    const chromium = spawn(executable, chromiumEngineArgs(this.#userDataDir, runsAsRoot), {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache') },
    });
    this.#chromium = chromium;
    chromium.stderr?.on('data', (chunk: Buffer) => {
      this.#stderrTail = (this.#stderrTail + chunk.toString()).slice(-STDERR_TAIL_CHARS);
    });
    const ready = new Promise<void>((resolveReady, rejectReady) => {
      const timer = setTimeout(
        () => rejectReady(this.#startError(`the volunteer page did not connect within ${ENGINE_START_TIMEOUT_MS / 1000} s`)),
        ENGINE_START_TIMEOUT_MS,
      );
      this.#onReport = (report) => {
        if (report.type !== 'ready') return;
        clearTimeout(timer);
        this.#userAgent = report.userAgent;
        resolveReady();
      };
      chromium.once('exit', (code, signal) => {
        clearTimeout(timer);
        rejectReady(this.#startError(`Chromium exited at start (${signal ?? `code ${code}`})`));
      });
      chromium.once('error', (error) => {
        clearTimeout(timer);
        rejectReady(this.#startError(`could not run ${executable}: ${error.message}`));
      });
    });
    const pipeIn = chromium.stdio[3] as Writable | null;
    const pipeOut = chromium.stdio[4] as Readable | null;
    if (pipeIn === null || pipeOut === null) throw this.#startError('Chromium has no DevTools pipe');
    // Ignored: a pipe write after Chromium died (the exit is reported on its own).
    pipeIn.on('error', () => {});
    drainDevToolsReplies(pipeOut, (reply) => {
      if (reply.id === 1 && reply.error !== undefined)
        this.#fail(this.#startError(`Chromium could not open the volunteer page: ${JSON.stringify(reply.error)}`));
    });
    const url = `http://127.0.0.1:${port}/headless/index.html#key=${this.#key.toString('base64url')}`;
    pipeIn.write(`${JSON.stringify({ id: 1, method: 'Target.createTarget', params: { url } })}\0`);
    await ready;
    this.#onReport = undefined;
    chromium.on('exit', (code, signal) =>
      this.#fail(new ChromiumEngineError('ENGINE_FAILED', `Chromium exited (${signal ?? `code ${code}`}): the volunteer stopped relaying`)),
    );
  }

  #startError(message: string): ChromiumEngineError {
    const tail = this.#stderrTail.trim().split('\n').slice(-5).join('\n');
    return new ChromiumEngineError('ENGINE_START_FAILED', tail.length > 0 ? `${message}; Chromium said:\n${tail}` : message);
  }

  #fail(error: ChromiumEngineError): void {
    if (this.#stopping || this.#failed) return;
    this.#failed = true;
    this.#options.onFailure(error);
  }

  #send(command: EngineCommand): void {
    if (this.#link?.readyState === 1) this.#link.send(JSON.stringify(command));
  }

  /** One link, from the page this engine opened: the key proves it. Anything else is refused. */
  #acceptLink(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const offered = Buffer.from(url.searchParams.get('key') ?? '', 'base64url');
    const keyMatches = offered.length === this.#key.length && timingSafeEqual(offered, this.#key);
    if (url.pathname !== ENGINE_LINK_PATH || !keyMatches || this.#link !== undefined) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.#links.handleUpgrade(request, socket, head, (link) => {
      this.#link = link;
      link.on('message', (data, isBinary) => {
        let report: EngineReport;
        try {
          if (isBinary) throw new Error('a binary link message');
          report = parseEngineReport(data.toString());
        } catch (error) {
          this.#fail(
            new ChromiumEngineError('ENGINE_FAILED', `the volunteer page sent a bad message: ${error instanceof Error ? error.message : String(error)}`),
          );
          return;
        }
        this.#receive(report);
      });
      link.on('close', () => this.#fail(new ChromiumEngineError('ENGINE_FAILED', 'the volunteer page closed its link: the volunteer stopped relaying')));
    });
  }

  #receive(report: EngineReport): void {
    this.#onReport?.(report);
    switch (report.type) {
      case 'status':
        this.#lastStatus = report.status;
        this.#options.onStatus(report.status);
        break;
      case 'usage':
        this.#options.onUsage?.(report.usage);
        break;
      case 'failed':
        this.#fail(new ChromiumEngineError('ENGINE_FAILED', `the volunteer page could not relay: ${report.message}`));
        break;
      case 'ready':
      case 'stopped':
        break;
    }
  }

  /** GET of a file of the built site, nothing else; no listing, no path outside it. */
  #serveFile(request: IncomingMessage, response: ServerResponse): void {
    const file = fileUnder(this.#siteDirectory, new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    if (request.method !== 'GET' || file === undefined || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(request.method === 'GET' ? 404 : 405).end();
      return;
    }
    response.writeHead(200, { 'Content-Type': contentTypeOf(file), 'Cache-Control': 'no-store' });
    response.end(readFileSync(file));
  }

  /** Ends Chromium (SIGTERM to its group, SIGKILL after CHROMIUM_KILL_GRACE_MS), the server and the profile. */
  async #end(): Promise<void> {
    this.#stopping = true;
    this.#link?.terminate();
    const chromium = this.#chromium;
    if (chromium?.pid !== undefined && chromium.exitCode === null && chromium.signalCode === null) {
      const exited = new Promise<void>((resolveExit) => chromium.once('exit', () => resolveExit()));
      killGroup(chromium.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(chromium.pid as number, 'SIGKILL'), CHROMIUM_KILL_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    // Chromium's helpers may outlive the browser process by a moment; the group is ended for sure.
    if (chromium?.pid !== undefined) killGroup(chromium.pid, 'SIGKILL');
    this.#links.close();
    await new Promise<void>((closed) => this.#server.close(() => closed()));
    rmSync(this.#userDataDir, { recursive: true, force: true });
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Reads DevTools replies (JSON, each ended by NUL) so Chromium never blocks on a full pipe; hands each to `onReply`. */
function drainDevToolsReplies(pipe: Readable, onReply: (reply: { id?: number; error?: unknown }) => void): void {
  let pending = '';
  pipe.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    let end = pending.indexOf('\0');
    while (end !== -1) {
      try {
        onReply(JSON.parse(pending.slice(0, end)) as { id?: number; error?: unknown });
      } catch {
        // not ours to judge: only our own request's reply matters
      }
      pending = pending.slice(end + 1);
      end = pending.indexOf('\0');
    }
    if (pending.length > MAX_DEVTOOLS_REPLY_BYTES) pending = '';
  });
  pipe.on('error', () => {});
}
