// A local origin server: serves one random file, and counts the connections it accepts (so tests can prove that
// nothing reached it directly).

import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface OriginServer {
  port: number;
  file: Buffer;
  sha256: string;
  connections: number;
  close(): Promise<void>;
}

/** `host`: where to listen; loopback unless a lab test serves the origin on a namespace's own address. */
export async function startOriginServer(fileBytes: number, host = '127.0.0.1'): Promise<OriginServer> {
  const file = randomBytes(fileBytes);
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    if (request.url === '/page.html') {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Ferry origin</title><h1 id="hello">Hello through Ferry</h1>');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.length }).end(file);
  });
  const origin: OriginServer = {
    port: 0,
    file,
    sha256: createHash('sha256').update(file).digest('hex'),
    connections: 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', (socket: Socket) => {
    origin.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  origin.port = (server.address() as AddressInfo).port;
  return origin;
}
