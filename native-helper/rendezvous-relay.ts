/**
 * @module native-helper/rendezvous-relay
 * Carries the extension's sealed rendezvous requests (pipe `rendezvous`) over the channel it names, with the helper's
 * own carrier (rendezvous-carrier.ts), and answers `rendezvous-reply` or `rendezvous-failed` under the same id. The
 * envelope is sealed to the broker by the extension: the helper carries it and cannot read it either. At most
 * MAX_RENDEZVOUS_IN_FLIGHT at once; more are refused with BUSY. Each is bounded by its channel's timeout.
 */
import { MAX_RENDEZVOUS_IN_FLIGHT, type PipeRendezvous, type PipeRendezvousFailed, type PipeRendezvousReply } from '../protocol/local-channel.ts';
import { ChannelError, DEFAULT_RENDEZVOUS_TIMEOUTS_MS, type RendezvousCarrier } from '../protocol/rendezvous.ts';

export type RendezvousAnswer = PipeRendezvousReply | PipeRendezvousFailed;

export class RendezvousRelay {
  #inFlight = 0;

  constructor(private readonly carrier: RendezvousCarrier) {}

  /** Requests being carried now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Carries `request`; `answer` is called exactly once, unless `signal` (the pipe closed) aborts it first. */
  handle(request: PipeRendezvous, answer: (message: RendezvousAnswer) => void, signal: AbortSignal): void {
    const failed = (code: string, message: string): void => answer({ type: 'rendezvous-failed', id: request.id, code, message });
    if (this.#inFlight >= MAX_RENDEZVOUS_IN_FLIGHT) {
      failed('BUSY', `the helper is already carrying ${MAX_RENDEZVOUS_IN_FLIGHT} rendezvous requests`);
      return;
    }
    this.#inFlight += 1;
    const timeoutMs = request.channel.timeoutMs ?? DEFAULT_RENDEZVOUS_TIMEOUTS_MS[request.channel.kind];
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    this.carrier(request.channel, request.envelope, AbortSignal.any([signal, timeout.signal]))
      .then(
        (reply) => answer({ type: 'rendezvous-reply', id: request.id, reply }),
        (error: unknown) => {
          if (signal.aborted) return; // the pipe is gone: nobody to answer
          if (timeout.signal.aborted) failed('TIMEOUT', `no answer within ${timeoutMs / 1000} s`);
          else if (error instanceof ChannelError) failed(error.code, error.message);
          else failed('UNREACHABLE', error instanceof Error ? error.message : String(error));
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.#inFlight -= 1;
      });
  }
}
