// Child-process entry for tun-system-stack.test.ts, run inside a lab namespace where the test created the TUN device
// (as the privileged service will): attaches to it, runs the system stack, and serves as "the tunnel" with a dialer
// that connects straight to servers of its own on loopback: an HTTP origin of FILE_BYTES (destination port 80), one of
// 1 MiB (port 8080) and an echo server (port 7). Prints {"ready": ...} once listening; on a stdin line "counters", prints the stack's counters; ends on
// SIGTERM.
//   args: TUN_NAME DEVICE_ADDRESS NAT_ADDRESS FILE_BYTES
import { connect, createServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { startOriginServer } from '../../../harness/origin-server.ts';
import { DEFAULT_SYSTEM_STACK_CONFIG, type DnsAnswerer, SystemStack } from '../../../native-helper/tun/system-stack.ts';
import { TunDevice } from '../../../native-helper/tun/tun-device.ts';
import type { DialTarget, TunnelDialer } from '../../../native-helper/tunnel-dialer.ts';
import { buildDnsAnswer, DNS_TYPE_A, DnsResponseCode, parseDnsQuery } from '../../../protocol/dns-message.ts';

const [tunName = 'ferry0', deviceAddress = '198.18.0.1', natAddress = '198.18.0.2', fileBytes = '1048576'] = process.argv.slice(2);
const origin = await startOriginServer(Number(fileBytes));
const smallOrigin = await startOriginServer(1024 * 1024);
const echo = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
const echoPort = (echo.address() as { port: number }).port;
const dialed: DialTarget[] = [];

const dialer: TunnelDialer = {
  dial: (target, signal) =>
    new Promise<Duplex>((resolve, reject) => {
      dialed.push(target);
      const port = target.port === 80 ? origin.port : target.port === 8080 ? smallOrigin.port : target.port === 7 ? echoPort : 0;
      if (port === 0) {
        reject(new Error(`nothing at ${target.host}:${target.port}`));
        return;
      }
      const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
      signal.addEventListener('abort', () => {
        socket.destroy();
        reject(signal.reason);
      });
    }),
};

// DNS as the exit's resolver would answer it: origin.test is the destination address, anything else does not exist.
const dns: DnsAnswerer = async (query) => {
  const parsed = parseDnsQuery(query);
  if (parsed.question.name === 'origin.test' && parsed.question.type === DNS_TYPE_A) {
    return buildDnsAnswer(query, parsed, DnsResponseCode.NOERROR, [Uint8Array.from([10, 99, 0, 5])]);
  }
  return buildDnsAnswer(query, parsed, DnsResponseCode.NXDOMAIN);
};

const device = TunDevice.attach(tunName);
const stack = new SystemStack({ config: { ...DEFAULT_SYSTEM_STACK_CONFIG, deviceAddress, natAddress }, device, dialer, dns });
await stack.start();
process.stdout.write(`${JSON.stringify({ ready: true, sha256: origin.sha256, bytes: origin.file.length, smallSha256: smallOrigin.sha256 })}\n`);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text: string) => {
  if (text.includes('counters')) {
    process.stdout.write(`${JSON.stringify({ counters: stack.counters, flows: stack.flows, dialed: dialed.length, writeDrops: device.writeDrops })}\n`);
  }
});
process.once('SIGTERM', () => {
  void stack.stop().then(async () => {
    device.close();
    echo.close();
    await origin.close();
    await smallOrigin.close();
    process.exit(0);
  });
});
