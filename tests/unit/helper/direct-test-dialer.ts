/**
 * A TunnelDialer for tests: connects straight to the target with net.connect (no tunnel), mapping socket errors to
 * SOCKS5 reply codes the way the exit would. Lives in tests/ on purpose: the real helper must never dial directly.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { DialReplyCode, DialTarget, TunnelDialer } from '../../../native-helper/tunnel-dialer.ts';
import { DialError } from '../../../native-helper/tunnel-dialer.ts';

const REPLY_FOR_ERRNO: Record<string, DialReplyCode> = {
  ECONNREFUSED: 5,
  ENOTFOUND: 4,
  EAI_AGAIN: 4,
  EHOSTUNREACH: 4,
  ENETUNREACH: 3,
  ETIMEDOUT: 6,
  EACCES: 2,
};

export class DirectTestDialer implements TunnelDialer {
  /** Every target asked for, in order: lets tests check that domain names arrive unresolved. */
  readonly targets: DialTarget[] = [];

  dial(target: DialTarget, signal: AbortSignal): Promise<Duplex> {
    this.targets.push(target);
    if (target.host.endsWith('.invalid')) {
      // RFC 6761: .invalid never resolves. Answer without a lookup, so tests send no DNS query off this machine.
      return Promise.reject(new DialError(4, `${target.host}: no such host`, 'ENOTFOUND'));
    }
    return new Promise<Duplex>((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
      const onAbort = (): void => {
        socket.destroy();
        reject(new DialError(1, 'dial aborted', 'ABORTED'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        signal.removeEventListener('abort', onAbort);
        const code = error.code ?? 'EUNKNOWN';
        reject(new DialError(REPLY_FOR_ERRNO[code] ?? 1, `${target.host}:${target.port}: ${error.message}`, code));
      });
    });
  }
}

/** A dialer that never connects until aborted: for dial time-outs and client-gone-while-dialing. */
export class HangingTestDialer implements TunnelDialer {
  readonly abortedSignals: AbortSignal[] = [];
  private readonly waiters: Array<() => void> = [];
  private readonly abortWaiters: Array<() => void> = [];

  dial(_target: DialTarget, signal: AbortSignal): Promise<Duplex> {
    for (const wake of this.waiters.splice(0)) wake();
    return new Promise<Duplex>((_resolve, reject) => {
      signal.addEventListener(
        'abort',
        () => {
          this.abortedSignals.push(signal);
          for (const wake of this.abortWaiters.splice(0)) wake();
          reject(new DialError(1, 'aborted', 'ABORTED'));
        },
        { once: true },
      );
    });
  }

  /** Resolves when the next dial starts. */
  nextDial(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves when the next dial is aborted (ask before causing the abort). */
  nextAbort(): Promise<void> {
    return new Promise((resolve) => this.abortWaiters.push(resolve));
  }
}
