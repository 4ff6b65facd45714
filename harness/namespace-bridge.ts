/**
 * @module harness/namespace-bridge
 * A loopback port inside a network namespace, reachable from this process's own namespace: a TCP server here on
 * 127.0.0.1 whose every connection is carried, through a small child started with `ip netns exec`, to 127.0.0.1:PORT
 * inside the namespace. For Chromium's DevTools when the browser runs in a lab namespace (its DevTools listen only on
 * that namespace's loopback); a namespace's network stays its own, only this one port is joined.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.ts';

export interface NamespaceBridge {
  /** The port on this process's 127.0.0.1. */
  port: number;
  close(): Promise<void>;
}

const CHILD = join(REPO_ROOT, 'harness', 'namespace-bridge-child.ts');

export async function bridgeNamespacePort(namespace: string, port: number): Promise<NamespaceBridge> {
  const children = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', CHILD, String(port)], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    children.add(child);
    socket.pipe(child.stdin);
    child.stdout.pipe(socket);
    const end = (): void => {
      socket.destroy();
      child.kill('SIGTERM');
    };
    child.once('exit', () => {
      children.delete(child);
      socket.end();
    });
    socket.once('close', () => {
      sockets.delete(socket);
      end();
    });
    socket.on('error', end);
    child.stdin.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      for (const child of children) child.kill('SIGKILL');
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
