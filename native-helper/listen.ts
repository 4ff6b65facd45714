/**
 * @module listen
 * Listening on loopback only, with errors a user can act on (port in use, no permission).
 */
import type { Server } from 'node:net';

export const LOOPBACK_HOST = '127.0.0.1';

/** A local server could not listen; the message says which port and what to do. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Listens on 127.0.0.1:port (0 = any free port). `label` names the server in the error ("SOCKS5", "pipe"). */
export function listenOnLoopback(server: Server, port: number, label: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const hint =
        error.code === 'EADDRINUSE'
          ? `port ${port} is already in use; choose another port or 0 for any free port`
          : error.code === 'EACCES'
            ? `no permission to listen on port ${port}; use a port above 1023`
            : error.message;
      reject(new ListenError(`the ${label} server could not listen on ${LOOPBACK_HOST}:${port}: ${hint}`, error.code ?? 'LISTEN_FAILED'));
    };
    server.once('error', onError);
    server.listen({ host: LOOPBACK_HOST, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
