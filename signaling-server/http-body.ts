/**
 * @module http-body
 * Reads a request body as UTF-8 text with a byte cap and a deadline. Stops at the cap (the rest is never
 * buffered), so a huge or endless upload costs at most maxBodyBytes of memory.
 */
import type { IncomingMessage } from 'node:http';
import { BadRequestError, BodyReadTimeoutError, BodyTooLargeError, ClientGoneError } from './errors.ts';

export interface BodyLimits {
  maxBodyBytes: number;
  bodyReadTimeoutMs: number;
}

/**
 * Resolves with the body text, or rejects with BodyTooLargeError (as soon as Content-Length or the bytes read pass
 * the cap), BodyReadTimeoutError, BadRequestError (not UTF-8) or ClientGoneError.
 */
export function readBodyText(request: IncomingMessage, limits: BodyLimits): Promise<string> {
  const declaredLength = request.headers['content-length'];
  if (declaredLength !== undefined && Number(declaredLength) > limits.maxBodyBytes) {
    return Promise.reject(new BodyTooLargeError(limits.maxBodyBytes));
  }
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    const timer = setTimeout(() => finish(new BodyReadTimeoutError(limits.bodyReadTimeoutMs)), limits.bodyReadTimeoutMs);

    function finish(error: Error | undefined): void {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onGone);
      request.off('close', onGone);
      if (error) {
        // Stop pulling bytes off the socket; the caller answers and then closes the connection.
        request.pause();
        reject(error);
        return;
      }
      try {
        resolve(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, receivedBytes)));
      } catch {
        reject(new BadRequestError('the request body is not valid UTF-8'));
      }
    }
    function onData(chunk: Buffer): void {
      receivedBytes += chunk.length;
      if (receivedBytes > limits.maxBodyBytes) {
        finish(new BodyTooLargeError(limits.maxBodyBytes));
        return;
      }
      chunks.push(chunk);
    }
    function onEnd(): void {
      finish(undefined);
    }
    function onGone(): void {
      finish(new ClientGoneError('the client closed the connection before sending the whole body'));
    }

    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onGone);
    request.on('close', onGone);
  });
}
