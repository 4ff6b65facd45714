/**
 * @module exit-server/resolver-stream
 * The exit's side of DNS through the tunnel (protocol/dns-message.ts): a stream opened to EXIT_RESOLVER_HOST:53 is
 * not dialed anywhere; each DNS-over-TCP query on it is answered from this machine's resolver, the one the exit's
 * own connections use (getaddrinfo: /etc/hosts, then the configured servers). A and AAAA are answered with the
 * addresses found; other types get an empty NOERROR answer (the record type is not served here), a name that does
 * not exist NXDOMAIN, a resolver failure SERVFAIL. Bounded: queries in flight per stream, and an idle timeout.
 */
import { lookup } from 'node:dns/promises';
import {
  addressBytes,
  buildDnsAnswer,
  DNS_TYPE_A,
  DNS_TYPE_AAAA,
  DnsMessageReader,
  DnsResponseCode,
  frameDnsMessage,
  parseDnsQuery,
} from '../protocol/dns-message.ts';
import type { MuxStream } from '../protocol/index.ts';
import { StreamErrorCode } from '../protocol/index.ts';

/** Most queries of one stream being resolved at once; more wait unread (the stream's credit holds the client back). */
export const MAX_RESOLVER_QUERIES_IN_FLIGHT = 8;

export type ResolveAddresses = (name: string, family: 4 | 6) => Promise<string[]>;

/** getaddrinfo through Node: what the exit's own dials resolve with. */
export const systemResolve: ResolveAddresses = async (name, family) => (await lookup(name, { all: true, family })).map((entry) => entry.address);

export function serveResolverStream(stream: MuxStream, options: { idleTimeoutMs: number; resolve?: ResolveAddresses; onFinished(): void }): void {
  const resolve = options.resolve ?? systemResolve;
  const reader = new DnsMessageReader();
  const waiting: Uint8Array[] = [];
  let inFlight = 0;
  let ended = false;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const touch = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => stream.reset(StreamErrorCode.GENERAL_FAILURE, 'the resolver stream was idle'), options.idleTimeoutMs);
  };
  const next = (): void => {
    while (inFlight < MAX_RESOLVER_QUERIES_IN_FLIGHT && waiting.length > 0) {
      const query = waiting.shift() as Uint8Array;
      inFlight += 1;
      void answer(query, resolve).then((reply) => {
        inFlight -= 1;
        stream.consumed(query.length + 2);
        if (stream.isClosed) return;
        stream.write(frameDnsMessage(reply));
        touch();
        if (ended && inFlight === 0 && waiting.length === 0) stream.end();
        next();
      });
    }
  };
  stream.ondata = (bytes) => {
    touch();
    let messages: Uint8Array[];
    try {
      messages = reader.push(bytes);
    } catch {
      stream.reset(StreamErrorCode.GENERAL_FAILURE, 'malformed DNS framing');
      return;
    }
    // Bytes not yet part of a whole message are granted back at once; each message's when it is answered.
    const inMessages = messages.reduce((sum, message) => sum + message.length + 2, 0);
    if (bytes.length > inMessages) stream.consumed(bytes.length - inMessages);
    waiting.push(...messages);
    next();
  };
  stream.onend = () => {
    ended = true;
    if (inFlight === 0 && waiting.length === 0) stream.end();
  };
  stream.onclose = () => {
    clearTimeout(idle);
    options.onFinished();
  };
  stream.accept();
  touch();
}

/** The reply to one query message: an answer, or FORMERR/NOTIMP for what is not a plain one-question query. */
async function answer(message: Uint8Array, resolve: ResolveAddresses): Promise<Uint8Array> {
  let query: ReturnType<typeof parseDnsQuery>;
  try {
    query = parseDnsQuery(message);
  } catch {
    // Not parseable as a query: answer FORMERR with the id it had, if it had one.
    const reply = new Uint8Array(12);
    reply.set(message.subarray(0, 2));
    reply[2] = 0x80;
    reply[3] = DnsResponseCode.FORMERR;
    return reply;
  }
  const { type, name } = query.question;
  if (type !== DNS_TYPE_A && type !== DNS_TYPE_AAAA) return buildDnsAnswer(message, query, DnsResponseCode.NOERROR);
  try {
    const found = await resolve(name, type === DNS_TYPE_A ? 4 : 6);
    const addresses = found.map(addressBytes).filter((bytes): bytes is Uint8Array => bytes !== undefined && bytes.length === (type === DNS_TYPE_A ? 4 : 16));
    return buildDnsAnswer(message, query, DnsResponseCode.NOERROR, addresses);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENODATA: the name exists but has no address of that family.
    if (code === 'ENODATA') return buildDnsAnswer(message, query, DnsResponseCode.NOERROR);
    return buildDnsAnswer(message, query, code === 'ENOTFOUND' ? DnsResponseCode.NXDOMAIN : DnsResponseCode.SERVFAIL);
  }
}
