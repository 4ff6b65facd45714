// Child-process entry for rendezvous-lab.test.ts, run inside the lab's client namespace: the helper (with the test
// CA trusted for rendezvous) and the extension's own client path on its pipe, whose offers go sealed over the
// rendezvous channels given as JSON, then one download through the helper's SOCKS port. Prints one JSON line: how the
// broker was reached, and the download's SHA-256.
import { readFileSync } from 'node:fs';
import nodeDataChannel from 'node-datachannel';
import type { ClientRendezvous } from '../../../extension/messages.ts';
import { socksFetch } from '../../../harness/socks-fetch.ts';
import { waitFor } from '../../../harness/wait.ts';
import { startHelperCore } from '../../../native-helper/helper-core.ts';
import type { ExitInfo } from '../../../protocol/signaling.ts';
import { EXTENSION_ORIGIN, NodeClient } from './node-client.ts';

const [exitJson = '', rendezvousJson = '', caPath = '', brokerUrl = '', downloadUrl = ''] = process.argv.slice(2);
const exit = JSON.parse(exitJson) as ExitInfo;
const rendezvous = JSON.parse(rendezvousJson) as ClientRendezvous;
const helper = await startHelperCore({ exit, allowedOrigin: EXTENSION_ORIGIN, socksPort: 0, httpPort: 0, rendezvousCaPem: readFileSync(caPath, 'utf8') });
const client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl, exit, rendezvous });
let result: Record<string, unknown>;
try {
  await waitFor(() => helper.tunnel.status.state === 'connected', 'the session to connect', { timeoutMs: 45_000 });
  const fetched = await socksFetch(helper.socksPort, downloadUrl, { timeoutSeconds: 60 });
  result = { ok: fetched.ok, sha256: fetched.sha256, stderr: fetched.stderr };
} catch (error) {
  result = { ok: false, error: error instanceof Error ? error.message : String(error) };
}
const reached = client.events.flatMap((event) => (event.kind === 'broker-reached' ? [event.channel] : []));
const errors = client.events.flatMap((event) => (event.kind === 'error' ? [`${event.code}: ${event.message}`] : []));
process.stdout.write(`${JSON.stringify({ ...result, reached, errors })}\n`);
client.stop();
await helper.close();
nodeDataChannel.cleanup();
process.exit(0);
