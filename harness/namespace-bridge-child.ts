// Runs inside a network namespace (`ip netns exec NS node --import tsx namespace-bridge-child.ts PORT`): connects to
// 127.0.0.1:PORT there and joins that connection to its stdin and stdout. harness/namespace-bridge.ts starts one per
// connection it accepts outside the namespace.
import { connect } from 'node:net';

const socket = connect(Number(process.argv[2]), '127.0.0.1');
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('close', () => process.exit(0));
socket.on('error', () => process.exit(1));
process.stdin.on('end', () => socket.end());
