/**
 * @module adapters/node-flags
 * The Node (V8) flags for a Node process that relays records: `ferry exit`, and the helper (`ferry helper`), which
 * both open and seal every byte of a session. Started as `node --initial-old-space-size=64 bin/ferry.js exit`.
 *
 * Why: such a process's own heap is small (about 11 MB live), and V8 sets the next old-generation limit close above
 * it. While records stream through, the young generation grows to its 16 MB maximum, and then the space left below
 * that limit is never more than the young generation's size, which V8 reads as "old space may overflow at the next
 * scavenge" and starts a full mark-compact, again and again: measured on this machine, one every 30 to 40 ms while
 * the exit relays, on four background threads. A 64 MiB floor for the old generation ends that: no mark-compact at
 * all during a 1 GiB transfer, and half the exit's CPU per GiB; the helper's CPU per MiB fell by a third
 * (docs/benchmarks.md). `ferry volunteer` gains nothing from it (libdatachannel's native threads do its work), so it
 * is not given them. The flag must be on the command line: V8 reads it when it creates the heap, so
 * `v8.setFlagsFromString` at run time does nothing, and NODE_OPTIONS does not accept it. Whoever starts these
 * processes (the harness, the demo, the helper's launcher, a systemd unit in docs/operations.md) takes them from
 * here; the exit logs a warning when they are missing.
 */

export const RELAYING_NODE_FLAGS: readonly string[] = Object.freeze(['--initial-old-space-size=64']);

/** The `ferry` commands that relay records, and so want RELAYING_NODE_FLAGS. */
const RELAYING_COMMANDS: ReadonlySet<string> = new Set(['exit', 'helper']);

/** The node flags a `ferry <command>` process should be started with. */
export function nodeFlagsForCommand(command: string | undefined): readonly string[] {
  return command !== undefined && RELAYING_COMMANDS.has(command) ? RELAYING_NODE_FLAGS : [];
}

/** The relaying flags that this process was started without. */
export function missingRelayingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return RELAYING_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
