/**
 * @module adapters/json-log
 * The servers' log: one JSON object per line on stderr (pino), ready for a log collector. Only a command line's
 * main.ts uses it; library code logs through a plain `log(event)` callback that main.ts hands to logEventsTo.
 *
 * A line looks like {"level":"warn","time":"2026-11-22T10:00:00.000Z","pid":4242,"name":"ferry-broker","msg":"..."}.
 * It carries no host name and no address: events never name a client or volunteer (docs/operations.md).
 */
import pino from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What library code logs: a level and a message in words, nothing that identifies a person. */
export interface LogEvent {
  level: LogLevel;
  message: string;
}

export type JsonLogger = pino.Logger;

/**
 * A logger writing JSON lines to stderr, synchronously. stderr because stdout carries only the ready line that
 * people, the demo and the tests read; synchronously so the last lines survive process.exit() and a crash (the
 * servers log rarely: start, stop, faults).
 * @param name names the program in every line, e.g. 'ferry-broker'
 */
export function createJsonLogger(name: string): JsonLogger {
  return pino(
    {
      name,
      // pino adds the host name by default; the pid is enough to tell processes apart on one machine.
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names, not pino's numbers: readable in `jq` and in log collectors without a mapping.
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}

/** The `log(event)` callback library code takes, writing each event at its own level. */
export function logEventsTo(logger: JsonLogger): (event: LogEvent) => void {
  return (event) => logger[event.level](event.message);
}
