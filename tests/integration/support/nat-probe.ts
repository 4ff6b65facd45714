// Child-process entry for nat-discovery.test.ts, run inside a NAT lab namespace: measures the NAT class against the
// STUN server at argv HOST PORT with protocol/adapters/nat-discovery.ts and prints one JSON line, the result or
// {error: {code, message}}.
import { discoverNatClass, NatDiscoveryError } from '../../../protocol/adapters/nat-discovery.ts';

const [host = '', port = ''] = process.argv.slice(2);
try {
  const result = await discoverNatClass({ server: { host, port: Number(port) } });
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  if (!(error instanceof NatDiscoveryError)) throw error;
  process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
  process.exitCode = 1;
}
