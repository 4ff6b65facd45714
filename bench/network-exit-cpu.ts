/**
 * @module bench/network-exit-cpu
 * CPU per GiB relayed: the same bytes between the same endpoints through a `ferry exit` process (client sessions,
 * one stream each, to a plain TCP origin: decrypt/encrypt, frames, credit, acknowledgements, WebSocket) and through a
 * plain Node TCP relay process (bench/tcp-relay.ts, the baseline), both ways: downloads (origin -> client) and
 * uploads (client -> origin). CPU is each relaying process's utime + stime over its transfer; the client and the
 * origin run in this process and are not counted.
 */
import { connect } from 'node:net';
import { withTimeout } from '../harness/wait.ts';
import { drainStream, fillStream, type OpenSession, openExitSessions } from './exit-client.ts';
import { startOriginPump } from './origin-pump.ts';
import { readCpuSeconds, startCpuWindow } from './process-stats.ts';
import { startTcpRelayProcess } from './server-processes.ts';
import { SourceAddresses } from './source-addresses.ts';

const GIB = 1024 ** 3;
/** Longest one transfer of the whole amount may take (ms). */
const TRANSFER_TIMEOUT_MS = 300_000;
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
}

export interface ExitCpuOptions {
  exit: { url: string; publicKey: string; pid: number };
  /** Bytes each way per path, split over `streams` connections (or sessions). */
  totalBytes: number;
  streams: number;
  addressBlock: number;
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
    let left = totalBytes;
    const pump = (): void => {
      while (left > 0) {
        const piece = left >= UPLOAD_CHUNK.length ? UPLOAD_CHUNK : UPLOAD_CHUNK.subarray(0, left);
        left -= piece.length;
        if (!socket.write(piece)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end(() => resolve());
    };
    socket.once('connect', pump);
  });
}

function expectBytes(received: number[], each: number, what: string): void {
  for (const bytes of received) if (bytes !== each) throw new Error(`${what}: a connection carried ${bytes} bytes, not ${each}`);
}

export async function measureExitCpu(options: ExitCpuOptions): Promise<ExitCpuResult> {
  const { streams } = options;
  const each = Math.floor(options.totalBytes / streams);
  const bytes = each * streams;
  const origin = await startOriginPump(each);
  const relayProcess = await startTcpRelayProcess([origin.sourcePort, origin.sinkPort]).catch(async (error: unknown) => {
    await origin.close();
    throw error;
  });
  const relay = { pid: relayProcess.pid, downloadPort: relayProcess.ports[0] ?? 0, uploadPort: relayProcess.ports[1] ?? 0 };
  let sessions: OpenSession[] = [];
  try {
    const opened = await openExitSessions(
      { url: options.exit.url, publicKey: options.exit.publicKey },
      { count: streams, perAddress: 1, concurrency: streams, addresses: new SourceAddresses(options.addressBlock), timeoutMs: 20_000 },
    );
    sessions = opened.sessions;
    if (sessions.length < streams) throw new Error(`only ${sessions.length} of ${streams} exit sessions opened: ${JSON.stringify([...opened.failed])}`);
    let sinkConnections = 0;
    const exitDownload = await timed(options.exit.pid, bytes, async () => {
      const received = await Promise.all(sessions.map(({ session }) => drainStream(session.openStream({ host: '127.0.0.1', port: origin.sourcePort }))));
      expectBytes(received, each, 'a download through the exit');
    });
    const relayDownload = await timed(relay.pid, bytes, async () => {
      expectBytes(await Promise.all(sessions.map(() => tcpDownload(relay.downloadPort))), each, 'a download through the plain relay');
    });
    const exitUpload = await timed(options.exit.pid, bytes, async () => {
      sinkConnections += streams;
      const sinkBytesBefore = origin.sinkBytes;
      await Promise.all(sessions.map(({ session }) => fillStream(session.openStream({ host: '127.0.0.1', port: origin.sinkPort }), UPLOAD_CHUNK, each)));
      await origin.sinkEnded(sinkConnections);
      if (origin.sinkBytes - sinkBytesBefore !== bytes)
        throw new Error(`the origin got ${origin.sinkBytes - sinkBytesBefore} bytes through the exit, not ${bytes}`);
    });
    const relayUpload = await timed(relay.pid, bytes, async () => {
      sinkConnections += streams;
      const sinkBytesBefore = origin.sinkBytes;
      await Promise.all(sessions.map(() => tcpUpload(relay.uploadPort, each)));
      await origin.sinkEnded(sinkConnections);
      if (origin.sinkBytes - sinkBytesBefore !== bytes)
        throw new Error(`the origin got ${origin.sinkBytes - sinkBytesBefore} bytes through the relay, not ${bytes}`);
    });
    const perGiB = (down: TransferFigure, up: TransferFigure): number => (down.cpuSeconds + up.cpuSeconds) / ((down.bytes + up.bytes) / GIB);
    const exitCpuPerGiB = perGiB(exitDownload, exitUpload);
    const relayCpuPerGiB = perGiB(relayDownload, relayUpload);
    return { exitDownload, relayDownload, exitUpload, relayUpload, exitCpuPerGiB, relayCpuPerGiB, ratio: exitCpuPerGiB / relayCpuPerGiB };
  } finally {
    for (const session of sessions) session.close();
    await relayProcess.stop();
    await origin.close();
  }
}
