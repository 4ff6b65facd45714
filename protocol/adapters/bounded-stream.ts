/**
 * @module adapters/bounded-stream
 * A Node stream's whole body, at most `maxBytes`: a larger one is cut off (the stream destroyed) and refused with the
 * caller's own error, so nothing an untrusted peer sends can grow without bound. For the helper's rendezvous replies
 * and the test stand-ins' requests; the broker has its own reader (timeouts, UTF-8, its HTTP errors).
 */
import type { Readable } from 'node:stream';

export function readBoundedStream(stream: Readable, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    stream.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) {
        stream.destroy();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks, length)));
    stream.on('error', reject);
    // Destroyed without an error (the peer went away): the body is incomplete.
    stream.on('close', () => reject(new Error('the stream closed before its end')));
  });
}
