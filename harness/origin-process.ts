// Child-process entry for the lab tests: the origin server inside a namespace, on its 127.0.0.1 (which an exit there
// reaches with --allow-loopback) or on HOST. Prints one JSON line {port, sha256}, then serves until it is ended.
//   args: FILE_BYTES [HOST]
import { startOriginServer } from './origin-server.ts';

const origin = await startOriginServer(Number(process.argv[2] ?? 1024 * 1024), process.argv[3] ?? '127.0.0.1');
process.stdout.write(`${JSON.stringify({ port: origin.port, sha256: origin.sha256 })}\n`);
