// Child-process entry for the TUN tests: connects to HOST:PORT (an echo service) and sends random bytes while reading
// the echo, then half-closes and prints {"sent": sha256, "received": sha256, "bytes": n, "seconds": s}.
// With SECONDS, it keeps the connection for that long, sending CHUNK bytes every 250 ms (a long-lived, both-ways
// flow); without, it sends BYTES at once.
//   args: HOST PORT BYTES [SECONDS]
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';

const [host = '10.99.0.5', port = '7', bytes = '1048576', secondsText] = process.argv.slice(2);
const sent = createHash('sha256');
const received = createHash('sha256');
let sentBytes = 0;
let receivedBytes = 0;
const started = Date.now();
const socket = connect({ host, port: Number(port), allowHalfOpen: true });
socket.on('data', (chunk: Buffer) => {
  received.update(chunk);
  receivedBytes += chunk.length;
});
socket.once('end', () => {
  process.stdout.write(
    `${JSON.stringify({ sent: sent.digest('hex'), received: received.digest('hex'), bytes: receivedBytes, sentBytes, seconds: (Date.now() - started) / 1000 })}\n`,
  );
  socket.destroy();
});
socket.once('error', (error) => {
  process.stdout.write(`${JSON.stringify({ error: error.message })}\n`);
  process.exit(1);
});
const send = (data: Buffer): void => {
  sent.update(data);
  sentBytes += data.length;
  socket.write(data);
};
socket.once('connect', () => {
  if (secondsText === undefined) {
    send(randomBytes(Number(bytes)));
    socket.end();
    return;
  }
  const until = started + Number(secondsText) * 1000;
  const timer = setInterval(() => {
    if (Date.now() >= until) {
      clearInterval(timer);
      socket.end();
      return;
    }
    send(randomBytes(Number(bytes)));
  }, 250);
});
