import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { waitFor, withTimeout } from '../../../harness/wait.ts';
import { RecordType } from '../../../protocol/constants.ts';
import { generateKeyPair } from '../../../protocol/crypto.ts';
import type { ProtocolError } from '../../../protocol/errors.ts';
import { ClientSession, type ClientSessionOptions, ExitSession, type ExitSessionOptions } from '../../../protocol/index.ts';
import { encodeRefusedRecord } from '../../../protocol/record.ts';
import type { SessionPath } from '../../../protocol/session-path.ts';
import type { MuxStream } from '../../../protocol/stream.ts';
import { echo, readAll, writeAll } from './session-harness.ts';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Sessions setup() made: closed after each test, so one that fails half-way cannot leave a heartbeat timer running (a hang). */
const liveSessions = new Set<ClientSession | ExitSession>();
afterEach(() => {
  for (const session of liveSessions) session.close();
  liveSessions.clear();
});

/** A path between the two ends, as a volunteer would be: it delivers records asynchronously until it is cut. */
class Path {
  cut = false;
  readonly toExit: Uint8Array[] = [];
  /** When each record in toExit was sent (Date.now()). */
  readonly sentAt: number[] = [];
  exitSide: ((record: Uint8Array) => void) | undefined;
  clientSide: ((record: Uint8Array) => void) | undefined;
  clientSend = (record: Uint8Array): void => {
    const copy = record.slice();
    this.toExit.push(copy);
    this.sentAt.push(Date.now());
    setImmediate(() => !this.cut && this.exitSide?.(copy));
  };
  exitSend = (record: Uint8Array): void => {
    const copy = record.slice();
    setImmediate(() => !this.cut && this.clientSide?.(copy));
  };
}

interface Setup {
  client: ClientSession;
  exit: ExitSession;
  path: Path;
  exitClosed: Promise<ProtocolError | undefined>;
  clientClosed: Promise<ProtocolError | undefined>;
}

function setup(overrides: { client?: Partial<ClientSessionOptions>; exit?: Partial<ExitSessionOptions> } = {}): Setup {
  const exitKeys = generateKeyPair();
  const path = new Path();
  let resolveExit!: (error: ProtocolError | undefined) => void;
  let resolveClient!: (error: ProtocolError | undefined) => void;
  const exitClosed = new Promise<ProtocolError | undefined>((resolve) => (resolveExit = resolve));
  const clientClosed = new Promise<ProtocolError | undefined>((resolve) => (resolveClient = resolve));
  const exit = new ExitSession({ staticKeyPair: exitKeys, sendRecord: path.exitSend, onOpenRequest: echo, onClose: resolveExit, ...overrides.exit });
  const client = new ClientSession({ exitPublicKey: exitKeys.publicKey, sendRecord: path.clientSend, onClose: resolveClient, ...overrides.client });
  // Each end hears this volunteer's records as this path's, as the exit server and the helper do.
  const exitPath = exit.firstPath;
  const clientPath = client.currentPath;
  path.exitSide = (record) => exit.receiveRecord(record, exitPath);
  path.clientSide = (record) => client.receiveRecord(record, clientPath);
  liveSessions.add(client).add(exit);
  return { client, exit, path, exitClosed, clientClosed };
}

/** A new volunteer: the client resumes through it, the exit accepts the RESUME it carries. */
function newPath(s: Setup): { path: Path; decisions: Array<{ accepted: true } | { accepted: false; reason: string }> } {
  const path = new Path();
  const decisions: Array<{ accepted: true } | { accepted: false; reason: string }> = [];
  let exitPath: SessionPath | undefined;
  let first = true;
  path.exitSide = (record) => {
    if (first) {
      first = false;
      const decision = s.exit.acceptResume(record, path.exitSend);
      decisions.push(decision.accepted ? { accepted: true } : decision);
      if (decision.accepted) exitPath = decision.path;
      // What the exit server does with a refusal: tell the client on that path.
      else path.exitSend(encodeRefusedRecord(decision.reason));
      return;
    }
    s.exit.receiveRecord(record, exitPath);
  };
  const clientPath = s.client.resume(path.clientSend);
  path.clientSide = (record) => s.client.receiveRecord(record, clientPath);
  return { path, decisions };
}

/**
 * Resolves at the delivery that takes `stream` to `bytes` received (it wraps the reader's ondata), so the test acts
 * while the transfer is still running rather than whenever a poll happens to look.
 */
function receivedAtLeast(stream: MuxStream, bytes: number): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const deliver = stream.ondata;
      stream.ondata = (data) => {
        deliver?.(data);
        if (stream.bytesReceived >= bytes) {
          stream.ondata = deliver;
          resolve();
        }
      };
    }),
    `${bytes} bytes to arrive on the stream`,
  );
}

test('a stream carries on through a new path after the old one dies mid-transfer: nothing lost, duplicated or reordered', async () => {
  const s = setup();
  s.client.start();
  await s.client.whenOpen();
  const stream = s.client.openStream({ host: 'example.org', port: 80 });
  await new Promise<void>((resolve) => (stream.onopen = resolve));
  const payload = randomBytes(4 * 1024 * 1024);
  const received = readAll(stream);
  const writing = writeAll(stream, payload, 32 * 1024);
  // Let a good part flow, then kill the volunteer: whatever was in flight on it is lost.
  await receivedAtLeast(stream, 1024 * 1024);
  s.path.cut = true;
  s.client.transportLost('volunteer gone');
  s.exit.transportLost('volunteer gone');
  assert.equal(s.client.state, 'detached');
  const next = newPath(s);
  await writing;
  assert.equal(sha(await received), sha(payload));
  assert.deepEqual(next.decisions, [{ accepted: true }]);
  assert.equal(s.client.stats.resumes, 1);
  // And once more, to show a session survives repeated changes.
  const third = new Path();
  third.exitSide = (record) => (third.toExit.length === 1 ? s.exit.acceptResume(record, third.exitSend) : s.exit.receiveRecord(record));
  third.clientSide = (record) => s.client.receiveRecord(record);
  next.path.cut = true;
  s.client.resume(third.clientSend);
  await s.client.whenOpen();
  const again = s.client.openStream({ host: 'example.org', port: 81 });
  await new Promise<void>((resolve) => (again.onopen = resolve));
  assert.equal(s.client.stats.resumes, 2);
  s.client.close();
});

test('a forged RESUME and a replayed RESUME are refused, and the session they targeted carries on unharmed', async () => {
  const s = setup();
  s.client.start();
  await s.client.whenOpen();
  // A real resume through volunteer B; its RESUME record is captured (as B, or anyone on B's path, could).
  s.path.cut = true;
  s.client.transportLost('gone');
  s.exit.transportLost('gone');
  const b = newPath(s);
  await s.client.whenOpen();
  assert.deepEqual(b.decisions, [{ accepted: true }]);
  const capturedResume = b.path.toExit.find((record) => record[0] === RecordType.RESUME);
  assert.ok(capturedResume);

  const hijacker = (): Uint8Array[] => [];
  const replayed = s.exit.acceptResume(capturedResume, hijacker as never);
  assert.equal(replayed.accepted, false);
  assert.match(replayed.accepted ? '' : replayed.reason, /stale|replayed/);

  const forged = capturedResume.slice();
  forged.set([0xff, 0xff, 0xff, 0xff], 17); // a far higher attempt number, without the key to tag it
  const forgedDecision = s.exit.acceptResume(forged, hijacker as never);
  assert.equal(forgedDecision.accepted, false);
  assert.match(forgedDecision.accepted ? '' : forgedDecision.reason, /authentication/);

  // Unharmed: still open on B, streams still work end to end.
  assert.equal(s.exit.state, 'open');
  const stream = s.client.openStream({ host: 'example.org', port: 80 });
  await new Promise<void>((resolve) => (stream.onopen = resolve));
  const payload = randomBytes(256 * 1024);
  const received = readAll(stream);
  await writeAll(stream, payload);
  assert.equal(sha(await received), sha(payload));
  s.client.close();
});

test("a resume that comes too late is refused with a clear error; the client's streams fail, nothing hangs", async () => {
  const s = setup({ exit: { config: { detachedTimeoutMs: 200, pathSilenceTimeoutMs: 100, heartbeatIntervalMs: 50 } } });
  s.client.start();
  await s.client.whenOpen();
  const stream = s.client.openStream({ host: 'example.org', port: 80 });
  await new Promise<void>((resolve) => (stream.onopen = resolve));
  const streamClosed = new Promise<Error | undefined>((resolve) => (stream.onclose = resolve));
  s.path.cut = true;
  s.client.transportLost('gone');
  s.exit.transportLost('gone');
  const exitError = await s.exitClosed;
  assert.equal(exitError?.code, 'FERRY_ERR_RESUME_TIMEOUT');
  const late = newPath(s);
  const clientError = await s.clientClosed;
  assert.equal(late.decisions[0]?.accepted, false);
  assert.equal(clientError?.code, 'FERRY_ERR_RESUME_REFUSED');
  assert.match(clientError?.message ?? '', /could not continue the session/);
  assert.match((await streamClosed)?.message ?? '', /could not continue the session/);
});

test('a client that hears nothing for pathSilenceTimeoutMs reports the path dead, once, and lets go of it', async () => {
  const silent: string[] = [];
  const s = setup({ client: { config: { heartbeatIntervalMs: 50, pathSilenceTimeoutMs: 150 }, onPathFailed: (reason) => silent.push(reason) } });
  s.client.start();
  await s.client.whenOpen();
  // Each heartbeat check of the client may send a PATH_PING and judges silence, so a PATH_PING sent at a given time
  // proves that a check ran (completely) then.
  const pingTimes = (): number[] => s.path.toExit.flatMap((record, i) => (record[0] === RecordType.PATH_PING ? [s.path.sentAt[i] ?? 0] : []));
  const pingSentAfter = (time: number): boolean => pingTimes().some((sentAt) => sentAt >= time);
  // Not silent while live: wait for a check 300 ms (twice pathSilenceTimeoutMs) after the session opened. Without the
  // heartbeats' answers that check, or an earlier one, would have reported the path silent.
  const openedAt = Date.now();
  await waitFor(() => pingSentAfter(openedAt + 300), 'a heartbeat check 300 ms after the session opened');
  assert.deepEqual(silent, [], 'heartbeats keep a live path from looking silent');
  s.path.cut = true;
  await waitFor(() => silent.length > 0, 'the silent path to be reported');
  // Reported once: the session let go of the silent path at once (silence is judged only while a path is held).
  assert.equal(s.client.state, 'detached');
  assert.equal(silent.length, 1);
  assert.match(silent[0] ?? '', /nothing arrived through this volunteer/);
  s.client.close();
});

/** Ways a hostile volunteer can spoil one record on its way, each a check that comes before authentication. */
const spoilers: Array<[string, (record: Uint8Array, earlier: Uint8Array[]) => Uint8Array]> = [
  [
    'a flipped bit',
    (record) => {
      const spoiled = record.slice();
      spoiled[spoiled.length - 1] = (spoiled[spoiled.length - 1] ?? 0) ^ 0x01;
      return spoiled;
    },
  ],
  ['a replayed record', (_record, earlier) => earlier[earlier.length - 2] ?? new Uint8Array(0)],
  ['an unknown record type', () => Uint8Array.of(0x7f, 1, 2, 3)],
  ['an empty record', () => new Uint8Array(0)],
  ['an injected REFUSED', () => encodeRefusedRecord('this exit is full')],
];

for (const [name, spoil] of spoilers) {
  for (const victim of ['exit', 'client'] as const) {
    test(`${name} on the way to the ${victim} fails that path, not the session: the transfer completes after a resume`, async () => {
      const failed: string[] = [];
      const onPathFailed = (reason: string): void => void failed.push(reason);
      const s = setup(victim === 'exit' ? { exit: { onPathFailed } } : { client: { onPathFailed } });
      s.client.start();
      await s.client.whenOpen();
      const stream = s.client.openStream({ host: 'example.org', port: 80 });
      await new Promise<void>((resolve) => (stream.onopen = resolve));
      const payload = randomBytes(2 * 1024 * 1024);
      const received = readAll(stream);
      const writing = writeAll(stream, payload, 32 * 1024);
      await receivedAtLeast(stream, 512 * 1024);
      // The volunteer spoils the next SEALED record toward the victim.
      const seen: Uint8Array[] = [];
      const deliver = victim === 'exit' ? s.path.exitSide : s.path.clientSide;
      let spoiled = false;
      const intercept = (record: Uint8Array): void => {
        if (record[0] !== RecordType.SEALED || spoiled) {
          deliver?.(record);
          return;
        }
        if (seen.length >= 2) {
          spoiled = true;
          deliver?.(spoil(record, seen));
          return;
        }
        seen.push(record);
        deliver?.(record);
      };
      if (victim === 'exit') s.path.exitSide = intercept;
      else s.path.clientSide = intercept;
      await waitFor(() => failed.length > 0, `the ${victim} to give up the path`);
      assert.equal((victim === 'exit' ? s.exit : s.client).state, 'detached', 'the session detached; it did not close');
      assert.equal((victim === 'exit' ? s.exit : s.client).stats.pathsFailed, 1);
      assert.match(failed[0] ?? '', /failed its checks/);
      // What the parts around the sessions do: the exit drops that volunteer's socket, the client gets another one.
      s.path.cut = true;
      s.exit.transportLost('the exit dropped the hostile path');
      const next = newPath(s);
      await writing;
      assert.equal(sha(await received), sha(payload), 'every byte arrived once, in order');
      assert.deepEqual(next.decisions, [{ accepted: true }]);
      assert.notEqual(s.client.state, 'closed');
      s.client.close();
    });
  }
}

test('records are acknowledged, so the replay buffer stays small on a healthy path', async () => {
  const s = setup();
  s.client.start();
  await s.client.whenOpen();
  const stream = s.client.openStream({ host: 'example.org', port: 80 });
  await new Promise<void>((resolve) => (stream.onopen = resolve));
  const received = readAll(stream);
  await writeAll(stream, randomBytes(2 * 1024 * 1024));
  await received;
  // The last records of each direction are acknowledged within ackDelayMs; wait (bounded) for those ACKs to land.
  await waitFor(
    () => s.client.stats.replayBufferBytes < 64 * 1024 && s.exit.stats.replayBufferBytes < 64 * 1024,
    'the last ACKs to shrink both replay buffers below 64 KiB',
  );
  assert.ok(s.client.stats.replayBufferBytes < 64 * 1024, `client holds ${s.client.stats.replayBufferBytes} bytes`);
  assert.ok(s.exit.stats.replayBufferBytes < 64 * 1024, `exit holds ${s.exit.stats.replayBufferBytes} bytes`);
  s.client.close();
});
