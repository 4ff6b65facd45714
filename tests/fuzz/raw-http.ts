/**
 * @module fuzz/raw-http
 * A raw HTTP/1.1 client for fuzzing a server: it sends request bytes exactly as given (no client library cleans them
 * up) over one keep-alive TCP connection to 127.0.0.1, and parses each response strictly (RFC 9112): status line,
 * header syntax, and a body framed by Content-Length, chunked coding or the end of the connection. A response that
 * does not parse is an error, so "the server answered" also means "the answer was well-formed".
 */
import net from 'node:net';

export interface HttpResponse {
  status: number;
  /** Header names in lower case, in the order sent. */
  headers: Array<[string, string]>;
  body: Uint8Array;
  /** The server announced it closes the connection after this response. */
  closes: boolean;
}

/** The server sent bytes that are not a well-formed HTTP/1.1 response. */
export class MalformedResponseError extends Error {
  override readonly name = 'MalformedResponseError';
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CRLF = Buffer.from('\r\n');

export function headerValue(response: HttpResponse, name: string): string | undefined {
  return response.headers.find(([key]) => key === name)?.[1];
}

type Parsed = { response: HttpResponse; consumed: number } | 'need-more';

/** Parses one response from the start of `buffer`; `ended` says no more bytes will come. */
function parseResponse(buffer: Buffer, requestMethod: string, ended: boolean): Parsed {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return 'need-more';
  const lines = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = /^HTTP\/1\.[01] ([1-5]\d\d) [\t\x20-\x7e\x80-\xff]*$/.exec(lines[0] ?? '');
  if (!statusLine) throw new MalformedResponseError(`bad status line ${JSON.stringify(lines[0]?.slice(0, 80))}`);
  const status = Number(statusLine[1]);
  const headers: Array<[string, string]> = lines.slice(1).map((line) => {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (colon <= 0 || !TOKEN.test(name) || !FIELD_VALUE.test(value)) throw new MalformedResponseError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
    return [name.toLowerCase(), value];
  });
  const connection = headers.filter(([name]) => name === 'connection').map(([, value]) => value.toLowerCase());
  const closes = connection.some((value) => value.split(',').some((option) => option.trim() === 'close'));
  const bodyStart = headEnd + 4;
  const done = (body: Uint8Array, consumed: number): Parsed => ({ response: { status, headers, body, closes }, consumed });
  if (requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304) return done(new Uint8Array(0), bodyStart);
  const lengths = headers.filter(([name]) => name === 'content-length').map(([, value]) => value);
  const chunked = headers.some(([name, value]) => name === 'transfer-encoding' && value.toLowerCase().split(',').at(-1)?.trim() === 'chunked');
  if (chunked) {
    if (lengths.length > 0) throw new MalformedResponseError('both Content-Length and chunked');
    return parseChunked(buffer, bodyStart, done, ended);
  }
  if (lengths.length > 0) {
    if (new Set(lengths).size !== 1 || !/^\d+$/.test(lengths[0] ?? '')) throw new MalformedResponseError(`bad Content-Length ${lengths.join(', ')}`);
    const length = Number(lengths[0]);
    if (buffer.length - bodyStart < length) {
      if (ended) throw new MalformedResponseError(`the connection closed ${length - (buffer.length - bodyStart)} bytes before the body's end`);
      return 'need-more';
    }
    return done(buffer.subarray(bodyStart, bodyStart + length), bodyStart + length);
  }
  // Neither: the body runs to the end of the connection.
  if (!ended) return 'need-more';
  return { response: { status, headers, body: buffer.subarray(bodyStart), closes: true }, consumed: buffer.length };
}

function parseChunked(buffer: Buffer, start: number, done: (body: Uint8Array, consumed: number) => Parsed, ended: boolean): Parsed {
  const parts: Buffer[] = [];
  let position = start;
  const needMore = (): Parsed => {
    if (ended) throw new MalformedResponseError('the connection closed inside a chunked body');
    return 'need-more';
  };
  for (;;) {
    const lineEnd = buffer.indexOf(CRLF, position);
    if (lineEnd < 0) return needMore();
    const sizeText = buffer.subarray(position, lineEnd).toString('latin1').split(';')[0]?.trim() ?? '';
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new MalformedResponseError(`bad chunk size ${JSON.stringify(sizeText.slice(0, 20))}`);
    const size = Number.parseInt(sizeText, 16);
    position = lineEnd + 2;
    if (size === 0) {
      // Trailer fields, then the empty line.
      for (;;) {
        const trailerEnd = buffer.indexOf(CRLF, position);
        if (trailerEnd < 0) return needMore();
        const empty = trailerEnd === position;
        position = trailerEnd + 2;
        if (empty) return done(Buffer.concat(parts), position);
      }
    }
    if (buffer.length < position + size + 2) return needMore();
    parts.push(buffer.subarray(position, position + size));
    if (!buffer.subarray(position + size, position + size + 2).equals(CRLF)) throw new MalformedResponseError('a chunk does not end with CRLF');
    position += size + 2;
  }
}

/** One TCP connection to a server on 127.0.0.1 that sends raw requests and reads responses one at a time. */
export class RawHttpConnection {
  readonly #socket: net.Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;
  /** When the connection last carried a request (performance.now() ms): servers close idle keep-alive connections. */
  lastUsedAt = performance.now();

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    const onEnd = (): void => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', () => {});
  }

  static open(port: number): Promise<RawHttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new RawHttpConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** The server has closed its side: no more responses will come. */
  get ended(): boolean {
    return this.#ended;
  }

  send(bytes: Uint8Array): void {
    this.lastUsedAt = performance.now();
    this.#socket.write(bytes);
  }

  /** Half-closes: the server reads the end of the input after what was sent. */
  end(): void {
    this.#socket.end();
  }

  /**
   * The next response to a request made with `requestMethod` (HEAD responses have no body), skipping interim ones
   * (100 Continue; 101 Switching Protocols is returned: after it the bytes are no longer HTTP); undefined when the
   * server closed the connection without sending one. Throws MalformedResponseError.
   */
  async readResponse(requestMethod: string): Promise<HttpResponse | undefined> {
    for (;;) {
      const parsed = parseResponse(this.#buffer, requestMethod, this.#ended);
      if (parsed !== 'need-more') {
        this.#buffer = this.#buffer.subarray(parsed.consumed);
        if (parsed.response.status < 200 && parsed.response.status !== 101) continue;
        return parsed.response;
      }
      if (this.#ended) {
        if (this.#buffer.length === 0) return undefined;
        throw new MalformedResponseError(`the connection closed inside a response head: ${JSON.stringify(this.#buffer.subarray(0, 80).toString('latin1'))}`);
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }
}
