/**
 * @module helper-rendezvous
 * Rendezvous channels the browser cannot carry itself, handed to the helper over the pipe: a fronted request needs a
 * TLS name apart from the Host (a forbidden header for fetch), and the helper can also reach a cache with its own
 * trust store. The envelope is sealed to the broker before it is handed over: the helper carries it unread.
 *
 *   offscreen --pipe: rendezvous {id, channel, envelope}--> helper --channel--> broker
 *   offscreen <--pipe: rendezvous-reply {id, reply} | rendezvous-failed {id, code, message}-- helper
 *
 * At most MAX_RENDEZVOUS_IN_FLIGHT requests wait for an answer at once; another is refused at once with BUSY.
 */
import { MAX_RENDEZVOUS_IN_FLIGHT, type PipeRendezvous, type PipeRendezvousFailed, type PipeRendezvousReply } from '../../protocol/local-channel.ts';
import { ChannelError, type RendezvousChannel } from '../../protocol/rendezvous.ts';

interface PendingRendezvous {
  resolve(reply: string): void;
  reject(error: Error): void;
}

export class HelperRendezvousCarrier {
  readonly #pending = new Map<number, PendingRendezvous>();
  #lastId = 0;

  /** `send` hands a control message to the helper; false when the pipe is not open. */
  constructor(private readonly send: (message: PipeRendezvous) => boolean) {}

  /** Requests waiting for the helper's answer. */
  get pending(): number {
    return this.#pending.size;
  }

  /** A RendezvousCarrier: the helper carries `envelope` over `channel`. */
  readonly carry = (channel: RendezvousChannel, envelope: string, signal: AbortSignal): Promise<string> => {
    if (this.#pending.size >= MAX_RENDEZVOUS_IN_FLIGHT) {
      return Promise.reject(new ChannelError('BUSY', `${MAX_RENDEZVOUS_IN_FLIGHT} rendezvous requests already wait for the helper`));
    }
    if (signal.aborted) return Promise.reject(new ChannelError('STOPPED', 'stopped before it was sent'));
    this.#lastId += 1;
    const id = this.#lastId;
    return new Promise<string>((resolve, reject) => {
      const onAbort = (): void => {
        this.#pending.delete(id);
        reject(new ChannelError('STOPPED', 'stopped while the helper carried it'));
      };
      this.#pending.set(id, {
        resolve: (reply) => {
          signal.removeEventListener('abort', onAbort);
          resolve(reply);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      signal.addEventListener('abort', onAbort, { once: true });
      if (!this.send({ type: 'rendezvous', id, channel, envelope }))
        this.#settle(id, undefined, new ChannelError('NO_HELPER', "the helper's pipe is not open"));
    });
  };

  /** The helper's answer to one of our requests; answers to requests no longer waiting are dropped. */
  answer(message: PipeRendezvousReply | PipeRendezvousFailed): void {
    if (message.type === 'rendezvous-reply') this.#settle(message.id, message.reply, undefined);
    else this.#settle(message.id, undefined, new ChannelError(message.code, message.message));
  }

  /** The pipe closed: every waiting request fails with `reason`. */
  failAll(reason: string): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined, new ChannelError('NO_HELPER', reason));
  }

  #settle(id: number, reply: string | undefined, error: Error | undefined): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(reply ?? '');
  }
}
