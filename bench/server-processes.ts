/**
 * @module bench/server-processes
 * The servers under test, each as its own `ferry broker` or `ferry exit` process (harness/servers.ts spawnFerry), so
 * their memory and CPU can be read from /proc apart from the load generator's. Each gets its open-file limit raised
 * (prlimit) right after it is ready, before any load: an operator running 20,000 volunteers needs the same
 * (LimitNOFILE= in a systemd unit, or `ulimit -n` before starting). Each is ended by its PID.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalOperator } from '../harness/operator.ts';
import { REPO_ROOT } from '../harness/paths.ts';
import { terminate } from '../harness/processes.ts';
import { spawnFerry } from '../harness/servers.ts';
import { withTimeout } from '../harness/wait.ts';
import type { ExitInfo } from '../protocol/signaling.ts';
import { raiseOpenFileLimit } from './process-stats.ts';
import type { TcpRelayReady } from './tcp-relay.ts';

/** A relay process must report its ports within this time (ms). */
const RELAY_READY_TIMEOUT_MS = 20_000;

export interface ServerProcess {
  pid: number;
  /** The broker's http://127.0.0.1:PORT, or the exit's ws://127.0.0.1:PORT/v1/relay. */
  url: string;
  /** The exit's public key (base64url); empty for a broker. */
  publicKey: string;
  /** The open-file limit in force after raising it, and why raising failed, if it did. */
  openFileLimit: { soft: number; error: string | undefined };
  stop(): Promise<void>;
}

/** Every process this module started and has not stopped: stopAllServers() ends them, on success or failure. */
const running = new Set<ChildProcess>();

async function started(
  args: string[],
  readyPattern: RegExp,
  openFiles: number,
): Promise<{ child: ChildProcess; match: RegExpExecArray; openFileLimit: ServerProcess['openFileLimit'] }> {
  const { child, match } = await spawnFerry(args, readyPattern);
  running.add(child);
  child.once('exit', () => running.delete(child));
  const openFileLimit = raiseOpenFileLimit(child.pid ?? 0, openFiles);
  return { child, match, openFileLimit };
}

/** An exit list of one exit, signed by a fresh operator key, in a temporary file for `--exit-list`. */
export async function writeExitListFile(exit: ExitInfo): Promise<{ path: string; exitListKey: string; remove(): Promise<void> }> {
  const operator = new LocalOperator();
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-network-'));
  const path = join(dir, 'exit-list.json');
  await writeFile(path, JSON.stringify(operator.signExitList([exit])));
  return { path, exitListKey: operator.exitListKey, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface BrokerProcessOptions {
  exitListFile: string;
  exitListKey: string;
  /** Share volunteers through this Redis (--redis). */
  redisUrl?: string | undefined;
  redisPrefix?: string | undefined;
  openFiles: number;
}

/** `ferry broker --port 0 --exit-list FILE --exit-list-key KEY [--redis URL --redis-prefix P]`: no limit is changed. */
export async function startBrokerProcess(options: BrokerProcessOptions): Promise<ServerProcess> {
  const args = ['broker', '--port', '0', '--exit-list', options.exitListFile, '--exit-list-key', options.exitListKey];
  if (options.redisUrl !== undefined) args.push('--redis', options.redisUrl, '--redis-prefix', options.redisPrefix ?? 'ferry-bench:');
  const { child, match, openFileLimit } = await started(args, /ferry broker: (http:\/\/\S+) ready/, options.openFiles);
  return { pid: child.pid ?? 0, url: match[1] ?? '', publicKey: '', openFileLimit, stop: () => stop(child) };
}

/** `ferry exit --port 0 --allow-loopback` plus `extraArgs`. */
export async function startExitProcess(extraArgs: readonly string[], openFiles: number): Promise<ServerProcess> {
  const { child, match, openFileLimit } = await started(
    ['exit', '--port', '0', '--allow-loopback', ...extraArgs],
    /ferry exit: (ws:\/\/\S+) ready, public key (\S+) \(pid (\d+)\)/,
    openFiles,
  );
  return { pid: child.pid ?? 0, url: match[1] ?? '', publicKey: match[2] ?? '', openFileLimit, stop: () => stop(child) };
}

/** The plain TCP relay (bench/tcp-relay.ts) in its own process, relaying port i to targetPorts[i]. */
export async function startTcpRelayProcess(targetPorts: readonly number[]): Promise<{ pid: number; ports: number[]; stop(): Promise<void> }> {
  const child = fork(join(REPO_ROOT, 'bench', 'tcp-relay.ts'), targetPorts.map(String), {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  try {
    const ready = await withTimeout(
      new Promise<TcpRelayReady>((resolve, reject) => {
        child.once('message', (message: TcpRelayReady) => resolve(message));
        child.once('exit', (code) => reject(new Error(`the TCP relay exited (${code}) before it was ready`)));
      }),
      'the plain TCP relay to listen',
      RELAY_READY_TIMEOUT_MS,
    );
    return { pid: child.pid ?? 0, ports: ready.ports, stop: () => stop(child) };
  } catch (error) {
    await stop(child);
    throw error;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  await terminate(child);
  running.delete(child);
}

/** Ends every server process still running (SIGTERM, then SIGKILL after a grace), each by its PID. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((child) => stop(child)));
}
