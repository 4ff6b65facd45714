/**
 * @module exit-server/outbound-budget
 * Byte budgets for what the exit holds on its clients' behalf in the outbound direction (destination → client):
 * stream bytes waiting for the client's credit plus sealed records waiting for its ACK, per session
 * (SessionEndpoint.outboundQueuedBytes). A client that returns neither would otherwise have the exit read its
 * destinations without end. At a budget the session's destinations stop being read (TCP then pushes back on them);
 * nothing is dropped, and reading resumes once the client drains the session below a low-water mark.
 *
 * The exit-wide budget has two parts:
 * - a reserve: every session may hold reservedQueuedBytesPerSession however full the exit is, so an honest session
 *   keeps moving while others sit at their budgets; maxSessions reserves are set aside for it;
 * - a shared pool, the rest, first come first served, for what sessions hold above their reserves.
 * So all sessions together hold at most maxSessions x reserve + pool = maxQueuedBytesTotal, and one session at most
 * maxQueuedBytesPerSession. Records a client provokes itself without new reads (a PONG per PING, CREDIT, DATA split
 * by tiny credit grants) are counted, and stop the reads, but cannot be held back: those stay bounded per session by
 * the replay buffer, which closes a session whose client stops acknowledging (FERRY_ERR_REPLAY_BUFFER_FULL).
 *
 * The checks run after every destination read (and every record from the client, and every stream's end), and a
 * session keeps reading only while one more whole read fits
 * (READ_COST_BYTES). Destination reads go through one fixed buffer (net `onread`, destination-dialer.ts) and pause()
 * stops them at once, so no socket reads ahead of a check into a buffer this count does not see: the bounds hold
 * however many streams a session opens.
 */
import { AEAD_TAG_BYTES, FRAME_HEADER_BYTES, MAX_DATA_PAYLOAD_BYTES, SEALED_HEADER_BYTES } from '../protocol/index.ts';

/** Largest single read from a destination (bytes): one full DATA frame. */
export const DESTINATION_READ_BYTES = MAX_DATA_PAYLOAD_BYTES;
/** Framing of one DATA record: sealed-record header, frame header, AEAD tag (30 bytes). */
const DATA_RECORD_FRAMING_BYTES = SEALED_HEADER_BYTES + FRAME_HEADER_BYTES + AEAD_TAG_BYTES;
/**
 * Room a session needs before it may read (bytes): one read, plus the framing of the records it goes out in. Credit
 * that arrives in pieces splits a read into several records; this allows for 34 of them (an honest client grants
 * credit in quarter windows, so a read is rarely split at all).
 */
export const READ_COST_BYTES = DESTINATION_READ_BYTES + 34 * DATA_RECORD_FRAMING_BYTES;
/** A session paused at its own budget reads again once it holds three quarters of it (minus one read). */
const SESSION_RESUME_FRACTION = 3 / 4;
/** Sessions paused because the shared pool was full read again once the pool is down to seven eighths. */
const SHARED_POOL_RESUME_FRACTION = 7 / 8;

export interface OutboundBudgetLimits {
  maxQueuedBytesPerSession: number;
  maxQueuedBytesTotal: number;
  reservedQueuedBytesPerSession: number;
  /** How many reserves are set aside. */
  maxSessions: number;
}

/** A destination whose reading the budget can hold and release. */
export interface BudgetedDestination {
  /** true: stop reading (the session or the exit is at its budget); false: the budget allows reading. */
  setHeldByBudget(held: boolean): void;
}

/** What the budget holds now, for metrics. */
export interface OutboundBudgetStats {
  /** Bytes held for all sessions together. */
  queuedBytes: number;
  /** Bytes held for the session that holds the most. */
  largestSessionQueuedBytes: number;
  /** Bytes held above the sessions' reserves (the shared pool in use). */
  sharedPoolBytes: number;
  /** The shared pool had no room for another read: sessions above their reserve are paused until it drains. */
  sharedPoolFull: boolean;
  /** Sessions whose destinations are paused by a budget now. */
  sessionsPaused: number;
  /** Destination connections paused by a budget now. */
  destinationsPaused: number;
}

/** One session's share of the budget: what it holds, whether its destinations are paused, and those destinations. */
export class SessionAccount {
  /** What the session held when last measured. */
  queuedBytes = 0;
  /** @internal The session reached its own budget and waits for its low-water mark (set by the budget only). */
  atOwnBudget = false;
  private pausedNow = false;
  private readonly destinations = new Set<BudgetedDestination>();

  constructor(
    private readonly budget: OutboundBudget,
    /** Measures what the session holds now (its outboundQueuedBytes). */
    readonly measure: () => number,
  ) {}

  get paused(): boolean {
    return this.pausedNow;
  }

  get destinationCount(): number {
    return this.destinations.size;
  }

  /** A destination of this session starts reading (or stays held, if the session is paused). */
  addDestination(destination: BudgetedDestination): void {
    this.destinations.add(destination);
    destination.setHeldByBudget(this.pausedNow);
  }

  removeDestination(destination: BudgetedDestination): void {
    this.destinations.delete(destination);
  }

  /** Measures the session again and pauses or resumes its destinations. Call after anything that may change it. */
  update(): void {
    this.budget.update(this);
  }

  /** @internal Called by the budget only. */
  setPaused(paused: boolean): void {
    if (paused === this.pausedNow) return;
    this.pausedNow = paused;
    for (const destination of this.destinations) destination.setHeldByBudget(paused);
  }
}

export class OutboundBudget {
  private readonly accounts = new Set<SessionAccount>();
  private totalBytes = 0;
  /** What sessions hold above their reserves, together. */
  private sharedBytes = 0;
  private sharedFull = false;
  private readonly sharedLimitBytes: number;
  private readonly sharedResumeBytes: number;
  private readonly sessionResumeBytes: number;

  /** `limits` must have passed verifyExitConfig (which checks they fit together). */
  constructor(private readonly limits: OutboundBudgetLimits) {
    this.sharedLimitBytes = limits.maxQueuedBytesTotal - limits.maxSessions * limits.reservedQueuedBytesPerSession;
    this.sharedResumeBytes = Math.floor(this.sharedLimitBytes * SHARED_POOL_RESUME_FRACTION);
    this.sessionResumeBytes = Math.floor(limits.maxQueuedBytesPerSession * SESSION_RESUME_FRACTION);
  }

  /** A new session: `measure` returns what it holds now. */
  open(measure: () => number): SessionAccount {
    const account = new SessionAccount(this, measure);
    this.accounts.add(account);
    return account;
  }

  /** The session is gone, and with it everything it held. */
  close(account: SessionAccount): void {
    if (!this.accounts.delete(account)) return;
    this.count(account, 0);
    account.setPaused(true);
    this.updateSharedPool();
  }

  update(account: SessionAccount): void {
    if (!this.accounts.has(account)) return;
    this.count(account, account.measure());
    this.updateSharedPool();
    this.decide(account);
  }

  get stats(): OutboundBudgetStats {
    let largest = 0;
    let sessionsPaused = 0;
    let destinationsPaused = 0;
    for (const account of this.accounts) {
      largest = Math.max(largest, account.queuedBytes);
      if (!account.paused) continue;
      sessionsPaused++;
      destinationsPaused += account.destinationCount;
    }
    return {
      queuedBytes: this.totalBytes,
      largestSessionQueuedBytes: largest,
      sharedPoolBytes: this.sharedBytes,
      sharedPoolFull: this.sharedFull,
      sessionsPaused,
      destinationsPaused,
    };
  }

  private count(account: SessionAccount, bytes: number): void {
    this.totalBytes += bytes - account.queuedBytes;
    this.sharedBytes += this.aboveReserve(bytes) - this.aboveReserve(account.queuedBytes);
    account.queuedBytes = bytes;
  }

  private aboveReserve(bytes: number): number {
    return Math.max(0, bytes - this.limits.reservedQueuedBytesPerSession);
  }

  /**
   * The pool is full when one more read above a reserve might not fit: then every session above its reserve pauses
   * at once (a session still reading could overrun the pool before its next check). It opens again at its low-water
   * mark, and paused sessions are looked at again.
   */
  private updateSharedPool(): void {
    if (!this.sharedFull && this.sharedBytes + READ_COST_BYTES > this.sharedLimitBytes) {
      this.sharedFull = true;
      for (const account of this.accounts) if (!account.paused) this.decide(account);
    } else if (this.sharedFull && this.sharedBytes + READ_COST_BYTES <= this.sharedResumeBytes) {
      this.sharedFull = false;
      for (const account of this.accounts) if (account.paused) this.decide(account);
    }
  }

  /**
   * A session may read while one more read fits its own budget and either its reserve or the shared pool. One that
   * reached its own budget waits for its low-water mark (three quarters of it), so it does not pause and resume on
   * every ACK; one paused only by the pool reads again as soon as the pool drains.
   */
  private decide(account: SessionAccount): void {
    const afterRead = account.queuedBytes + READ_COST_BYTES;
    account.atOwnBudget = afterRead > (account.atOwnBudget ? this.sessionResumeBytes : this.limits.maxQueuedBytesPerSession);
    const overSharedPool = this.sharedFull && afterRead > this.limits.reservedQueuedBytesPerSession;
    account.setPaused(account.atOwnBudget || overSharedPool);
  }
}
