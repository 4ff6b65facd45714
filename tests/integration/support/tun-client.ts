// Child-process entry for tests/integration/tun/whole-device.test.ts, run as root in the client namespace: the helper
// and the extension's own client path on its pipe (node-datachannel), and whole-device mode through the privileged
// service at SOCKET (the tunnel's own transport, the broker, as the bypass). Prints
// {"ready": {...}} when the device carries; on a stdin line "counters" prints the system stack's counters; on SIGTERM
// turns whole-device mode off (the service restores everything) and ends.
//   args: EXIT_JSON BROKER_URL BROKER_ADDRESS SOCKET PATH_COUNT
import nodeDataChannel from 'node-datachannel';
import { waitFor } from '../../../harness/wait.ts';
import { startHelperCore } from '../../../native-helper/helper-core.ts';
import { TunMode } from '../../../native-helper/tun/tun-mode.ts';
import type { ExitInfo } from '../../../protocol/signaling.ts';
import { EXTENSION_ORIGIN, NodeClient } from './node-client.ts';

const [exitJson = '', brokerUrl = '', brokerAddress = '', socketPath = '', pathCount = '1'] = process.argv.slice(2);
const exit = JSON.parse(exitJson) as ExitInfo;
const log = (line: string): void => void process.stderr.write(`tun-client: ${line}\n`);
const helper = await startHelperCore({ exit, allowedOrigin: EXTENSION_ORIGIN, socksPort: 0, httpPort: 0 });
const client = new NodeClient({ pipeUrl: helper.pipeUrl, token: helper.issueToken(), brokerUrl, exit, pathCount: Number(pathCount) });
// On at once, as the product does: the volunteers' addresses are followed from the first answer, so a helper that
// starts while the kill switch is already in force (it crashed and came back) can still reach its volunteer.
const mode = await TunMode.start({
  servicePath: socketPath,
  dialer: helper.tunnel,
  transportAddresses: [brokerAddress],
  peers: helper.tunnel.peerAddresses,
  log,
});
await waitFor(() => helper.tunnel.status.state === 'connected', 'the session to connect', { timeoutMs: 45_000 });
process.stdout.write(`${JSON.stringify({ ready: { state: mode.state, peers: helper.tunnel.peerAddresses.current } })}\n`);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text: string) => {
  if (text.includes('counters')) {
    process.stdout.write(`${JSON.stringify({ counters: mode.counters, peers: helper.tunnel.peerAddresses.current, tunnel: helper.tunnel.status })}\n`);
  }
});
process.once('SIGTERM', () => {
  void (async () => {
    await mode.stop().catch((error: unknown) => log(`stopping whole-device mode failed: ${String(error)}`));
    client.stop();
    await helper.close();
    nodeDataChannel.cleanup();
    process.exit(0);
  })();
});
