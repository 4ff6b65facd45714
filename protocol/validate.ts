/**
 * @module validate
 * The small checks every contract and config of Ferry is validated with: untrusted JSON from a peer, a message from
 * another part of the extension, a configuration object. Each check takes `fail`, the caller's typed error for "this
 * value is unusable" (SignalingFormatError, LocalChannelFormatError, InvalidConfigError, ...), so a bad value always
 * surfaces as the error class of the contract it broke, with a message that names the field and what would be
 * accepted. Runtime-neutral.
 */

/** Makes the caller's typed error from a message that names the field and what it must be. */
export type Fail = (message: string) => Error;

/** A plain object (not null, not an array): what a JSON object parses to. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An integer from min to max inclusive (both safe integers); `name` is how the message names the field. */
export function requireInteger(value: unknown, name: string, min: number, max: number, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw fail(`${name} must be an integer from ${min} to ${max}, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Checks integer fields of one config object against a table of [min, max] ranges, in the table's order, so a range
 * may depend on a field checked before it. `fail(field, message)` makes the caller's typed error; `name(field)` is how
 * the message names the field (the field itself by default).
 */
export function requireIntegerFields<T extends object>(
  config: T,
  ranges: { readonly [K in keyof T]?: readonly [min: number, max: number] },
  fail: (field: keyof T & string, message: string) => Error,
  name: (field: keyof T & string) => string = (field) => field,
): void {
  for (const [field, range] of Object.entries(ranges) as Array<[keyof T & string, readonly [number, number]]>) {
    requireInteger(config[field], name(field), range[0], range[1], (message) => fail(field, message));
  }
}

/** A non-negative safe integer (a counter or a byte count). */
export function requireCount(value: unknown, name: string, fail: Fail): number {
  return requireInteger(value, name, 0, Number.MAX_SAFE_INTEGER, fail);
}

/** A non-empty string of at most maxChars characters. */
export function requireText(value: unknown, name: string, maxChars: number, fail: Fail): string {
  if (typeof value !== 'string' || value.length === 0) throw fail(`${name} must be a non-empty string`);
  if (value.length > maxChars) throw fail(`${name} is longer than ${maxChars} characters`);
  return value;
}

/** Free text for people (a reason): any string, cut to maxChars; absent means ''. */
export function optionalText(value: unknown, name: string, maxChars: number, fail: Fail): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw fail(`${name} must be a string`);
  return value.slice(0, maxChars);
}

export function requireBoolean(value: unknown, name: string, fail: Fail): boolean {
  if (typeof value !== 'boolean') throw fail(`${name} must be true or false`);
  return value;
}

/** One of the listed strings. */
export function requireOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[], fail: Fail): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw fail(`${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

/** A URL whose scheme is one of `schemes` (e.g. ['ws:', 'wss:']), at most maxChars long. Returns the text as given. */
export function requireUrl(value: unknown, name: string, schemes: readonly string[], maxChars: number, fail: Fail): string {
  const text = requireText(value, name, maxChars, fail);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw fail(`${name} must be a URL`);
  }
  if (!schemes.includes(url.protocol)) throw fail(`${name} must be a ${schemes.join(' or ')} URL`);
  return text;
}

/** A value as a message may show it: short, and never a whole object an attacker sent. */
function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 32));
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** An IPv4 address in dotted form, each of its four parts 0..255 (no other form: no CIDR, no hex, no spaces). */
export function isIpv4Literal(value: unknown): value is string {
  return typeof value === 'string' && /^\d{1,3}(\.\d{1,3}){3}$/.test(value) && value.split('.').every((part) => Number(part) <= 255);
}

/** A host name or an IPv4 literal as a URL's host gives it: letters, digits, dots and hyphens, 1 to 253 characters. */
export function isHostName(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9.-]{1,253}$/.test(value);
}
