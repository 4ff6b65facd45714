// Child-process entry for the rendezvous lab: the origin server inside a namespace (on its 127.0.0.1, which the exit
// there reaches with --allow-loopback). Prints one JSON line {port, sha256}, then serves until it is ended.
import { startOriginServer } from '../../../harness/origin-server.ts';

const origin = await startOriginServer(Number(process.argv[2] ?? 1024 * 1024));
process.stdout.write(`${JSON.stringify({ port: origin.port, sha256: origin.sha256 })}\n`);
