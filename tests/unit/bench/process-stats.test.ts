// The process-tree CPU reader the volunteer CPU benchmark uses (bench/process-stats.ts): it parses /proc/PID/stat
// lines, finds every descendant of a process through ppid, and sums their CPU ticks plus those of ended children,
// and nothing outside the tree. Behaviour only: no figure here depends on how fast anything ran.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { type ProcStat, parseProcStat, processTree, readAllProcStats, readProcessTreeCpuSeconds, treeCpuTicks } from '../../../bench/process-stats.ts';
import { terminate } from '../../../harness/processes.ts';
import { waitFor } from '../../../harness/wait.ts';

/** A /proc/PID/stat line with the given fields (the rest zero), as Linux writes it. */
function statLine(pid: number, name: string, fields: { ppid: number; utime: number; stime: number; cutime: number; cstime: number }): string {
  // Fields 3..17: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt, majflt, cmajflt, utime, stime, cutime, cstime.
  const rest = ['S', fields.ppid, pid, pid, 0, -1, 4194560, 100, 0, 0, 0, fields.utime, fields.stime, fields.cutime, fields.cstime];
  return `${pid} (${name}) ${rest.join(' ')} 20 0 1 0 12345 1000000 200 18446744073709551615\n`;
}

test('a /proc/PID/stat line parses to pid, ppid, own ticks and ended children ticks, whatever the command name holds', () => {
  const parsed = parseProcStat(statLine(4242, 'Web Content) (x', { ppid: 17, utime: 120, stime: 30, cutime: 5, cstime: 2 }));
  assert.deepEqual(parsed, { pid: 4242, ppid: 17, ownTicks: 150, endedChildrenTicks: 7 });
  assert.throws(() => parseProcStat('not a stat line'), /not a \/proc\/PID\/stat line/);
});

test('the tree holds a process and all its descendants, in any order of listing, and sums their ticks and nothing else', () => {
  const entry = (pid: number, ppid: number, ownTicks: number, endedChildrenTicks = 0): ProcStat => ({ pid, ppid, ownTicks, endedChildrenTicks });
  const processes = [
    entry(12, 11, 3), // a grandchild, listed before its parent
    entry(1, 0, 1000), // init: the root's parent, outside the tree
    entry(10, 1, 5, 2), // the root, which has waited for a child that ended
    entry(11, 10, 7),
    entry(13, 10, 11),
    entry(20, 1, 100), // unrelated, and its child
    entry(21, 20, 50),
  ];
  assert.deepEqual(
    processTree(processes, 10)
      .map((process) => process.pid)
      .sort(),
    [10, 11, 12, 13],
  );
  assert.equal(treeCpuTicks(processes, 10), 5 + 2 + 7 + 3 + 11);
  assert.equal(treeCpuTicks(processes, 21), 50, 'a leaf is a tree of one');
  assert.deepEqual(processTree(processes, 99), [], 'a process that is not listed has no tree');
});

test('read live, the tree of a shell holds the child it started, and a process that is gone is an error', async () => {
  const shell = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore', detached: true });
  const shellPid = shell.pid ?? 0;
  try {
    const tree = await waitFor(() => {
      const found = processTree(readAllProcStats(), shellPid);
      return found.length === 2 ? found : undefined;
    }, 'the shell to start its sleep');
    assert.equal(tree[0]?.pid, shellPid);
    assert.equal(tree[1]?.ppid, shellPid);
    assert.ok(readProcessTreeCpuSeconds(shellPid) >= 0);
  } finally {
    await terminate(shell);
  }
  assert.throws(() => readProcessTreeCpuSeconds(shellPid), /is not running/);
});
