// Fetches a URL through a SOCKS5 proxy with remote DNS (curl --socks5-hostname: a third-party client).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';

export interface CurlRun {
  ok: boolean;
  /** curl's exit code: 0 ok; 97 = SOCKS5 error reply; see `curl --manual`. */
  exitCode: number;
  stderr: string;
  /** From curl's start to its end. */
  elapsedMs: number;
}

export interface SocksFetchResult extends CurlRun {
  sha256: string;
  bytes: number;
}

export interface SocksFetchOptions {
  /** curl's --max-time (default 120). */
  timeoutSeconds?: number;
}

/** The body comes back through a pipe into this process and is hashed here (not in elapsedMs). */
export async function socksFetch(socksPort: number, url: string, options: SocksFetchOptions = {}): Promise<SocksFetchResult> {
  const { run, stdout } = await runCurl(socksPort, url, '-', options.timeoutSeconds);
  return { ...run, sha256: createHash('sha256').update(stdout).digest('hex'), bytes: stdout.length };
}

/**
 * curl writes the body to `outputFile`, as a person's download would, and nothing here reads it: the benchmark times
 * the proxy's work and curl's alone, not also this process (where the bench's exit runs) reading and hashing the
 * body. The caller checks the file afterwards.
 */
export async function socksFetchToFile(socksPort: number, url: string, outputFile: string, options: SocksFetchOptions = {}): Promise<CurlRun> {
  return (await runCurl(socksPort, url, outputFile, options.timeoutSeconds)).run;
}

function runCurl(socksPort: number, url: string, output: string, timeoutSeconds = 120): Promise<{ run: CurlRun; stdout: Buffer }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['--silent', '--show-error', '--max-time', String(timeoutSeconds), '--socks5-hostname', `127.0.0.1:${socksPort}`, '--output', output, url],
      { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const exitCode = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ run: { ok: exitCode === 0, exitCode, stderr: stderr.toString(), elapsedMs: performance.now() - started }, stdout });
      },
    );
  });
}
