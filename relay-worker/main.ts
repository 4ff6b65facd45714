/**
 * @module relay-worker/main
 * `ferry volunteer`: a headless volunteer, the same RelayWorker every shell runs, in one of two engines: by default
 * in a page of its own headless Chromium (chromium-engine.ts), so that its DTLS handshake is a browser's; or, chosen
 * explicitly, in this process on node-datachannel (node.ts), lighter but with libdatachannel's handshake, which
 * censors filter (docs/threat-model.md). Parses flags, prints one ready line once the broker has welcomed it, and
 * stops cleanly on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_NAT_DISCOVERY_TIMEOUT_MS, measureNatClassOrUnknown, NatDiscoveryError, parseStunUrl } from '../protocol/adapters/nat-discovery.ts';
import { idleRelayStatus, type RelayState, type RelayStatus } from '../protocol/relay-status.ts';
import { MAX_VOLUNTEER_SLOTS, NAT_CLASSES, type NatClass } from '../protocol/signaling.ts';
import { CHROMIUM_CANDIDATES, ChromiumEngine, type ChromiumEngineError } from './chromium-engine.ts';
import { createRelayWorkerConfig, DEFAULT_RELAY_WORKER_CONFIG, type RelayWorkerConfig, type RelayWorkerOptions } from './config.ts';
import { MIN_MONTHLY_DATA_CAP_BYTES, type UsageStore } from './monthly-cap.ts';
import { fileUsageStore, nodeRelayEnvironment } from './node.ts';
import { startVolunteerMetricsServer } from './node-metrics.ts';
import { MIN_RATE_LIMIT_BYTES_PER_SECOND } from './rate-limit.ts';
import { RelayWorker } from './relay-worker.ts';
import { RELAY_STATE_WORDING, summaryLine, type TrafficSnapshot } from './status.ts';

/** Default seconds between two summary lines on stderr. */
export const DEFAULT_SUMMARY_EVERY_SECONDS = 60;
/**
 * After SIGINT/SIGTERM the process ends by itself once its sockets have closed; if something still holds it (a peer
 * connection's native threads under load), it is ended after this long (ms), so a service manager's stop never hangs.
 */
export const STOP_GRACE_MS = 3_000;

const CHROMIUM_SEARCH_TEXT = `the first of ${CHROMIUM_CANDIDATES.join(', ')}`;

/** Where the relay runs: a page of its own headless Chromium (the default), or this process on node-datachannel. */
export const VOLUNTEER_ENGINES = ['chromium', 'node-datachannel'] as const;
export type VolunteerEngine = (typeof VOLUNTEER_ENGINES)[number];

export const VOLUNTEER_USAGE = `Usage: ferry volunteer --broker URL --exit-list-key KEY [--max-clients N] [--max-mbps R] [--stun URL] [--nat CLASS]

Relays for people behind censorship: holds a connection to the Ferry broker and passes each client's encrypted
traffic to a Ferry exit. You see neither what they send nor where it goes.

  --broker URL       the broker's http(s) base URL, e.g. https://broker.example.org
  --exit-list-key KEY
                     the network operator's exit-list key (base64url Ed25519; repeatable): you relay only to exits
                     on a list it signed, so the broker cannot aim you at an address of its choosing
  --max-clients N    most people helped at once (default ${DEFAULT_RELAY_WORKER_CONFIG.maxClients}, at most ${MAX_VOLUNTEER_SLOTS})
  --stun URL         the network's STUN server, stun:host[:port] (repeatable): used for WebRTC, and at start to
                     measure your NAT class (RFC 5780, at most ${DEFAULT_NAT_DISCOVERY_TIMEOUT_MS / 1000} s) with the first that supports it
  --nat CLASS        announce this NAT class instead of measuring it: ${NAT_CLASSES.join(', ')}
  --pairing-token T  a pairing link's token (from "ferry pairing new"; repeatable): whoever holds the link is
                     matched to you alone, on slots nobody else gets
  --personal-slots N most holders of your links helped at once, on top of --max-clients (default ${DEFAULT_RELAY_WORKER_CONFIG.maxPersonalClients})
  --max-mbps R       bandwidth cap in megabits a second, both directions and all people together, e.g. 10 or
                     0.5 (default: none; at least ${(MIN_RATE_LIMIT_BYTES_PER_SECOND * 8) / 1e6})
  --monthly-cap-gb N stop helping for the rest of the calendar month (UTC) once N gigabytes were relayed, both
                     directions together (default: none; at least ${MIN_MONTHLY_DATA_CAP_BYTES / 1e9})
  --state-file FILE  keep this month's count in FILE, so a restart does not reset it (default: counted per run)
  --summary-every S  print a one-line summary to stderr every S seconds (default ${DEFAULT_SUMMARY_EVERY_SECONDS}; 0 = never)
  --metrics-port N   serve Prometheus metrics at http://HOST:N/metrics (0 = any free port; default: none)
  --metrics-host H   the address for --metrics-port (default 127.0.0.1)
  --engine E         where the relay runs: chromium (default: a page of its own headless Chromium, so the DTLS
                     handshake censors see is a browser's) or node-datachannel (this process, lighter, but its
                     handshake is libdatachannel's, which some censors filter)
  --chromium PATH    the Chromium to run (default: $FERRY_CHROMIUM, else ${CHROMIUM_SEARCH_TEXT})
  --help             show this text
`;

/** The command line was not understood; the message says how to fix it. */
export class VolunteerUsageError extends Error {
  override readonly name = 'VolunteerUsageError';
  readonly code = 'USAGE';
}

/**
 * Runs `ferry volunteer` until SIGINT or SIGTERM. `argv` holds the arguments after `volunteer`.
 * Prints `ferry volunteer: waiting at BROKER (pid N)` once connected; status changes go to stderr.
 * Throws VolunteerUsageError or RelayWorkerConfigError for a bad command line.
 */
/** The flags after the command name, or VolunteerUsageError saying what is wrong. */
function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        broker: { type: 'string' },
        'exit-list-key': { type: 'string', multiple: true },
        'max-clients': { type: 'string' },
        stun: { type: 'string', multiple: true },
        nat: { type: 'string' },
        'pairing-token': { type: 'string', multiple: true },
        'personal-slots': { type: 'string' },
        'max-mbps': { type: 'string' },
        'monthly-cap-gb': { type: 'string' },
        'state-file': { type: 'string' },
        'summary-every': { type: 'string' },
        'metrics-port': { type: 'string' },
        'metrics-host': { type: 'string' },
        engine: { type: 'string' },
        chromium: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new VolunteerUsageError(`${error instanceof Error ? error.message : String(error)}\n\n${VOLUNTEER_USAGE}`);
  }
}

export async function runVolunteer(argv: string[]): Promise<void> {
  const values = parseFlags(argv);
  if (values.help === true) {
    process.stdout.write(VOLUNTEER_USAGE);
    return;
  }
  if (values.broker === undefined) throw new VolunteerUsageError(`--broker URL is required\n\n${VOLUNTEER_USAGE}`);
  const maxClientsText = values['max-clients'];
  const maxClients = maxClientsText === undefined ? undefined : Number(maxClientsText);
  if (maxClientsText !== undefined && !/^\d+$/.test(maxClientsText)) {
    throw new VolunteerUsageError(`--max-clients must be a whole number from 1 to ${MAX_VOLUNTEER_SLOTS}, got "${maxClientsText}"`);
  }
  const exitListKeys = values['exit-list-key'] ?? [];
  if (exitListKeys.length === 0) throw new VolunteerUsageError(`--exit-list-key KEY is required (ask your broker's operator)\n\n${VOLUNTEER_USAGE}`);
  const brokerUrl = values.broker;
  const stunUrls = values.stun ?? [];
  for (const url of stunUrls) {
    try {
      parseStunUrl(url);
    } catch (error) {
      if (error instanceof NatDiscoveryError) throw new VolunteerUsageError(`--stun: ${error.message}`);
      throw error;
    }
  }
  const natText = values.nat;
  if (natText !== undefined && !(NAT_CLASSES as readonly string[]).includes(natText)) {
    throw new VolunteerUsageError(`--nat must be one of ${NAT_CLASSES.join(', ')}, got "${natText}"`);
  }
  const personalSlotsText = values['personal-slots'];
  if (personalSlotsText !== undefined && !/^\d+$/.test(personalSlotsText)) {
    throw new VolunteerUsageError(`--personal-slots must be a whole number from 0 to ${MAX_VOLUNTEER_SLOTS}, got "${personalSlotsText}"`);
  }
  const maxMbpsText = values['max-mbps'];
  if (maxMbpsText !== undefined && !/^\d+(\.\d+)?$/.test(maxMbpsText)) {
    throw new VolunteerUsageError(`--max-mbps must be a number of megabits a second, like 10 or 0.5, got "${maxMbpsText}"`);
  }
  const maxBytesPerSecond = maxMbpsText === undefined ? 0 : Math.round((Number(maxMbpsText) * 1e6) / 8);
  if (maxMbpsText !== undefined && maxBytesPerSecond < MIN_RATE_LIMIT_BYTES_PER_SECOND) {
    throw new VolunteerUsageError(
      `--max-mbps must be at least ${(MIN_RATE_LIMIT_BYTES_PER_SECOND * 8) / 1e6} (one tunnel record would take over 8 s below it), got "${maxMbpsText}"`,
    );
  }
  const monthlyCapText = values['monthly-cap-gb'];
  if (monthlyCapText !== undefined && !/^\d+(\.\d+)?$/.test(monthlyCapText)) {
    throw new VolunteerUsageError(`--monthly-cap-gb must be a number of gigabytes, like 50 or 0.5, got "${monthlyCapText}"`);
  }
  const monthlyDataCapBytes = monthlyCapText === undefined ? 0 : Math.round(Number(monthlyCapText) * 1e9);
  const stateFile = values['state-file'];
  const summaryEverySeconds = wholeNumberFlag(values['summary-every'], '--summary-every', DEFAULT_SUMMARY_EVERY_SECONDS, 24 * 3600);
  const metricsPort = values['metrics-port'] === undefined ? undefined : wholeNumberFlag(values['metrics-port'], '--metrics-port', 0, 65_535);
  const metricsHost = values['metrics-host'] ?? '127.0.0.1';
  const engineText = values.engine ?? 'chromium';
  if (!(VOLUNTEER_ENGINES as readonly string[]).includes(engineText)) {
    throw new VolunteerUsageError(`--engine must be one of ${VOLUNTEER_ENGINES.join(', ')}, got "${engineText}"`);
  }
  const engine = engineText as VolunteerEngine;
  if (values.chromium !== undefined && engine !== 'chromium') throw new VolunteerUsageError('--chromium goes with --engine chromium only');
  const options: RelayWorkerOptions = {
    brokerUrl,
    maxBytesPerSecond,
    monthlyDataCapBytes,
    kind: 'headless',
    maxClients,
    exitListKeys,
    iceServers: stunUrls.length > 0 ? [{ urls: stunUrls }] : [],
    pairingTokens: values['pairing-token'] ?? [],
    ...(personalSlotsText === undefined ? {} : { maxPersonalClients: Number(personalSlotsText) }),
  };
  // The whole command line is checked before the NAT measurement, so a typo fails at once.
  createRelayWorkerConfig(options);
  // Before the broker hears `hello`: the class travels in it, and the protocol has no later update. Bounded (3 s).
  const nat = (natText as NatClass | undefined) ?? (await measureNatClassOrUnknown(stunUrls, (line) => process.stderr.write(`ferry volunteer: ${line}\n`)));
  const config = createRelayWorkerConfig({ ...options, nat });

  let announcedReady = false;
  let lastState: RelayState | undefined;
  const limits = { maxClients: config.maxClients, maxBytesPerSecond: config.maxBytesPerSecond };
  const onStatus = (status: RelayStatus): void => {
    if (status.state === 'waiting' && !announcedReady) {
      announcedReady = true;
      process.stdout.write(`ferry volunteer: waiting at ${brokerUrl} (pid ${process.pid})\n`);
    } else if (status.state !== lastState && status.state !== 'stopped') {
      const problem =
        status.state === 'broker-unreachable' && status.lastError !== undefined
          ? ` (${status.lastError})`
          : status.state === 'paused' && status.pausedBy !== undefined
            ? `: ${status.pausedBy}`
            : '';
      const people = status.state === 'relaying' ? ` (${status.clientsNow} now, ${status.clientsTotal} in all)` : '';
      process.stderr.write(`ferry volunteer: ${RELAY_STATE_WORDING[status.state]}${people}${problem}\n`);
    }
    lastState = status.state;
  };
  const usageStore = stateFile === undefined ? undefined : fileUsageStore(stateFile);
  // Before the relay starts: the metrics line comes before the ready line, and a scrape never finds no server.
  let relay: RunningRelay | undefined;
  const metrics =
    metricsPort === undefined
      ? undefined
      : await startVolunteerMetricsServer({ host: metricsHost, port: metricsPort, status: () => relay?.status ?? idleRelayStatus('connecting'), ...limits });
  if (metrics !== undefined) process.stdout.write(`ferry volunteer: metrics at ${metrics.url}\n`);
  try {
    relay = await startEngine(engine, { config, onStatus, usageStore, chromiumPath: values.chromium });
  } catch (error) {
    await metrics?.close();
    throw error;
  }
  const running = relay;

  // The summary: what a volunteer running under systemd sees in its journal.
  const relayedNow = (): TrafficSnapshot => ({ at: Date.now(), bytes: running.status.bytesClientToExit + running.status.bytesExitToClient });
  let previous: TrafficSnapshot | undefined = relayedNow();
  const summaryTimer =
    summaryEverySeconds === 0
      ? undefined
      : setInterval(() => {
          const now = relayedNow();
          process.stderr.write(`ferry volunteer: ${summaryLine(running.status, limits, now, previous)}\n`);
          previous = now;
        }, summaryEverySeconds * 1000);

  await new Promise<void>((resolve) => {
    const finish = async (failure?: Error): Promise<void> => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      clearInterval(summaryTimer);
      void metrics?.close();
      if (failure !== undefined) {
        process.stderr.write(`ferry volunteer: ${failure.message}\n`);
        process.exitCode = 1;
      }
      const { clientsTotal, bytesClientToExit, bytesExitToClient } = await running.stop();
      process.stderr.write(`ferry volunteer: stopped after helping ${clientsTotal} people (${bytesClientToExit} bytes up, ${bytesExitToClient} bytes down)\n`);
      // Unref'd: it never keeps the process alive, and fires only if something else does.
      setTimeout(() => process.exit(process.exitCode ?? 0), STOP_GRACE_MS).unref();
      resolve();
    };
    const onSignal = (): void => void finish();
    void running.failed.then((error) => finish(error));
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** A running relay, whichever engine runs it. */
interface RunningRelay {
  readonly status: RelayStatus;
  /** Stops relaying (and ends the engine); resolves with the last status. */
  stop(): Promise<RelayStatus>;
  /** Resolves if the engine stops relaying on its own (Chromium exited); never for node-datachannel. */
  readonly failed: Promise<Error>;
}

interface EngineStart {
  config: Readonly<RelayWorkerConfig>;
  onStatus(status: RelayStatus): void;
  usageStore: UsageStore | undefined;
  chromiumPath: string | undefined;
}

/** Starts the relay in `engine` and returns once it runs (the chromium engine: once its page is ready). */
async function startEngine(engine: VolunteerEngine, start: EngineStart): Promise<RunningRelay> {
  if (engine === 'node-datachannel') {
    const worker = new RelayWorker({
      config: start.config,
      environment: nodeRelayEnvironment(),
      onStatus: start.onStatus,
      ...(start.usageStore === undefined ? {} : { usageStore: start.usageStore }),
    });
    worker.start();
    return {
      get status() {
        return worker.status;
      },
      stop: async () => {
        worker.stop();
        return worker.status;
      },
      failed: new Promise<Error>(() => {}),
    };
  }
  const usage = await start.usageStore?.load();
  let reportFailure: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => {
    reportFailure = resolve;
  });
  const chromium = await ChromiumEngine.start({
    chromiumPath: start.chromiumPath,
    onStatus: start.onStatus,
    // The page keeps no state: the month's count is written here, where the state file is.
    onUsage: (next) =>
      void start.usageStore
        ?.save(next)
        .catch((error: unknown) => process.stderr.write(`ferry volunteer: could not save the monthly count: ${String(error)}\n`)),
    onFailure: (error: ChromiumEngineError) => reportFailure(error),
  });
  process.stderr.write(`ferry volunteer: relaying in Chromium (pid ${chromium.pid}, ${chromium.userAgent})\n`);
  chromium.run(start.config, usage);
  return {
    get status() {
      return chromium.status;
    },
    stop: () => chromium.stop(),
    failed,
  };
}

/** A flag that must be a whole number from 0 to `max`; `fallback` when it is absent. */
function wholeNumberFlag(text: string | undefined, flag: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) > max) throw new VolunteerUsageError(`${flag} must be a whole number from 0 to ${max}, got "${text}"`);
  return Number(text);
}
