/**
 * @module bench/network-exit-cpu
 * CPU per GiB relayed: the same bytes between the same endpoints through a `ferry exit` process (client sessions,
 * one stream each, to a plain TCP origin: decrypt/encrypt, frames, credit, acknowledgements, WebSocket) and through a
 * plain Node TCP relay process (bench/tcp-relay.ts, the baseline), both ways: downloads (origin -> client) and
 * uploads (client -> origin). CPU is each relaying process's utime + stime over its transfer; the client and the
 * origin run in this process and are not counted. One uncounted warm-up round, then DEFAULT_ROUNDS rounds of all four
 * transfers, interleaved so both processes see the same moments of the machine; each figure is its median.
 */
import { connect } from 'node:net';
import { withTimeout } from '../harness/wait.ts';
import { drainStream, fillStream, type OpenSession, openExitSessions } from './exit-client.ts';
import { type OriginPump, pumpBytes, startOriginPump } from './origin-pump.ts';
import { readCpuSeconds, startCpuWindow } from './process-stats.ts';
import { startTcpRelayProcess } from './server-processes.ts';
import { SourceAddresses } from './source-addresses.ts';

const GIB = 1024 ** 3;
/** Longest one transfer of the whole amount may take (ms). */
const TRANSFER_TIMEOUT_MS = 300_000;
/** Rounds of all four transfers, interleaved, after one warm-up: the figures are their medians (a busy moment of the machine in one transfer moves a median far less than a single run). */
const DEFAULT_ROUNDS = 3;
/** Bytes each way per path in the uncounted warm-up round. */
const WARM_UP_BYTES = 128 * 1024 * 1024;
/** One write's worth for uploads. */
const UPLOAD_CHUNK = new Uint8Array(64 * 1024).fill(0x5a);

export interface TransferFigure {
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  cpuSecondsPerGiB: number;
  megabytesPerSecond: number;
  /** Cores this process (client and origin) used meanwhile. */
  loadGeneratorCores: number;
}

export interface ExitCpuResult {
  exitDownload: TransferFigure;
  relayDownload: TransferFigure;
  exitUpload: TransferFigure;
  relayUpload: TransferFigure;
  /** Both directions together, CPU seconds per GiB. */
  exitCpuPerGiB: number;
  relayCpuPerGiB: number;
  ratio: number;
  /** Each measured round's own ratio, in order: how far the figures move from round to round. */
  roundRatios: number[];
  /** Bytes of each measured transfer. */
  bytesPerTransfer: number;
}

export interface ExitCpuOptions {
  exit: { url: string; publicKey: string; pid: number };
  /** Bytes each way per path, split over `streams` connections (or sessions). */
  totalBytes: number;
  streams: number;
  addressBlock: number;
  /** Measured rounds (default DEFAULT_ROUNDS); each transfer's figure is the median over them. */
  rounds?: number;
}

async function timed(pid: number, bytes: number, transfer: () => Promise<void>): Promise<TransferFigure> {
  const window = startCpuWindow({ relay: [pid], 'load generator': [process.pid] });
  const cpuBefore = readCpuSeconds(pid);
  await withTimeout(transfer(), 'a relayed transfer', TRANSFER_TIMEOUT_MS);
  const cpuSeconds = readCpuSeconds(pid) - cpuBefore;
  const share = window.stop();
  return {
    bytes,
    seconds: share.seconds,
    cpuSeconds,
    cpuSecondsPerGiB: cpuSeconds / (bytes / GIB),
    megabytesPerSecond: bytes / 1e6 / share.seconds,
    loadGeneratorCores: share.cores['load generator'] ?? 0,
  };
}

/** Reads one plain TCP connection to `port` to its end; resolves with the bytes read. */
function tcpDownload(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('data', (data: Buffer) => {
      bytes += data.length;
    });
    socket.once('end', () => {
      socket.end();
      resolve(bytes);
    });
    socket.once('error', reject);
  });
}

/** Writes `totalBytes` into one plain TCP connection to `port` with backpressure, then ends it. */
function tcpUpload(port: number, totalBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.resume();
    socket.once('connect', () => pumpBytes(socket, UPLOAD_CHUNK, totalBytes, () => socket.end(() => resolve())));
  });
}

function expectBytes(received: number[], each: number, what: string): void {
  for (const bytes of received) if (bytes !== each) throw new Error(`${what}: a connection carried ${bytes} bytes, not ${each}`);
}

/** The four transfers of one round, each `each` bytes per connection over every session. */
interface Round {
  exitDownload: TransferFigure;
  relayDownload: TransferFigure;
  exitUpload: TransferFigure;
  relayUpload: TransferFigure;
}

/** CPU seconds per GiB over a download and an upload together. */
const perGiB = (down: TransferFigure, up: TransferFigure): number => (down.cpuSeconds + up.cpuSeconds) / ((down.bytes + up.bytes) / GIB);

/** The figure with the median CPU per GiB (the lower middle one for an even count). */
function median(figures: TransferFigure[]): TransferFigure {
  const sorted = [...figures].sort((a, b) => a.cpuSecondsPerGiB - b.cpuSecondsPerGiB);
  const middle = sorted[Math.floor((sorted.length - 1) / 2)];
  if (middle === undefined) throw new Error('no transfer was measured');
  return middle;
}

export async function measureExitCpu(options: ExitCpuOptions): Promise<ExitCpuResult> {
  const { streams } = options;
  const rounds = Math.max(1, options.rounds ?? DEFAULT_ROUNDS);
  const each = Math.floor(options.totalBytes / streams);
  const bytes = each * streams;
  const warmUpEach = Math.min(each, Math.floor(WARM_UP_BYTES / streams));
  const origin = await startOriginPump(each);
  const warmUpOrigin = await startOriginPump(warmUpEach).catch(async (error: unknown) => {
    await origin.close();
    throw error;
  });
  const relayProcess = await startTcpRelayProcess([origin.sourcePort, origin.sinkPort, warmUpOrigin.sourcePort, warmUpOrigin.sinkPort]).catch(
    async (error: unknown) => {
      await Promise.all([origin.close(), warmUpOrigin.close()]);
      throw error;
    },
  );
  let sessions: OpenSession[] = [];
  try {
    const opened = await openExitSessions(
      { url: options.exit.url, publicKey: options.exit.publicKey },
      { count: streams, perAddress: 1, concurrency: streams, addresses: new SourceAddresses(options.addressBlock), timeoutMs: 20_000 },
    );
    sessions = opened.sessions;
    if (sessions.length < streams) throw new Error(`only ${sessions.length} of ${streams} exit sessions opened: ${JSON.stringify([...opened.failed])}`);
    const sinkConnections = new Map<OriginPump, number>();

    /** One download and one upload through the exit and through the relay, `perConnection` bytes each way per session. */
    const round = async (pump: OriginPump, relayPorts: { download: number; upload: number }, perConnection: number): Promise<Round> => {
      const total = perConnection * streams;
      const upload = async (what: string, send: () => Promise<unknown>): Promise<void> => {
        const ended = (sinkConnections.get(pump) ?? 0) + streams;
        sinkConnections.set(pump, ended);
        const sinkBytesBefore = pump.sinkBytes;
        await send();
        await pump.sinkEnded(ended);
        if (pump.sinkBytes - sinkBytesBefore !== total)
          throw new Error(`the origin got ${pump.sinkBytes - sinkBytesBefore} bytes through ${what}, not ${total}`);
      };
      const exitDownload = await timed(options.exit.pid, total, async () => {
        const received = await Promise.all(sessions.map(({ session }) => drainStream(session.openStream({ host: '127.0.0.1', port: pump.sourcePort }))));
        expectBytes(received, perConnection, 'a download through the exit');
      });
      const relayDownload = await timed(relayProcess.pid, total, async () => {
        expectBytes(await Promise.all(sessions.map(() => tcpDownload(relayPorts.download))), perConnection, 'a download through the plain relay');
      });
      const exitUpload = await timed(options.exit.pid, total, () =>
        upload('the exit', () =>
          Promise.all(sessions.map(({ session }) => fillStream(session.openStream({ host: '127.0.0.1', port: pump.sinkPort }), UPLOAD_CHUNK, perConnection))),
        ),
      );
      const relayUpload = await timed(relayProcess.pid, total, () =>
        upload('the plain relay', () => Promise.all(sessions.map(() => tcpUpload(relayPorts.upload, perConnection)))),
      );
      return { exitDownload, relayDownload, exitUpload, relayUpload };
    };

    // Not counted: both processes run their code once before it is measured (V8 compiles hot functions on first use).
    await round(warmUpOrigin, { download: relayProcess.ports[2] ?? 0, upload: relayProcess.ports[3] ?? 0 }, warmUpEach);
    const measured: Round[] = [];
    for (let index = 0; index < rounds; index++) {
      measured.push(await round(origin, { download: relayProcess.ports[0] ?? 0, upload: relayProcess.ports[1] ?? 0 }, each));
    }
    const pick = (key: keyof Round): TransferFigure => median(measured.map((figures) => figures[key]));
    const exitDownload = pick('exitDownload');
    const relayDownload = pick('relayDownload');
    const exitUpload = pick('exitUpload');
    const relayUpload = pick('relayUpload');
    const exitCpuPerGiB = perGiB(exitDownload, exitUpload);
    const relayCpuPerGiB = perGiB(relayDownload, relayUpload);
    const roundRatios = measured.map((figures) => perGiB(figures.exitDownload, figures.exitUpload) / perGiB(figures.relayDownload, figures.relayUpload));
    return {
      exitDownload,
      relayDownload,
      exitUpload,
      relayUpload,
      exitCpuPerGiB,
      relayCpuPerGiB,
      ratio: exitCpuPerGiB / relayCpuPerGiB,
      roundRatios,
      bytesPerTransfer: bytes,
    };
  } finally {
    for (const session of sessions) session.close();
    await relayProcess.stop();
    await Promise.all([origin.close(), warmUpOrigin.close()]);
  }
}
