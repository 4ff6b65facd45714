/**
 * Fuzz target: the helper's SOCKS5 server (native-helper/socks5-server.ts), a real one on 127.0.0.1, fed byte
 * streams over real TCP connections: near-valid handshakes (RFC 1928 greeting, request, early data) damaged here and
 * there, and random bytes, written in pieces cut anywhere.
 *
 * A model reads the same bytes as RFC 1928 and the server's documented choices say (NO AUTH only, CONNECT only,
 * printable domain names, no port 0) and predicts every byte the server sends. Properties:
 * - the server sends exactly the model's replies, then closes; never anything else, never an internal error
 *   (SOCKS_INTERNAL), never a hang;
 * - the dialer is asked for exactly the CONNECT the model read, host and port, and for nothing when the model read
 *   none; a failed dial's reply code reaches the client; after a successful one the early data reaches the target.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { waitFor } from '../../../harness/wait.ts';
import type { ProxyNotice } from '../../../native-helper/socks5-server.ts';
import { Socks5Server } from '../../../native-helper/socks5-server.ts';
import { DialError, type DialReplyCode, type DialTarget, type TunnelDialer } from '../../../native-helper/tunnel-dialer.ts';
import { concatBytes } from '../../../protocol/bytes.ts';
import type { FuzzTarget } from '../target.ts';

export interface Socks5Input {
  /** What the client sends, in the writes it sends it in. */
  writes: Uint8Array[];
}

/** The dialer's answer is chosen by the port, so the model knows it: 0 connects (to an echo), 1..6 fail with that code. */
const dialOutcomeOf = (port: number): 0 | DialReplyCode => (port % 7) as 0 | DialReplyCode;

const reply = (code: number): number[] => [5, code, 0, 1, 0, 0, 0, 0, 0, 0];

interface SocksPrediction {
  /** Every byte the server sends before the dial's answer (or before it closes, when it dials nothing). */
  replies: number[];
  /** Stream length at which the server has decided (refusal or CONNECT); undefined when the bytes end first. */
  decidedAt: number | undefined;
  /** The CONNECT the dialer must be asked for. */
  dial: DialTarget | undefined;
}

/** IPv6 text as RFC 5952 (and the WHATWG URL serializer) writes it. */
function ipv6Text(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let index = 0; index < 16; index += 2) groups.push((((bytes[index] ?? 0) << 8) | (bytes[index + 1] ?? 0)).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** The server's replies to `bytes`, as RFC 1928 and the server's documentation say. */
function predictSocks5(bytes: Uint8Array): SocksPrediction {
  const replies: number[] = [];
  const refuse = (at: number, refusal: number[]): SocksPrediction => ({ replies: [...replies, ...refusal], decidedAt: at, dial: undefined });
  const undecided = (): SocksPrediction => ({ replies, decidedAt: undefined, dial: undefined });
  if (bytes.length < 2) return undecided();
  const methodCount = bytes[1] ?? 0;
  if (bytes[0] !== 5 || methodCount === 0) return refuse(2, [5, 0xff]);
  if (bytes.length < 2 + methodCount) return undecided();
  if (!bytes.subarray(2, 2 + methodCount).includes(0)) return refuse(2 + methodCount, [5, 0xff]);
  replies.push(5, 0);
  const request = 2 + methodCount;
  if (bytes.length < request + 4) return undecided();
  if (bytes[request] !== 5) return refuse(request + 4, reply(1));
  if (bytes[request + 1] !== 1) return refuse(request + 4, reply(7));
  const addressType = bytes[request + 3];
  let addressStart = request + 4;
  let addressLength: number;
  if (addressType === 1) addressLength = 4;
  else if (addressType === 4) addressLength = 16;
  else if (addressType === 3) {
    if (bytes.length < addressStart + 1) return undecided();
    addressLength = bytes[addressStart] ?? 0;
    addressStart += 1;
    if (addressLength === 0) return refuse(addressStart, reply(1));
  } else return refuse(request + 4, reply(8));
  const end = addressStart + addressLength + 2;
  if (bytes.length < end) return undecided();
  const address = bytes.subarray(addressStart, addressStart + addressLength);
  if (addressType === 3 && address.some((byte) => byte < 0x21 || byte > 0x7e)) return refuse(end, reply(1));
  const port = ((bytes[end - 2] ?? 0) << 8) | (bytes[end - 1] ?? 0);
  if (port === 0) return refuse(end, reply(1));
  const host = addressType === 1 ? [...address].join('.') : addressType === 4 ? ipv6Text(address) : String.fromCharCode(...address);
  return { replies, decidedAt: end, dial: { host, port } };
}

// ---- inputs ----

const greeting = fc
  .tuple(
    fc.oneof({ weight: 9, arbitrary: fc.constant(5) }, { weight: 1, arbitrary: fc.nat(255) }),
    fc.oneof(
      { weight: 4, arbitrary: fc.constant([0]) },
      { weight: 3, arbitrary: fc.array(fc.nat(255), { maxLength: 6 }) },
      { weight: 2, arbitrary: fc.array(fc.constantFrom(0, 1, 2), { minLength: 1, maxLength: 3 }) },
    ),
  )
  .map(([version, methods]) => [version, methods.length, ...methods]);
/** Bytes on the edges the protocol draws (printable ASCII 0x21..0x7e, the version, the types), then any byte. */
const edgyByte = fc.oneof(fc.constantFrom(0x00, 0x01, 0x03, 0x04, 0x05, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0xff), fc.nat(255));
const printableName = fc.array(fc.integer({ min: 0x21, max: 0x7e }), { minLength: 1, maxLength: 40 });
/** A printable name with one byte on either side of the printable range put in: where a parser's bound slips. */
const nameWithEdgeByte = fc
  .tuple(printableName, fc.nat(), fc.constantFrom(0x00, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0xff))
  .map(([name, at, byte]) => [...name.slice(0, at % (name.length + 1)), byte, ...name.slice(at % (name.length + 1))]);
const address = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => [1, ...bytes]) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => [4, ...bytes]) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }), fc.nat(7), fc.nat(7))
      .map(([groups, from, count]) => [4, ...groups.flatMap((group, index) => (index >= from && index < from + count ? [0, 0] : [group >> 8, group & 0xff]))]),
  },
  { weight: 3, arbitrary: printableName.map((name) => [3, name.length, ...name]) },
  { weight: 2, arbitrary: nameWithEdgeByte.map((name) => [3, name.length, ...name]) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((bytes) => [3, bytes.length, ...bytes]) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(255), fc.uint8Array({ maxLength: 8 })).map(([type, bytes]) => [type, ...bytes]) },
);
const request = fc
  .tuple(
    fc.oneof({ weight: 9, arbitrary: fc.constant(5) }, { weight: 1, arbitrary: fc.nat(255) }),
    fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.nat(255) }),
    fc.nat(255),
    address,
    fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 0xffff }) }, { weight: 1, arbitrary: fc.constant(0) }),
  )
  .map(([version, command, reserved, target, port]) => [version, command, reserved, ...target, port >> 8, port & 0xff]);
const handshake = fc.tuple(greeting, request, fc.uint8Array({ maxLength: 24 })).map(([hello, ask, early]) => Uint8Array.from([...hello, ...ask, ...early]));
const damaged = fc.tuple(handshake, fc.nat(), edgyByte, fc.constantFrom('set', 'cut')).map(([bytes, at, value, how]) => {
  if (how === 'cut' || bytes.length === 0) return bytes.subarray(0, at % (bytes.length + 1));
  const changed = bytes.slice();
  changed[at % changed.length] = value;
  return changed;
});
const streamBytes = fc.oneof(
  { weight: 5, arbitrary: handshake },
  { weight: 4, arbitrary: damaged },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }) },
);
const input: fc.Arbitrary<Socks5Input> = fc.tuple(streamBytes, fc.array(fc.nat(), { maxLength: 4 })).map(([bytes, cuts]) => {
  const points = [...new Set(cuts.map((cut) => (bytes.length === 0 ? 0 : cut % bytes.length)).filter((cut) => cut > 0))].sort((a, b) => a - b);
  return { writes: [0, ...points].map((start, index) => bytes.subarray(start, points[index] ?? bytes.length)).filter((write) => write.length > 0) };
});

// ---- the session ----

/** Records every dial; answers as dialOutcomeOf says, connecting successes to an echo. */
class ScriptedDialer implements TunnelDialer {
  readonly dialed: DialTarget[] = [];

  dial(target: DialTarget): Promise<Duplex> {
    this.dialed.push({ ...target });
    const outcome = dialOutcomeOf(target.port);
    if (outcome === 0) return Promise.resolve(new PassThrough());
    return Promise.reject(new DialError(outcome, `scripted failure ${outcome}`, 'SCRIPTED'));
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Connects, writes each piece on its own turn of the event loop, and collects what the server sends until it closes. */
async function exchange(port: number, writes: Uint8Array[], endWhen: (received: number) => boolean): Promise<number[]> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.setNoDelay(true);
  const received: number[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let ended = false;
  let allWritten = false;
  const endIfDone = (): void => {
    if (allWritten && !ended && endWhen(received.length)) {
      ended = true;
      socket.end();
    }
  };
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    received.push(...chunk);
    endIfDone();
  });
  // Our own FIN once the server has had its say; the server's FIN then ends the connection.
  socket.on('end', () => socket.end());
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    for (const [index, write] of writes.entries()) {
      if (index > 0) await nextTurn();
      if (socket.destroyed) break;
      socket.write(write);
    }
    allWritten = true;
    endIfDone();
    await closed;
    return received;
  } finally {
    socket.destroy();
  }
}

export const socks5Target: FuzzTarget<Socks5Input> = {
  name: 'socks5',
  description:
    'the helper SOCKS5 server on 127.0.0.1 fed damaged and random handshakes in pieces: model-exact replies, exactly the CONNECTs the model read are dialed',
  input,
  async start() {
    const dialer = new ScriptedDialer();
    const notices: ProxyNotice[] = [];
    const server = await Socks5Server.start({ dialer, onNotice: (notice) => notices.push(notice) });

    async function check({ writes }: Socks5Input): Promise<void> {
      const bytes = concatBytes(...writes);
      const prediction = predictSocks5(bytes);
      // Nothing past the server's decision is sent in a later write: the server stops reading there.
      let sent = 0;
      const toSend = writes.filter((write) => {
        const keep = prediction.decidedAt === undefined || sent < prediction.decidedAt;
        sent += write.length;
        return keep;
      });
      const sentBytes = concatBytes(...toSend);
      const outcome = prediction.dial ? dialOutcomeOf(prediction.dial.port) : undefined;
      const earlyData = prediction.decidedAt === undefined ? [] : [...sentBytes.subarray(prediction.decidedAt)];
      let expected: number[];
      if (outcome === undefined) expected = prediction.replies;
      else if (outcome === 0) expected = [...prediction.replies, ...reply(0), ...earlyData];
      else expected = [...prediction.replies, ...reply(outcome)];
      dialer.dialed.length = 0;
      notices.length = 0;
      // Undecided: end at once (the server must give up on a half handshake). Connected: end once the echo is back.
      const endAt = prediction.decidedAt === undefined ? 0 : outcome === 0 ? expected.length : Number.POSITIVE_INFINITY;
      const received = await exchange(server.port, toSend, (count) => count >= endAt);

      // Also a refusal that arrives in one read with the greeting: 05 00 first, then the refusal (a bug the fuzzing found).
      assert.deepEqual(received, expected, `the server's bytes for ${Buffer.from(sentBytes).toString('hex')}`);
      assert.deepEqual(dialer.dialed, prediction.dial ? [prediction.dial] : [], 'the dialer was asked for exactly the CONNECT the model read');
      assert.deepEqual(
        notices.filter((notice) => notice.code === 'SOCKS_INTERNAL'),
        [],
        'no handshake failed with an internal error',
      );
    }

    return {
      check,
      checkStillServing: async () => {
        await waitFor(() => server.connectionCount === 0, 'the SOCKS5 server to free every connection', { timeoutMs: 5_000, intervalMs: 10 });
        await check({ writes: [Uint8Array.of(5, 1, 0, 5, 1, 0, 3, 9, ...Buffer.from('localhost'), 0x01, 0xb9, 0x68, 0x69)] });
      },
      close: () => server.close(),
      toleratedBugs: new Map(),
    };
  },
};
