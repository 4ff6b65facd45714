// Child-process entry for tun-system-stack.test.ts: connects to HOST:PORT (an echo service), sends BYTES random
// bytes while reading the echo, half-closes, and prints {"sent": sha256, "received": sha256, "bytes": n}.
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';

const [host = '10.99.0.5', port = '7', bytes = '1048576'] = process.argv.slice(2);
const data = randomBytes(Number(bytes));
const received = createHash('sha256');
let receivedBytes = 0;
const socket = connect({ host, port: Number(port), allowHalfOpen: true });
socket.on('data', (chunk: Buffer) => {
  received.update(chunk);
  receivedBytes += chunk.length;
});
socket.once('end', () => {
  process.stdout.write(
    `${JSON.stringify({ sent: createHash('sha256').update(data).digest('hex'), received: received.digest('hex'), bytes: receivedBytes })}\n`,
  );
  socket.destroy();
});
socket.once('error', (error) => {
  process.stdout.write(`${JSON.stringify({ error: error.message })}\n`);
  process.exit(1);
});
socket.once('connect', () => socket.end(data));
