/**
 * @module harness/servers
 * A broker and an exit for a network on this machine: inside this process (tests: the exit's wire tap sees what
 * volunteers carry), or as their own processes started through the `ferry` command (the demo), each waited for until
 * it prints its ready line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitServer } from '../exit-server/exit-server.ts';
import { nodeFlagsForCommand } from '../protocol/adapters/node-flags.ts';
import { generateKeyPair, type KeyPair, toBase64Url } from '../protocol/index.ts';
import type { RendezvousChannel } from '../protocol/rendezvous.ts';
import type { ExitInfo } from '../protocol/signaling.ts';
import { createBroker } from '../signaling-server/broker.ts';
import type { BrokerMetricsSnapshot } from '../signaling-server/metrics.ts';
import { LocalOperator } from './operator.ts';
import { REPO_ROOT } from './paths.ts';
import { terminate } from './processes.ts';

/** A server child process must print its ready line within this time. */
const SERVER_READY_TIMEOUT_MS = 20_000;

export class NetworkStartError extends Error {
  override name = 'NetworkStartError';
  readonly code = 'FERRY_ERR_NETWORK_START';
}

export interface NetworkServers {
  brokerUrl: string;
  exit: ExitInfo;
  /** The operator key that signed the broker's exit list: what volunteers, clients and the helper pin. */
  exitListKey: string;
  brokerPid: number;
  exitPid: number;
  stop(): Promise<void>;
}

/** Broker and exit inside this process (tests: the exit's wire tap sees what volunteers carry). */
export async function startServersInProcess(
  options: Pick<ConstructorParameters<typeof ExitServer>[0], 'wireTap' | 'onStreamRequest'> & {
    /** The broker's port; any free one when absent (a test that must name it before it starts picks one). */
    brokerPort?: number;
    /** The broker's sealing key, and the channels the signed list names for it (protocol/rendezvous.ts). */
    rendezvous?: { keyPair: KeyPair; channels: RendezvousChannel[] };
  } = {},
): Promise<NetworkServers & { exitServer: ExitServer; brokerMetrics(): Promise<BrokerMetricsSnapshot> }> {
  const { brokerPort, rendezvous, ...exitOptions } = options;
  const exitServer = new ExitServer({ keyPair: generateKeyPair(), config: { port: 0, allowLoopback: true }, ...exitOptions });
  const { url } = await exitServer.listen();
  const exit: ExitInfo = { id: 'local', url, publicKey: exitServer.publicKey };
  const operator = new LocalOperator();
  const signedRendezvous = rendezvous === undefined ? undefined : { brokerKey: toBase64Url(rendezvous.keyPair.publicKey), channels: rendezvous.channels };
  const broker = createBroker({
    port: brokerPort ?? 0,
    exitList: operator.signExitList([exit], signedRendezvous === undefined ? {} : { rendezvous: signedRendezvous }),
    rendezvousKeyPair: rendezvous?.keyPair,
  });
  const { port } = await broker.listen();
  return {
    brokerUrl: `http://127.0.0.1:${port}`,
    exit,
    exitListKey: operator.exitListKey,
    exitServer,
    brokerMetrics: () => broker.metrics(),
    brokerPid: process.pid,
    exitPid: process.pid,
    stop: async () => {
      await broker.close();
      await exitServer.close();
    },
  };
}

/** Runs `ferry <args>` as its own process (with the node flags the command wants: protocol/adapters/node-flags.ts) and waits for the line matching `readyPattern` (stdout). */
export function spawnFerry(args: string[], readyPattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, [...nodeFlagsForCommand(args[0]), join(REPO_ROOT, 'bin', 'ferry.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolvePromise, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new NetworkStartError(`"ferry ${args[0]}" printed no ready line within ${SERVER_READY_TIMEOUT_MS} ms: ${output.slice(-400)}`));
    }, SERVER_READY_TIMEOUT_MS);
    const onStderr = (chunk: Buffer): void => {
      output += chunk.toString();
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = readyPattern.exec(output);
      if (match) {
        clearTimeout(timer);
        // From now on: keep both pipes drained (a full pipe would block the child), pass its problems on, and keep
        // nothing in memory.
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.off('data', onStderr);
        child.stderr?.pipe(process.stderr, { end: false });
        resolvePromise({ child, match });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onStderr);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new NetworkStartError(`"ferry ${args[0]}" exited with code ${code}: ${output.slice(-400)}`));
    });
  });
}

/** Broker and exit as their own processes, started through the `ferry` command (the demo). */
export async function startServerProcesses(options: { brokerPort: number; exitPort: number }): Promise<NetworkServers> {
  const exitStarted = await spawnFerry(
    ['exit', '--port', String(options.exitPort), '--allow-loopback'],
    /ferry exit: (ws:\/\/\S+) ready, public key (\S+) \(pid (\d+)\)/,
  );
  const [, url = '', publicKey = ''] = exitStarted.match;
  const exit: ExitInfo = { id: 'local', url, publicKey };
  // This run's operator: a fresh key signs the list in this process; only the signed list goes to the broker.
  const operator = new LocalOperator();
  const listDir = await mkdtemp(join(tmpdir(), 'ferry-exit-list-'));
  const listFile = join(listDir, 'exit-list.json');
  let brokerStarted: Awaited<ReturnType<typeof spawnFerry>>;
  try {
    await writeFile(listFile, JSON.stringify(operator.signExitList([exit])));
    brokerStarted = await spawnFerry(
      ['broker', '--port', String(options.brokerPort), '--exit-list', listFile, '--exit-list-key', operator.exitListKey],
      /ferry broker: (http:\/\/\S+) ready/,
    );
  } catch (error) {
    await terminate(exitStarted.child);
    throw error;
  } finally {
    // The broker reads the list once at start-up.
    await rm(listDir, { recursive: true, force: true });
  }
  const brokerChild = brokerStarted.child;
  return {
    brokerUrl: brokerStarted.match[1] ?? '',
    exit,
    exitListKey: operator.exitListKey,
    brokerPid: brokerChild.pid ?? 0,
    exitPid: exitStarted.child.pid ?? 0,
    stop: async () => {
      await Promise.all([terminate(brokerChild), terminate(exitStarted.child)]);
    },
  };
}
