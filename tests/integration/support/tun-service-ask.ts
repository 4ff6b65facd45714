// Child-process entry for tests/integration/tun/service.test.ts, run as a given user inside a lab namespace: one
// request to the whole-device service, its answer printed as JSON ({"unavailable": message} when it cannot be asked).
// With "attach" instead of a request, it attaches to the TUN device (as the helper would) and prints {"attached": name};
// with "raw", it sends LINE exactly as given (a malformed request) and prints the answer line.
//   args: SOCKET_PATH REQUEST_JSON   |   attach DEVICE_NAME   |   raw SOCKET_PATH LINE
import { connect } from 'node:net';
import { TunDevice, TunUnavailableError } from '../../../native-helper/tun/tun-device.ts';
import { askTunService, TunServiceUnavailableError } from '../../../native-helper/tun/tun-service-client.ts';
import type { TunServiceRequest } from '../../../native-helper/tun/tun-service-protocol.ts';

const [first = '', second = '', third = ''] = process.argv.slice(2);
if (first === 'raw') {
  const socket = connect(second);
  socket.setEncoding('utf8');
  let answer = '';
  socket.on('data', (text: string) => {
    answer += text;
    if (answer.includes('\n')) {
      process.stdout.write(answer.slice(0, answer.indexOf('\n') + 1));
      socket.destroy();
    }
  });
  socket.once('connect', () => socket.write(`${third}\n`));
} else if (first === 'attach') {
  try {
    TunDevice.attach(second).close();
    process.stdout.write(`${JSON.stringify({ attached: second })}\n`);
  } catch (error) {
    if (!(error instanceof TunUnavailableError)) throw error;
    process.stdout.write(`${JSON.stringify({ unavailable: error.message })}\n`);
  }
} else {
  try {
    // The request is passed as the test wrote it, malformed ones included: the service must refuse those itself.
    process.stdout.write(`${JSON.stringify(await askTunService(first, JSON.parse(second) as TunServiceRequest, 20_000))}\n`);
  } catch (error) {
    if (!(error instanceof TunServiceUnavailableError)) throw error;
    process.stdout.write(`${JSON.stringify({ unavailable: error.message })}\n`);
  }
}
