/**
 * @module bytes
 * Small byte helpers on Uint8Array (no Buffer: this folder runs in browsers too).
 */

const utf8Encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is part of the text (a host or a reason), not a byte-order mark to drop.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/**
 * UTF-8 of `text`, at most maxBytes long, cut at a character boundary (a cut inside a multi-byte character would make
 * the whole field undecodable for the receiver).
 */
export function utf8Prefix(text: string, maxBytes: number): Uint8Array {
  return utf8BytesPrefix(utf8Encoder.encode(text), maxBytes);
}

/** The first bytes of UTF-8 `bytes`, at most maxBytes, cut at a character boundary. */
export function utf8BytesPrefix(bytes: Uint8Array, maxBytes: number): Uint8Array {
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that did not fit.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** Decodes UTF-8, throwing TypeError on invalid sequences (callers turn that into a protocol error). */
export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Writes a sequence number (0 ≤ n < 2^53) as 8 bytes big-endian. */
export function writeUint64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, Math.floor(value / 0x1_0000_0000));
  view.setUint32(offset + 4, value >>> 0);
}

export function readUint64(view: DataView, offset: number): number {
  const high = view.getUint32(offset);
  if (high > 0x1f_ffff) throw new RangeError('sequence number above 2^53');
  return high * 0x1_0000_0000 + view.getUint32(offset + 4);
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Constant-time equality for secrets of equal public length. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

export function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new TypeError('not base64url');
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
