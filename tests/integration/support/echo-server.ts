// Child-process entry for the lab tests: a TCP echo server on HOST (every byte sent back, half-close followed).
// Prints {"port": N}, then serves until it is ended.
//   args: [HOST]
import { createServer } from 'node:net';

const server = createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
});
server.listen(0, process.argv[2] ?? '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
