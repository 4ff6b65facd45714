/**
 * The client extension's own path (extension/offscreen/client-path.ts, the code the offscreen document runs) run in
 * Node for the integration tests: node-datachannel's standard RTCPeerConnection, ws's WebSocket presenting the
 * extension's Origin to the helper's pipe, and node's fetch for the broker. Only the environment differs from the
 * browser; every rule (getting a path, replacing a broken one, backing off, piping records verbatim) is the real one.
 */
import { RTCPeerConnection as NodePeerConnection } from 'node-datachannel/polyfill';
import { WebSocket as NodeWebSocket } from 'ws';
import type { ClientRendezvous } from '../../../extension/messages.ts';
import { ClientPath, type ClientPathEnvironment, type ClientPathLimits } from '../../../extension/offscreen/client-path.ts';
import type { ClientPathEvent } from '../../../extension/ui-state.ts';
import { waitFor } from '../../../harness/wait.ts';
import { FERRY_EXTENSION_ID, type SessionReport } from '../../../protocol/local-channel.ts';
import type { ExitInfo } from '../../../protocol/signaling.ts';

/** The Origin Chromium sends for the Ferry extension's pages; the helper's pipe accepts no other. */
export const EXTENSION_ORIGIN = `chrome-extension://${FERRY_EXTENSION_ID}`;

/**
 * Retries sooner than the product (3 s, doubling): these tests start volunteers and clients at nearly the same moment,
 * and node-datachannel as the offering side now and then loses an attempt to a libdatachannel race.
 */
export const TEST_CLIENT_PATH_LIMITS: Partial<ClientPathLimits> = { retryDelayMs: 250, maxRetryDelayMs: 1_000 };

export function nodeClientPathEnvironment(origin = EXTENSION_ORIGIN): ClientPathEnvironment {
  return {
    // The polyfill implements the standard interface; only its d.ts event classes (with #private) differ in type.
    createPeerConnection: (config) => new NodePeerConnection(config) as unknown as RTCPeerConnection,
    createWebSocket: (url) => new NodeWebSocket(url, { origin }) as unknown as WebSocket,
    fetch: (input, init) => fetch(input, init),
  };
}

export interface NodeClientOptions {
  /** From the helper: its pipe address and a fresh one-time token. */
  pipeUrl: string;
  token: string;
  brokerUrl: string;
  exit: ExitInfo;
  /** A friend's pairing link's token: the broker then matches only that friend's volunteer. */
  pairingToken?: string;
  /** Volunteers to keep at once, and whether they all carry (ClientPathConfig); one path when absent. */
  pathCount?: number;
  stripe?: boolean;
  /** The network's sealed rendezvous (ClientPathConfig): offers then travel sealed over these channels. */
  rendezvous?: ClientRendezvous;
  limits?: Partial<ClientPathLimits>;
}

/** A running ClientPath and everything it reported, for tests to wait on. */
export class NodeClient {
  readonly path: ClientPath;
  readonly events: ClientPathEvent[] = [];
  readonly sessions: SessionReport[] = [];

  constructor(options: NodeClientOptions) {
    this.path = new ClientPath(
      {
        pipeUrl: options.pipeUrl,
        token: options.token,
        brokerUrl: options.brokerUrl,
        exit: options.exit,
        ...(options.pairingToken === undefined ? {} : { pairingToken: options.pairingToken }),
        ...(options.pathCount === undefined ? {} : { pathCount: options.pathCount }),
        ...(options.stripe === undefined ? {} : { stripe: options.stripe }),
        ...(options.rendezvous === undefined ? {} : { rendezvous: options.rendezvous }),
        limits: { ...TEST_CLIENT_PATH_LIMITS, ...options.limits },
      },
      nodeClientPathEnvironment(),
      { onPathEvent: (event) => this.events.push(event), onSession: (report) => this.sessions.push(report) },
    );
    this.path.start();
  }

  /** Paths that came up so far. */
  get pathsUp(): number {
    return this.events.filter((event) => event.kind === 'up').length;
  }

  /** Resolves with the first reported event (from index `from` on) that matches, or throws WaitTimeoutError. */
  waitForEvent(match: (event: ClientPathEvent) => boolean, what: string, options: { from?: number; timeoutMs?: number } = {}): Promise<ClientPathEvent> {
    return waitFor(() => this.events.slice(options.from ?? 0).find(match), what, { timeoutMs: options.timeoutMs ?? 30_000 });
  }

  stop(): void {
    this.path.stop();
  }
}
