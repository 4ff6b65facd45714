// Connects a ClientSession and an ExitSession through several in-memory paths, each a stand-in volunteer that can
// delay, drop, change or repeat what it carries, for the multipath tests.

import { RecordType } from '../../../protocol/constants.ts';
import { generateKeyPair } from '../../../protocol/crypto.ts';
import type { ProtocolError } from '../../../protocol/errors.ts';
import { ClientSession, type ClientSessionOptions, ExitSession, type ExitSessionOptions } from '../../../protocol/index.ts';
import { PathRole } from '../../../protocol/resume.ts';
import type { SessionPath } from '../../../protocol/session-path.ts';
import { echo } from './session-harness.ts';

export type Direction = 'to-exit' | 'to-client';

/**
 * What the volunteer does with one record going `direction`: the records it passes on instead (none: dropped; the
 * record twice: replayed; a changed copy: tampered). `sealedIndex` counts the SEALED records that went that way on
 * this path; undefined for the other kinds.
 */
export type Meddler = (record: Uint8Array, direction: Direction, sealedIndex: number | undefined) => Uint8Array[];

/** One volunteer between the two ends: delivers each direction in order (a data channel is ordered), after a delay if asked. */
export class TestPath {
  cut = false;
  clientPath: SessionPath | undefined;
  exitPath: SessionPath | undefined;
  /** SEALED records carried each way (as sent, before any meddling). */
  readonly sealed = { 'to-exit': 0, 'to-client': 0 };
  meddle: Meddler | undefined;
  /** Extra delay per record each way (ms); order within the direction is kept. */
  delayMs: { 'to-exit': () => number; 'to-client': () => number } = { 'to-exit': () => 0, 'to-client': () => 0 };
  /**
   * Each direction's bandwidth (bytes per ms), undefined for none: a record then also waits for the ones ahead of it
   * to pass, as on a real link, so what a path holds in flight says how soon more would arrive there.
   */
  bytesPerMs: number | undefined;
  /** Records on their way, each direction in order, with when each is due. */
  private readonly queues: Record<Direction, Array<{ record: Uint8Array; dueAt: number }>> = { 'to-exit': [], 'to-client': [] };
  private readonly pumping = { 'to-exit': false, 'to-client': false };
  private firstToExit = true;

  constructor(
    private readonly mesh: Mesh,
    readonly name: string,
  ) {}

  readonly clientSend = (record: Uint8Array): void => this.carry(record.slice(), 'to-exit');
  readonly exitSend = (record: Uint8Array): void => this.carry(record.slice(), 'to-client');

  private carry(record: Uint8Array, direction: Direction): void {
    if (this.cut) return;
    const sealedIndex = record[0] === RecordType.SEALED ? this.sealed[direction]++ : undefined;
    const records = this.meddle ? this.meddle(record, direction, sealedIndex) : [record];
    const queue = this.queues[direction];
    for (const each of records) {
      // Never due before the one ahead of it: a data channel delivers in order, however late.
      const passing = this.bytesPerMs === undefined ? 0 : each.length / this.bytesPerMs;
      const dueAt = Math.max(queue[queue.length - 1]?.dueAt ?? 0, Date.now() + this.delayMs[direction]()) + passing;
      queue.push({ record: each, dueAt });
    }
    this.pump(direction);
  }

  /** Delivers what is due, in order, one turn of the event loop after it was sent at the soonest. */
  private pump(direction: Direction): void {
    if (this.pumping[direction]) return;
    const head = this.queues[direction][0];
    if (head === undefined) return;
    this.pumping[direction] = true;
    const run = (): void => {
      this.pumping[direction] = false;
      const queue = this.queues[direction];
      while (!this.cut && queue.length > 0 && (queue[0]?.dueAt ?? 0) <= Date.now()) {
        const { record } = queue.shift() as { record: Uint8Array };
        if (direction === 'to-client') {
          // A stranger's connection reaches no client.
          if (this.clientPath !== undefined) this.mesh.client.receiveRecord(record, this.clientPath);
        } else this.toExit(record);
      }
      if (this.cut) queue.length = 0;
      else this.pump(direction);
    };
    const wait = head.dueAt - Date.now();
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
  }

  /** The exit server's part: a path's first record is HELLO (the first path), JOIN or RESUME. */
  private toExit(record: Uint8Array): void {
    const exit = this.mesh.exit;
    if (this.firstToExit) {
      this.firstToExit = false;
      if (record[0] === RecordType.JOIN || record[0] === RecordType.RESUME) {
        const decision = record[0] === RecordType.JOIN ? exit.acceptJoin(record, this.exitSend) : exit.acceptResume(record, this.exitSend);
        this.mesh.decisions.push(decision.accepted ? { path: this.name, accepted: true } : { path: this.name, accepted: false, reason: decision.reason });
        if (!decision.accepted) {
          this.exitSend(Uint8Array.of(RecordType.REFUSED, ...new TextEncoder().encode(decision.reason)));
          return;
        }
        this.exitPath = decision.path;
        for (const replaced of decision.replaced) this.mesh.pathByExitSide(replaced)?.close('replaced by a RESUME');
        return;
      }
    }
    exit.receiveRecord(record, this.exitPath);
  }

  private closed = false;

  /**
   * The volunteer goes away: neither end hears more from it, and each sees its connection close (a killed browser's
   * sockets close with its process; `cut` alone is a volunteer that stops passing records on and says nothing).
   */
  close(reason = 'the volunteer went away'): void {
    if (this.closed) return;
    this.closed = true;
    this.cut = true;
    setImmediate(() => {
      if (this.clientPath) this.mesh.client.removePath(this.clientPath, reason);
      if (this.exitPath) this.mesh.exit.removePath(this.exitPath, reason);
    });
  }
}

export interface PathFailure {
  side: 'client' | 'exit';
  path: string;
  reason: string;
}

/** A client and an exit joined by TestPaths. */
export class Mesh {
  readonly client: ClientSession;
  readonly exit: ExitSession;
  readonly paths: TestPath[] = [];
  readonly failures: PathFailure[] = [];
  readonly decisions: Array<{ path: string; accepted: boolean; reason?: string }> = [];
  readonly clientClosed: Promise<ProtocolError | undefined>;
  readonly exitClosed: Promise<ProtocolError | undefined>;

  constructor(overrides: { client?: Partial<ClientSessionOptions>; exit?: Partial<ExitSessionOptions> } = {}) {
    const exitKeys = generateKeyPair();
    const first = new TestPath(this, 'A');
    this.paths.push(first);
    let resolveClient!: (error: ProtocolError | undefined) => void;
    let resolveExit!: (error: ProtocolError | undefined) => void;
    this.clientClosed = new Promise((resolve) => (resolveClient = resolve));
    this.exitClosed = new Promise((resolve) => (resolveExit = resolve));
    // Whichever end gives a path up closes it, and the other end sees it close, as with a real volunteer.
    const failed = (side: 'client' | 'exit') => (reason: string, sessionPath: SessionPath) => {
      const path = side === 'client' ? this.pathByClientSide(sessionPath) : this.pathByExitSide(sessionPath);
      this.failures.push({ side, path: path?.name ?? '?', reason });
      path?.close(reason);
    };
    this.exit = new ExitSession({
      staticKeyPair: exitKeys,
      sendRecord: first.exitSend,
      onOpenRequest: echo,
      onClose: resolveExit,
      onPathFailed: failed('exit'),
      ...overrides.exit,
    });
    this.client = new ClientSession({
      exitPublicKey: exitKeys.publicKey,
      sendRecord: first.clientSend,
      onClose: resolveClient,
      onPathFailed: failed('client'),
      ...overrides.client,
    });
    first.exitPath = this.exit.firstPath;
    first.clientPath = this.client.currentPath;
    // The exit server's sweep: the exit's heartbeat.
    this.exitHeartbeat = setInterval(() => this.exit.tick(), 25);
  }

  private readonly exitHeartbeat: ReturnType<typeof setInterval>;

  async open(): Promise<void> {
    this.client.start();
    await this.client.whenOpen();
  }

  /** A connection to the exit that no client asked for: whatever a volunteer sends on it reaches the exit as a new path. */
  stranger(name: string): TestPath {
    const path = new TestPath(this, name);
    this.paths.push(path);
    return path;
  }

  /** A new volunteer whose path the client adds beside the others (JOIN). */
  join(name: string, role: PathRole = PathRole.CARRY, meddle?: Meddler): TestPath {
    const path = new TestPath(this, name);
    path.meddle = meddle;
    this.paths.push(path);
    path.clientPath = this.client.join(path.clientSend, role);
    return path;
  }

  /** A new volunteer the client moves the whole session to (RESUME). */
  resume(name: string): TestPath {
    const path = new TestPath(this, name);
    this.paths.push(path);
    path.clientPath = this.client.resume(path.clientSend);
    return path;
  }

  pathByClientSide(sessionPath: SessionPath): TestPath | undefined {
    return this.paths.find((path) => path.clientPath === sessionPath);
  }

  pathByExitSide(sessionPath: SessionPath): TestPath | undefined {
    return this.paths.find((path) => path.exitPath === sessionPath);
  }

  close(): void {
    clearInterval(this.exitHeartbeat);
    for (const path of this.paths) path.cut = true;
    this.client.close();
    this.exit.close();
  }
}

/** Both ends have the path live. */
export function isLive(mesh: Mesh, path: TestPath): boolean {
  return path.clientPath?.state === 'live' && path.exitPath?.state === 'live' && mesh.client.attachedPaths.includes(path.clientPath);
}
