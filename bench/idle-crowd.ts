/**
 * @module bench/idle-crowd
 * An idle volunteer crowd of `count` sockets on one broker, held by `workers` child processes
 * (bench/volunteer-worker.ts), each with its own block of source addresses: one process could not hold them all
 * under this machine's open-file limit. Ended by the workers' PIDs.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../harness/paths.ts';
import { terminate } from '../harness/processes.ts';
import { withTimeout } from '../harness/wait.ts';
import type { JoinReport, JoinRequest } from './volunteer-worker.ts';

export interface IdleCrowdOptions {
  /** ws://HOST:PORT/v1/volunteer */
  url: string;
  count: number;
  workers: number;
  perAddress: number;
  /** Second octet of the first worker's address block; worker i uses firstOctet + i. */
  firstSecondOctet: number;
  /** Joins in flight per worker. */
  concurrency: number;
  /** Longest the whole crowd may take to join (ms). */
  timeoutMs: number;
}

export interface IdleCrowd {
  admitted: number;
  refused: Map<string, number>;
  /** Wall time from the first join to the last worker's report (ms). */
  elapsedMs: number;
  workerPids: number[];
  stop(): Promise<void>;
}

export async function startIdleCrowd(options: IdleCrowdOptions): Promise<IdleCrowd> {
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => terminate(child)));
  };
  try {
    const started = performance.now();
    const reports = await withTimeout(
      Promise.all(
        Array.from({ length: options.workers }, (_, index) => {
          const share = Math.floor(options.count / options.workers) + (index < options.count % options.workers ? 1 : 0);
          const child = fork(join(REPO_ROOT, 'bench', 'volunteer-worker.ts'), [], {
            cwd: REPO_ROOT,
            execArgv: ['--import', 'tsx'],
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          children.push(child);
          return new Promise<JoinReport>((resolve, reject) => {
            child.once('message', (report: JoinReport) => resolve(report));
            child.once('exit', (code) => reject(new Error(`volunteer worker ${child.pid} exited (${code}) before reporting`)));
            const request: JoinRequest = {
              type: 'join',
              url: options.url,
              count: share,
              slots: 1,
              perAddress: options.perAddress,
              secondOctet: options.firstSecondOctet + index,
              concurrency: options.concurrency,
              timeoutMs: Math.min(20_000, options.timeoutMs),
            };
            child.send(request);
          });
        }),
      ),
      `${options.count} idle volunteers to join`,
      options.timeoutMs,
    );
    const refused = new Map<string, number>();
    for (const report of reports) for (const [reason, count] of report.refused) refused.set(reason, (refused.get(reason) ?? 0) + count);
    return {
      admitted: reports.reduce((sum, report) => sum + report.admitted, 0),
      refused,
      elapsedMs: performance.now() - started,
      workerPids: children.map((child) => child.pid ?? 0),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
