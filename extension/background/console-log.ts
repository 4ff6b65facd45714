/**
 * @module console-log
 * The background's log, in every browser: one `[ferry]` line in the background's console, with the error when
 * there is one.
 */
export function logToConsole(message: string, error?: unknown): void {
  if (error === undefined) console.info(`[ferry] ${message}`);
  else console.warn(`[ferry] ${message}:`, error);
}
