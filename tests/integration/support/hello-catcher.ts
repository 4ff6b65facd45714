// Child-process entry for nat-discovery.test.ts, run in the NAT lab's public namespace: a stand-in broker that takes
// volunteer sockets at argv HOST PORT and prints each volunteer's first message (its `hello`) as one JSON line. It
// never answers, so a volunteer waits for its welcome until the test ends it.
import { WebSocketServer } from 'ws';
import { BrokerRoute } from '../../../protocol/signaling.ts';

const [host = '', port = ''] = process.argv.slice(2);
const server = new WebSocketServer({ host, port: Number(port), path: BrokerRoute.VOLUNTEER, maxPayload: 64 * 1024 });
server.on('listening', () => process.stdout.write('listening\n'));
server.on('connection', (socket, request) => {
  process.stdout.write(`connection from ${request.socket.remoteAddress}:${request.socket.remotePort}\n`);
  socket.once('message', (data) => process.stdout.write(`${String(data)}\n`));
});
