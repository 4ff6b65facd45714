/**
 * @module harness/processes
 * Ending the processes the harness starts, by PID and with their whole process group (a browser's renderers, a
 * helper a browser started): politely first, then for sure.
 */

import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/** Grace a process gets after SIGTERM before SIGKILL (ms). */
export const TERMINATE_GRACE_MS = 5_000;

/** Sends `signal` to the child's process group (it was spawned detached), or to the child alone. */
export function killTree(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      process.kill(child.pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM, then SIGKILL if the process is still there after a grace period. */
export async function terminate(child: ChildProcess, graceMs = TERMINATE_GRACE_MS): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killTree(child, 'SIGTERM');
  const timer = setTimeout(() => killTree(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * The lines a child process writes to `stream`, collected as they come (the array grows), for a test to wait on a
 * ready line or to show in a failure message.
 */
export function collectLines(stream: Readable | null): string[] {
  const collected: string[] = [];
  let partial = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    collected.push(...parts);
  });
  return collected;
}
