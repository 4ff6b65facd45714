/**
 * @module node
 * The Node adapter: node-datachannel's standard RTCPeerConnection and ws's WebSocket. The command line that uses it
 * is main.ts.
 * ws's client WebSocket offers every part of the standard API the core uses: binaryType 'arraybuffer' (messages
 * arrive as ArrayBuffer, text as string), addEventListener for open/message/close/error, readyState, bufferedAmount,
 * send and close; tests/unit/relay run the core on exactly this adapter.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { RTCPeerConnection as NodeRTCPeerConnection } from 'node-datachannel/polyfill';
import { WebSocket as NodeWebSocket } from 'ws';
import { MAX_RECORD_BYTES } from '../protocol/constants.ts';
import type { RelayEnvironment } from './environment.ts';
import type { MonthlyUsage, UsageStore } from './monthly-cap.ts';

/** Largest message a Node volunteer accepts on any WebSocket: one tunnel record; broker messages are smaller. */
export const NODE_MAX_WEBSOCKET_MESSAGE_BYTES = MAX_RECORD_BYTES;

export function nodeRelayEnvironment(): RelayEnvironment {
  return {
    // The polyfill implements the standard interface; only its d.ts event classes (with #private) differ in type.
    createPeerConnection: (config) => new NodeRTCPeerConnection(config) as unknown as RTCPeerConnection,
    createWebSocket: (url) =>
      // Records are encrypted, so compression would only cost CPU.
      new NodeWebSocket(url, { maxPayload: NODE_MAX_WEBSOCKET_MESSAGE_BYTES, perMessageDeflate: false }) as unknown as WebSocket,
    fetch: (input, init) => globalThis.fetch(input, init),
  };
}

/**
 * The monthly cap's count in a small JSON file (`ferry volunteer --state-file`): {"month":"YYYY-MM","bytes":N}.
 * Written whole to a temporary file and renamed over the old one, so a crash never leaves half a file. A missing or
 * unreadable file reads as no count (the cap counts afresh).
 */
export function fileUsageStore(path: string): UsageStore {
  return {
    async load(): Promise<MonthlyUsage | undefined> {
      try {
        const value: unknown = JSON.parse(await readFile(path, 'utf8'));
        if (typeof value !== 'object' || value === null) return undefined;
        const { month, bytes } = value as Record<string, unknown>;
        return typeof month === 'string' && /^\d{4}-\d{2}$/.test(month) && typeof bytes === 'number' ? { month, bytes } : undefined;
      } catch {
        return undefined;
      }
    },
    async save(usage: MonthlyUsage): Promise<void> {
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(usage)}\n`, { mode: 0o600 });
      await rename(temporary, path);
    },
  };
}
