/**
 * @module broker-mesh
 * Carries offers between broker instances that share one Redis (redis-store.ts), over Redis pub/sub. A client asks
 * any instance; the store may pick a volunteer whose socket another instance holds; the offer then goes to that
 * instance's channel, its OfferDesk hands it to the volunteer and keeps the volunteer's record, and the outcome comes
 * back on the asking instance's channel.
 *
 * Channels (after the key prefix): `broker:ID`, one per instance, for `offer`, `outcome` and `cancel` messages (JSON);
 * `capacity`, where every instance says that capacity may have grown, so clients queued on other instances look again.
 *
 * When the instance holding the volunteer is dead, nobody is subscribed to its channel: PUBLISH says so, and the
 * asking instance moves on to the next volunteer at once (the store sweeps the dead instance's volunteers within a
 * heartbeat of its alive key expiring). When it dies with the offer in hand, the outcome never comes: the asking
 * instance gives up on that volunteer at the end of its turn (answerBy) plus REMOTE_OUTCOME_GRACE_MS, exactly as
 * for a volunteer that let its turn pass. Only requests in flight on the dead instance itself are lost.
 */
import type { Redis } from 'ioredis';
import type { BrokerOffer } from '../protocol/signaling.ts';
import { parseBrokerMessage, parseSessionDescription, SignalingFormatError } from '../protocol/signaling.ts';
import type { CapacitySignal } from './capacity-signal.ts';
import type { RemoteOffers } from './matchmaker.ts';
import type { OfferDesk } from './offer-desk.ts';
import type { MatchDeadlines, MatchOutcome } from './pending-matches.ts';

/** How long past a remote volunteer's turn the asking instance waits for the outcome before moving on (ms). */
export const REMOTE_OUTCOME_GRACE_MS = 500;
/** Most offers from other instances this one handles at once; more are answered 'volunteer-gone' at once. */
export const MAX_REMOTE_OFFERS_IN_FLIGHT = 100_000;
/** Most offers this instance waits on at other instances at once; more fail over as 'volunteer-gone'. */
export const MAX_OFFERS_SENT_IN_FLIGHT = 100_000;
/** Largest mesh message accepted (characters): an offer with its SDP and exit, with room to spare. */
export const MAX_MESH_MESSAGE_CHARS = 128 * 1024;

type MeshMessage =
  | { type: 'offer'; from: string; volunteerId: string; offer: BrokerOffer; answerInMs: number; clientInMs: number }
  | { type: 'outcome'; matchId: string; outcome: MatchOutcome }
  | { type: 'cancel'; matchId: string };

export interface BrokerMeshOptions {
  brokerId: string;
  keyPrefix: string;
  /** For PUBLISH; shared with the store. */
  redis: Redis;
  /** A connection of its own, put in subscriber mode by start(); closed by close(). */
  subscriber: Redis;
  desk: Pick<OfferDesk, 'offer'>;
  capacity: CapacitySignal;
  log: (message: string) => void;
}

interface OfferSent {
  settle(outcome: MatchOutcome): void;
}

export class BrokerMesh implements RemoteOffers {
  readonly #options: BrokerMeshOptions;
  /** Offers this instance sent to others, by match id. */
  readonly #sent = new Map<string, OfferSent>();
  /** Offers other instances sent here, by match id: aborting one tells the volunteer's desk the client left. */
  readonly #received = new Map<string, AbortController>();
  #capacityPublishScheduled = false;
  #closed = false;

  constructor(options: BrokerMeshOptions) {
    this.#options = options;
    options.capacity.onChange((origin) => {
      if (origin === 'here') this.#scheduleCapacityPublish();
    });
  }

  /** Subscribes to this instance's channel and the capacity channel. Rejects when Redis cannot be reached. */
  async start(): Promise<void> {
    const { subscriber } = this.#options;
    subscriber.on('message', (channel: string, text: string) => this.#onMessage(channel, text));
    await subscriber.subscribe(this.#channelOf(this.#options.brokerId), this.#capacityChannel());
  }

  offer(ownerId: string, volunteerId: string, offer: BrokerOffer, deadlines: MatchDeadlines, signal: AbortSignal): Promise<MatchOutcome> {
    if (this.#closed || this.#sent.size >= MAX_OFFERS_SENT_IN_FLIGHT) return Promise.resolve({ kind: 'volunteer-gone' });
    return new Promise<MatchOutcome>((resolve) => {
      const matchId = offer.matchId;
      const settle = (outcome: MatchOutcome): void => {
        if (this.#sent.get(matchId) !== entry) return;
        this.#sent.delete(matchId);
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const entry: OfferSent = { settle };
      const onAbort = (): void => {
        this.#publish(ownerId, { type: 'cancel', matchId });
        settle({ kind: 'client-gone' });
      };
      // The owner settles the offer itself by answerBy; this fires only if it is gone.
      const giveUpAt = Math.min(deadlines.answerBy + REMOTE_OUTCOME_GRACE_MS, deadlines.clientDeadline);
      const timer = setTimeout(
        () => settle(giveUpAt < deadlines.clientDeadline ? { kind: 'volunteer-timed-out' } : { kind: 'timed-out' }),
        Math.max(0, giveUpAt - Date.now()),
      );
      this.#sent.set(matchId, entry);
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      const now = Date.now();
      const message: MeshMessage = {
        type: 'offer',
        from: this.#options.brokerId,
        volunteerId,
        offer,
        answerInMs: Math.max(0, deadlines.answerBy - now),
        clientInMs: Math.max(0, deadlines.clientDeadline - now),
      };
      this.#options.redis.publish(this.#channelOf(ownerId), JSON.stringify(message)).then(
        // Nobody subscribed: the owner is dead (its volunteers wait for the sweep). Next volunteer at once.
        (receivers) => {
          if (receivers === 0) settle({ kind: 'volunteer-gone' });
        },
        (error: unknown) => {
          this.#logFailure('offer', error);
          settle({ kind: 'volunteer-gone' });
        },
      );
    });
  }

  /** Unsubscribes; offers still out settle as 'timed-out', offers received here as 'client-gone'. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of [...this.#sent.values()]) entry.settle({ kind: 'timed-out' });
    for (const controller of this.#received.values()) controller.abort();
    this.#received.clear();
    await this.#options.subscriber.quit().catch(() => {});
  }

  #onMessage(channel: string, text: string): void {
    if (this.#closed) return;
    if (channel === this.#capacityChannel()) {
      if (text !== this.#options.brokerId) this.#options.capacity.changedElsewhere();
      return;
    }
    let message: MeshMessage;
    try {
      message = parseMeshMessage(text);
    } catch (error) {
      this.#options.log(`broker mesh: dropped a malformed message: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    switch (message.type) {
      case 'outcome':
        this.#sent.get(message.matchId)?.settle(message.outcome);
        return;
      case 'cancel':
        this.#received.get(message.matchId)?.abort();
        return;
      case 'offer':
        void this.#handOver(message);
        return;
    }
  }

  /** An offer from another instance for a volunteer held here: through the desk, and the outcome back. */
  async #handOver(message: Extract<MeshMessage, { type: 'offer' }>): Promise<void> {
    const matchId = message.offer.matchId;
    if (this.#received.size >= MAX_REMOTE_OFFERS_IN_FLIGHT || this.#received.has(matchId)) {
      this.#publish(message.from, { type: 'outcome', matchId, outcome: { kind: 'volunteer-gone' } });
      return;
    }
    const controller = new AbortController();
    this.#received.set(matchId, controller);
    const now = Date.now();
    try {
      const outcome = await this.#options.desk.offer(
        message.volunteerId,
        message.offer,
        { answerBy: now + message.answerInMs, clientDeadline: now + message.clientInMs },
        controller.signal,
      );
      if (outcome.kind !== 'client-gone') this.#publish(message.from, { type: 'outcome', matchId, outcome });
    } finally {
      this.#received.delete(matchId);
    }
  }

  /** Capacity changes are coalesced: at most one publish per turn of the event loop. */
  #scheduleCapacityPublish(): void {
    if (this.#capacityPublishScheduled || this.#closed) return;
    this.#capacityPublishScheduled = true;
    setImmediate(() => {
      this.#capacityPublishScheduled = false;
      if (this.#closed) return;
      this.#options.redis.publish(this.#capacityChannel(), this.#options.brokerId).catch((error: unknown) => this.#logFailure('capacity', error));
    });
  }

  #publish(brokerId: string, message: MeshMessage): void {
    this.#options.redis.publish(this.#channelOf(brokerId), JSON.stringify(message)).catch((error: unknown) => this.#logFailure(message.type, error));
  }

  #logFailure(what: string, error: unknown): void {
    this.#options.log(`broker mesh: could not publish ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }

  #channelOf(brokerId: string): string {
    return `${this.#options.keyPrefix}broker:${brokerId}`;
  }

  #capacityChannel(): string {
    return `${this.#options.keyPrefix}capacity`;
  }
}

/** Checks a mesh message's shape; throws SignalingFormatError naming what is wrong. */
export function parseMeshMessage(text: string): MeshMessage {
  if (text.length > MAX_MESH_MESSAGE_CHARS) throw new SignalingFormatError(`a mesh message is longer than ${MAX_MESH_MESSAGE_CHARS} characters`);
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null) throw new SignalingFormatError('a mesh message must be a JSON object');
  const fields = value as Record<string, unknown>;
  const text128 = (field: string): string => {
    const found = fields[field];
    if (typeof found !== 'string' || found.length === 0 || found.length > 128) throw new SignalingFormatError(`mesh message "${field}" must be a string`);
    return found;
  };
  const duration = (field: string): number => {
    const found = fields[field];
    if (typeof found !== 'number' || !Number.isInteger(found) || found < 0 || found > 600_000) {
      throw new SignalingFormatError(`mesh message "${field}" must be a whole number of ms up to 600000`);
    }
    return found;
  };
  switch (fields.type) {
    case 'offer': {
      const offer = parseBrokerMessage(fields.offer);
      if (offer.type !== 'offer') throw new SignalingFormatError('mesh message "offer" must be an offer');
      return {
        type: 'offer',
        from: text128('from'),
        volunteerId: text128('volunteerId'),
        offer,
        answerInMs: duration('answerInMs'),
        clientInMs: duration('clientInMs'),
      };
    }
    case 'outcome':
      return { type: 'outcome', matchId: text128('matchId'), outcome: parseOutcome(fields.outcome) };
    case 'cancel':
      return { type: 'cancel', matchId: text128('matchId') };
    default:
      throw new SignalingFormatError(`unknown mesh message type ${JSON.stringify(fields.type)}`);
  }
}

function parseOutcome(value: unknown): MatchOutcome {
  if (typeof value !== 'object' || value === null) throw new SignalingFormatError('mesh message "outcome" must be an object');
  const fields = value as Record<string, unknown>;
  switch (fields.kind) {
    case 'answered':
      return { kind: 'answered', answer: parseSessionDescription(fields.answer, 'answer', 'outcome.answer') };
    case 'declined':
      return { kind: 'declined', reason: typeof fields.reason === 'string' ? fields.reason.slice(0, 200) : '' };
    case 'volunteer-gone':
    case 'volunteer-timed-out':
    case 'timed-out':
    case 'client-gone':
      return { kind: fields.kind };
    default:
      throw new SignalingFormatError(`unknown outcome kind ${JSON.stringify(fields.kind)}`);
  }
}
