/**
 * @module harness/free-port
 * A loopback TCP port that was free a moment ago: for a server a test must name before it starts (a broker "later"
 * on a known address, a broker behind a cache stand-in), or for a port nothing listens on (a blocked channel, which
 * is refused at once). Another process could take it meanwhile; on this machine's test runs nothing does.
 */

import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';

export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
