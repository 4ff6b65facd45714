// Fetches a URL through a SOCKS5 proxy with remote DNS (curl --socks5-hostname: a third-party client).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';

export interface SocksFetchResult {
  ok: boolean;
  sha256: string;
  bytes: number;
  /** curl's exit code: 0 ok; 97 = SOCKS5 error reply; see `curl --manual`. */
  exitCode: number;
  stderr: string;
  elapsedMs: number;
}

export function socksFetch(socksPort: number, url: string, timeoutSeconds = 120): Promise<SocksFetchResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['--silent', '--show-error', '--max-time', String(timeoutSeconds), '--socks5-hostname', `127.0.0.1:${socksPort}`, '--output', '-', url],
      { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const exitCode = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({
          ok: exitCode === 0,
          sha256: createHash('sha256').update(stdout).digest('hex'),
          bytes: stdout.length,
          exitCode,
          stderr: stderr.toString(),
          elapsedMs: performance.now() - started,
        });
      },
    );
  });
}
