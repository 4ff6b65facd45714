/**
 * @module pipe-tokens
 * The one-time token that lets the extension's offscreen document open the pipe. Only the latest issued token is
 * valid, and only until one connection used it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Token entropy, in bytes (base64url-encoded to 43 characters). */
export const PIPE_TOKEN_BYTES = 32;

export class PipeTokenBox {
  private current: Buffer | null = null;

  /** Makes a new random token; the previous one, if unused, stops working. */
  issue(): string {
    const token = randomBytes(PIPE_TOKEN_BYTES).toString('base64url');
    this.current = digest(token);
    return token;
  }

  /** True if `candidate` is the current token, compared in constant time; a match consumes it. */
  consume(candidate: string): boolean {
    if (!this.current) return false;
    // Hashing first makes both sides 32 bytes, so neither the comparison nor its length check leaks anything.
    if (!timingSafeEqual(digest(candidate), this.current)) return false;
    this.current = null;
    return true;
  }

  /** Puts back a consumed token whose connection never completed its upgrade (unless a newer one was issued). */
  restore(token: string): void {
    if (!this.current) this.current = digest(token);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
