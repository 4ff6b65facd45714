/**
 * @module exit-list
 * The signed exit list: which exits (id, WebSocket URL, X25519 key) belong to the network. An operator signs it
 * offline with an Ed25519 key; the broker only serves it. Clients, the native helper and volunteers pin the operator's
 * public key and refuse any list it did not sign, so a hostile or seized broker can choose among the listed exits but
 * cannot invent one: it cannot hand clients its own exit key (and read their traffic), nor aim volunteers at an
 * address of its choosing (their own LAN included).
 *
 * Wire form (GET /v1/exits, and `exitList` in the broker's welcome to volunteers):
 *
 *     {"payload": base64url(UTF-8 JSON), "signature": base64url(Ed25519 signature, 64 bytes)}
 *
 * The payload is signed as the exact bytes sent, so no JSON canonicalisation is needed; the signature covers
 * EXIT_LIST_SIGNING_CONTEXT followed by those bytes, so a signature made for anything else never verifies here. The
 * payload is {"version": 1, "issuedAt": ms, "expiresAt": ms, "exits": [{id, url, publicKey}, ...], "rendezvous"?:
 * {brokerKey, channels}}. The expiry bounds how long a broker can keep serving an old list (say, one that still names
 * a retired exit). `rendezvous`, when present, is how clients reach the broker when its own address is blocked: the
 * broker's X25519 key that offers are sealed to, and the channels to carry them (rendezvous.ts); it is signed with
 * the exits, so a broker (or whoever sits in front of it) cannot hand clients another key or channel.
 *
 * Runtime-neutral: @noble/curves only.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, fromBase64Url, fromUtf8, toBase64Url, utf8 } from './bytes.ts';
import { parseRendezvousChannels, type RendezvousChannel } from './rendezvous.ts';
import { type Fail, isRecord, requireInteger, requireText } from './validate.ts';

/** Prefixed to the payload before signing: a domain separator, so the key signs nothing else by accident. */
export const EXIT_LIST_SIGNING_CONTEXT = 'ferry exit list v1\n';
/** The payload version this code reads and writes. */
export const EXIT_LIST_VERSION = 1;
/** Most exits one list may name. */
export const MAX_LISTED_EXITS = 256;
/**
 * Longest base64url payload accepted (characters): 256 exits with URLs of about 500 characters fit. signExitList
 * refuses a larger list, so what an operator can sign, every reader can read.
 */
export const MAX_EXIT_LIST_PAYLOAD_CHARS = 192 * 1024;
/** Longest signed list document (characters, all ASCII): the payload, the signature and the JSON around them. */
export const MAX_SIGNED_EXIT_LIST_CHARS = MAX_EXIT_LIST_PAYLOAD_CHARS + 1024;
/** Most operator keys a reader pins at once: the current key and the next one during a key change, with room to spare. */
export const MAX_PINNED_EXIT_LIST_KEYS = 8;
/** Longest exit id (characters). */
export const MAX_EXIT_ID_CHARS = 128;
/** Longest exit URL (characters). */
export const MAX_EXIT_URL_CHARS = 2048;
/**
 * How far a reader's clock may be behind or ahead of the signer's before an expired list is refused (milliseconds).
 * People behind censorship often have clocks that are hours off; a day keeps them working and still bounds replay.
 */
export const EXIT_LIST_CLOCK_SKEW_MS = 24 * 60 * 60 * 1000;
/** How long `signExitList` makes a list valid when not told (milliseconds): 30 days. */
export const DEFAULT_EXIT_LIST_VALIDITY_MS = 30 * 24 * 60 * 60 * 1000;
/** Longest validity accepted (milliseconds): a year. A longer one would let a broker replay a stale list for ever. */
export const MAX_EXIT_LIST_VALIDITY_MS = 366 * 24 * 60 * 60 * 1000;

/** The latest time a JavaScript Date can hold (milliseconds since the epoch); later timestamps are malformed. */
const MAX_TIMESTAMP_MS = 8_640_000_000_000_000;
const ED25519_PUBLIC_KEY_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
const X25519_PUBLIC_KEY_BYTES = 32;

/** One exit as a list names it. `publicKey` is the exit's static X25519 key, base64url, 32 bytes. */
export interface ExitInfo {
  id: string;
  url: string;
  publicKey: string;
}

/** The list as served: the payload exactly as signed, and the signature. */
export interface SignedExitList {
  payload: string;
  signature: string;
}

/** How clients reach the broker over rendezvous channels: the key offers are sealed to, and the channels. */
export interface NetworkRendezvous {
  /** The broker's static X25519 public key, base64url (43 characters). */
  brokerKey: string;
  channels: RendezvousChannel[];
}

/** What a signed list says, once its signature has been checked. */
export interface ExitListContents {
  version: typeof EXIT_LIST_VERSION;
  /** When the operator signed it (milliseconds since the epoch). */
  issuedAt: number;
  /** When readers stop accepting it (milliseconds since the epoch). */
  expiresAt: number;
  exits: ExitInfo[];
  /** Absent from lists of networks that offer only the plain route. */
  rendezvous?: NetworkRendezvous;
}

/** A list whose signature was checked against a pinned key, with the key that signed it. */
export interface VerifiedExitList extends ExitListContents {
  signedBy: string;
  /** The document as checked (only its two fields), to pass on to a party that checks it again. */
  document: SignedExitList;
}

export type ExitListErrorCode =
  /** The document or its payload is malformed. */
  | 'BAD_EXIT_LIST'
  /** No pinned key signed it (unsigned, wrongly signed, or signed by a key this reader does not trust). */
  | 'EXIT_LIST_NOT_SIGNED'
  /** Signed, but its expiry has passed. */
  | 'EXIT_LIST_EXPIRED'
  /** The reader has no operator key to check a list with. */
  | 'NO_EXIT_LIST_KEY';

/** An exit list was refused; the message says why and what would fix it. */
export class ExitListError extends Error {
  override readonly name = 'ExitListError';
  constructor(
    readonly code: ExitListErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** An operator key (public or secret) is not usable. */
export class OperatorKeyError extends Error {
  override readonly name = 'OperatorKeyError';
  readonly code = 'BAD_OPERATOR_KEY';
}

const badList: Fail = (message) => new ExitListError('BAD_EXIT_LIST', `The exit list is malformed: ${message}.`);

function decodeKey(text: string, bytes: number, what: string): Uint8Array {
  let decoded: Uint8Array;
  try {
    decoded = fromBase64Url(text.trim());
  } catch {
    throw new OperatorKeyError(`${what} must be base64url (letters, digits, - and _), got ${JSON.stringify(text.slice(0, 60))}`);
  }
  if (decoded.length !== bytes) throw new OperatorKeyError(`${what} must be ${bytes} bytes, got ${decoded.length}`);
  return decoded;
}

/** Checks an operator public key (base64url, 32 bytes) and returns it trimmed, or throws OperatorKeyError. */
export function parseOperatorPublicKey(text: string): string {
  return toBase64Url(decodeKey(text, ED25519_PUBLIC_KEY_BYTES, "an exit-list key (the operator's Ed25519 public key)"));
}

/**
 * Checks the operator keys a reader pins (each as parseOperatorPublicKey does, at most MAX_PINNED_EXIT_LIST_KEYS) and
 * returns them trimmed, or throws OperatorKeyError naming the bad one. An empty list is the caller's to judge.
 */
export function parseOperatorPublicKeys(keys: readonly unknown[]): string[] {
  if (keys.length > MAX_PINNED_EXIT_LIST_KEYS)
    throw new OperatorKeyError(`at most ${MAX_PINNED_EXIT_LIST_KEYS} exit-list keys may be pinned, got ${keys.length}`);
  return keys.map((key) => {
    if (typeof key !== 'string') throw new OperatorKeyError('an exit-list key must be text (43 base64url characters)');
    try {
      return parseOperatorPublicKey(key);
    } catch (error) {
      if (error instanceof OperatorKeyError) throw new OperatorKeyError(`"${key.trim().slice(0, 50)}" is not an exit-list key: ${error.message}`);
      throw error;
    }
  });
}

/** An operator's Ed25519 key pair, base64url. The secret key stays with the operator, never on a broker. */
export interface OperatorKeyPair {
  secretKey: string;
  publicKey: string;
}

export function generateOperatorKeyPair(): OperatorKeyPair {
  // A key whose text starts with '-' looks like an option to every command line (`--exit-list-key -Ab…` fails): one
  // key in 64 would, so draw again. The key space loses 6 bits' worth of one character, nothing that matters.
  for (;;) {
    const { secretKey, publicKey } = ed25519.keygen();
    const keys = { secretKey: toBase64Url(secretKey), publicKey: toBase64Url(publicKey) };
    if (!keys.publicKey.startsWith('-') && !keys.secretKey.startsWith('-')) return keys;
  }
}

/** The public key of an operator secret key (base64url, 32 bytes), or throws OperatorKeyError. */
export function operatorPublicKeyOf(secretKey: string): string {
  return toBase64Url(ed25519.getPublicKey(decodeKey(secretKey, 32, 'an operator secret key')));
}

/**
 * One exit as a list may name it: a non-empty id, a ws: or wss: URL without credentials, and a 32-byte X25519 key in
 * base64url. Stricter than the broker's message parser, because a volunteer dials this URL and a client pins this key.
 */
export function parseListedExit(value: unknown, fail: Fail = badList): ExitInfo {
  if (!isRecord(value)) throw fail('an exit must be an object {id, url, publicKey}');
  const id = requireText(value.id, 'an exit\'s "id"', MAX_EXIT_ID_CHARS, fail);
  const urlText = requireText(value.url, `exit "${id}": "url"`, MAX_EXIT_URL_CHARS, fail);
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw fail(`exit "${id}": "url" is not a valid URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw fail(`exit "${id}": "url" must start with ws:// or wss://, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '') throw fail(`exit "${id}": "url" may not carry a user name or password`);
  const publicKeyText = requireText(value.publicKey, `exit "${id}": "publicKey"`, 64, fail);
  let publicKey: Uint8Array;
  try {
    publicKey = fromBase64Url(publicKeyText);
  } catch {
    throw fail(`exit "${id}": "publicKey" must be base64url`);
  }
  if (publicKey.length !== X25519_PUBLIC_KEY_BYTES || toBase64Url(publicKey) !== publicKeyText) {
    throw fail(`exit "${id}": "publicKey" must be a 32-byte X25519 key in base64url (43 characters)`);
  }
  return { id, url: urlText, publicKey: publicKeyText };
}

/** Checks the `rendezvous` part of a list: a 32-byte X25519 key in base64url and a list of channels. */
export function parseNetworkRendezvous(value: unknown, fail: Fail = badList): NetworkRendezvous {
  if (!isRecord(value)) throw fail('"rendezvous" must be an object {brokerKey, channels}');
  const brokerKey = requireText(value.brokerKey, '"rendezvous.brokerKey"', 64, fail);
  let key: Uint8Array;
  try {
    key = fromBase64Url(brokerKey);
  } catch {
    throw fail('"rendezvous.brokerKey" must be base64url');
  }
  if (key.length !== X25519_PUBLIC_KEY_BYTES || toBase64Url(key) !== brokerKey)
    throw fail('"rendezvous.brokerKey" must be a 32-byte X25519 key in base64url (43 characters)');
  return { brokerKey, channels: parseRendezvousChannels(value.channels, (message) => fail(`rendezvous: ${message}`)) };
}

/** The document's shape only (two base64url strings of sane size); nothing is trusted yet. */
export function parseSignedExitList(value: unknown): SignedExitList {
  if (!isRecord(value)) throw badList('it must be a JSON object {"payload", "signature"}');
  const payload = requireText(value.payload, '"payload"', MAX_EXIT_LIST_PAYLOAD_CHARS, badList);
  const signature = requireText(value.signature, '"signature"', 128, badList);
  if (!/^[A-Za-z0-9_-]+$/.test(payload)) throw badList('"payload" must be base64url');
  if (!/^[A-Za-z0-9_-]+$/.test(signature)) throw badList('"signature" must be base64url');
  return { payload, signature };
}

function signedBytes(payload: Uint8Array): Uint8Array {
  return concatBytes(utf8(EXIT_LIST_SIGNING_CONTEXT), payload);
}

/**
 * Reads the payload without checking the signature. Only for a party that does not rely on it (the broker, which
 * serves the list as it is and picks exits from it); every reader that dials or pins an exit uses verifyExitList.
 */
export function readExitListContents(list: SignedExitList): ExitListContents {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(fromBase64Url(list.payload)));
  } catch {
    throw badList('"payload" is not base64url of a JSON text');
  }
  if (!isRecord(json)) throw badList('the payload must be a JSON object');
  if (json.version !== EXIT_LIST_VERSION) throw badList(`"version" must be ${EXIT_LIST_VERSION}`);
  const issuedAt = requireInteger(json.issuedAt, '"issuedAt"', 0, MAX_TIMESTAMP_MS, badList);
  const expiresAt = requireInteger(json.expiresAt, '"expiresAt"', issuedAt, issuedAt + MAX_EXIT_LIST_VALIDITY_MS, badList);
  if (!Array.isArray(json.exits)) throw badList('"exits" must be an array');
  if (json.exits.length > MAX_LISTED_EXITS) throw badList(`it names ${json.exits.length} exits; at most ${MAX_LISTED_EXITS} are allowed`);
  const exits = json.exits.map((exit) => parseListedExit(exit));
  const ids = new Set<string>();
  for (const exit of exits) {
    if (ids.has(exit.id)) throw badList(`it names exit "${exit.id}" twice`);
    ids.add(exit.id);
  }
  const rendezvous = json.rendezvous === undefined ? undefined : parseNetworkRendezvous(json.rendezvous);
  return { version: EXIT_LIST_VERSION, issuedAt, expiresAt, exits, ...(rendezvous === undefined ? {} : { rendezvous }) };
}

/**
 * Checks `document` against the pinned operator keys at time `now` and returns its contents, or throws
 * ExitListError: NO_EXIT_LIST_KEY, BAD_EXIT_LIST, EXIT_LIST_NOT_SIGNED or EXIT_LIST_EXPIRED.
 */
export function verifyExitList(document: unknown, pinnedKeys: readonly string[], now: number): VerifiedExitList {
  if (pinnedKeys.length === 0) {
    throw new ExitListError('NO_EXIT_LIST_KEY', "No exit-list key is set, so no exit can be trusted. Set the network operator's exit-list key.");
  }
  const list = parseSignedExitList(document);
  let payload: Uint8Array;
  let signature: Uint8Array;
  try {
    payload = fromBase64Url(list.payload);
    signature = fromBase64Url(list.signature);
  } catch {
    throw badList('"payload" and "signature" must be base64url');
  }
  const message = signedBytes(payload);
  const signedBy =
    signature.length === ED25519_SIGNATURE_BYTES
      ? pinnedKeys.find((key) => {
          try {
            // zip215: false is RFC 8032's strict check: one valid signature per message and key.
            return ed25519.verify(signature, message, fromBase64Url(key), { zip215: false });
          } catch {
            return false;
          }
        })
      : undefined;
  if (signedBy === undefined) {
    throw new ExitListError(
      'EXIT_LIST_NOT_SIGNED',
      "The broker's exit list is not signed by the network operator's key. The broker may be misconfigured or hostile; no exit from it is used.",
    );
  }
  const contents = readExitListContents(list);
  if (now > contents.expiresAt + EXIT_LIST_CLOCK_SKEW_MS) {
    throw new ExitListError(
      'EXIT_LIST_EXPIRED',
      `The broker's exit list expired on ${new Date(contents.expiresAt).toISOString()}. The operator must sign a new one (or this device's clock is wrong).`,
    );
  }
  return { ...contents, signedBy, document: list };
}

export interface SignExitListOptions {
  /** When the list is signed (milliseconds since the epoch); default now. */
  issuedAt?: number;
  /** How long it stays valid (milliseconds); default DEFAULT_EXIT_LIST_VALIDITY_MS. */
  validForMs?: number;
  /** The broker's rendezvous key and channels, signed with the exits. */
  rendezvous?: NetworkRendezvous;
}

/** Signs `exits` with the operator's secret key (base64url). Each exit is checked as readers will check it. */
export function signExitList(exits: readonly ExitInfo[], secretKey: string, options: SignExitListOptions = {}): SignedExitList {
  const issuedAt = options.issuedAt ?? Date.now();
  const validForMs = options.validForMs ?? DEFAULT_EXIT_LIST_VALIDITY_MS;
  if (!Number.isSafeInteger(validForMs) || validForMs < 0 || validForMs > MAX_EXIT_LIST_VALIDITY_MS) {
    throw new RangeError(`an exit list may be valid from 0 to ${MAX_EXIT_LIST_VALIDITY_MS} ms, not ${validForMs}`);
  }
  const contents: ExitListContents = {
    version: EXIT_LIST_VERSION,
    issuedAt,
    expiresAt: issuedAt + validForMs,
    exits: exits.map((exit) => parseListedExit(exit)),
    ...(options.rendezvous === undefined ? {} : { rendezvous: parseNetworkRendezvous(options.rendezvous) }),
  };
  const payload = utf8(JSON.stringify(contents));
  const signature = ed25519.sign(signedBytes(payload), decodeKey(secretKey, 32, 'an operator secret key'));
  const list = { payload: toBase64Url(payload), signature: toBase64Url(signature) };
  readExitListContents(parseSignedExitList(list)); // the checks a reader makes: size, duplicate ids, too many exits
  return list;
}
