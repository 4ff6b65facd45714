// Child-process entry for nat-probe-lab.test.ts, run inside a NAT lab namespace: a browser volunteer's NAT probe
// (relay-worker/nat-probe-client.ts, on node-datachannel's standard RTCPeerConnection) against the probe at argv
// PROBE_URL with STUN at STUN_URL; prints one JSON line, {nat} or {error}.
import nodeDataChannel from 'node-datachannel';
import { NatProbeError, probeNatClass } from '../../../relay-worker/nat-probe-client.ts';
import { nodeRelayEnvironment } from '../../../relay-worker/node.ts';

const [probeUrl = '', stunUrl = ''] = process.argv.slice(2);
try {
  const nat = await probeNatClass(nodeRelayEnvironment(), { probeUrl, iceServers: [{ urls: stunUrl }] });
  process.stdout.write(`${JSON.stringify({ nat })}\n`);
} catch (error) {
  if (!(error instanceof NatProbeError)) throw error;
  process.stdout.write(`${JSON.stringify({ error: error.message })}\n`);
}
nodeDataChannel.cleanup();
process.exit(0);
