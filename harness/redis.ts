/**
 * @module harness/redis
 * A real redis-server (Debian's package) for the tests and benchmarks that run brokers on Redis: on a free loopback
 * port, nothing saved to disk, ended by its PID. `npm test` installs the package when it is missing (scripts/setup.js).
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { terminate } from './processes.ts';

/** Longest redis-server may take to say it is ready (ms). */
export const REDIS_READY_TIMEOUT_MS = 10_000;
/** Where Debian installs it; FERRY_REDIS_SERVER overrides. */
export const REDIS_SERVER_PATH = process.env.FERRY_REDIS_SERVER ?? '/usr/bin/redis-server';

export class RedisStartError extends Error {
  override readonly name = 'RedisStartError';
  readonly code = 'REDIS_START_FAILED';
}

export interface LocalRedis {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (the kernel's pick, released at once: a small race the tests accept). */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new RedisStartError('could not find a free port');
  return address.port;
}

/** Starts redis-server on a free loopback port and waits until it accepts connections. */
export async function startLocalRedis(): Promise<LocalRedis> {
  const port = await freeLoopbackPort();
  const child: ChildProcess = spawn(
    REDIS_SERVER_PATH,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new RedisStartError(`cannot run ${REDIS_SERVER_PATH}: ${error.message}; install it with "apt-get install redis-server"`)),
    );
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-2_000);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-2_000);
  });
  const ready = (async (): Promise<void> => {
    const deadline = Date.now() + REDIS_READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new RedisStartError(`redis-server exited with code ${child.exitCode}: ${output}`);
      if (await answersPing(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new RedisStartError(`redis-server did not answer on port ${port} within ${REDIS_READY_TIMEOUT_MS} ms: ${output}`);
  })();
  try {
    await Promise.race([ready, spawnFailed]);
  } catch (error) {
    await terminate(child);
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? 0,
    stop: () => terminate(child),
  };
}

/** Sends an inline PING and waits for +PONG. */
async function answersPing(port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (result: boolean): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}
