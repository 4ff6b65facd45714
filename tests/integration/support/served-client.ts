// A client behind censorship served end to end: the native helper and the extension's client path in Node, through
// whichever volunteer the broker offers, fetching a local origin's file over the helper's SOCKS5 port.

import assert from 'node:assert/strict';
import type { OriginServer } from '../../../harness/origin-server.ts';
import { socksFetch } from '../../../harness/socks-fetch.ts';
import { type HelperCore, startHelperCore } from '../../../native-helper/helper-core.ts';
import type { ExitInfo } from '../../../protocol/signaling.ts';
import { EXTENSION_ORIGIN, NodeClient } from './node-client.ts';

export interface ServedClient {
  helper: HelperCore;
  client: NodeClient;
  stop(): Promise<void>;
}

/** Connects a client and checks that the origin's whole file arrives through the volunteer; the caller stops it. */
export async function serveOneClient(options: { brokerUrl: string; exit: ExitInfo; origin: OriginServer }): Promise<ServedClient> {
  const helper = await startHelperCore({ exit: options.exit, allowedOrigin: EXTENSION_ORIGIN, socksPort: 0, httpPort: 0, tunnel: { sessionWaitMs: 5_000 } });
  const client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl: options.brokerUrl, exit: options.exit });
  const served: ServedClient = {
    helper,
    client,
    stop: async () => {
      client.stop();
      await helper.close();
    },
  };
  try {
    await client.waitForEvent((event) => event.kind === 'up', 'a path through the volunteer');
    const result = await socksFetch(helper.socksPort, `http://localhost:${options.origin.port}/file`, { timeoutSeconds: 60 });
    assert.ok(result.ok, result.stderr);
    assert.equal(result.sha256, options.origin.sha256, 'the file arrived whole through the volunteer');
    return served;
  } catch (error) {
    await served.stop();
    throw error;
  }
}
