/**
 * @module events
 * How every browser's background answers the popup's and options page's messages and follows the pairing links in
 * storage. The rules live here once; each init file (index.ts for Chromium, firefox.ts for Firefox) only registers
 * them with its own browser's events and says what each message does there.
 */
import type { UiState } from '../../protocol/extension-state.ts';
import { type BackgroundMessage, messageTarget, parseBackgroundMessage } from '../messages.ts';
import { PAIRINGS_STORAGE_KEY, type Pairings, parseStoredPairings } from '../pairings.ts';

/** The part of a message's sender that is checked: only this extension's own pages may ask anything. */
export interface MessageSenderIdentity {
  id?: string | undefined;
}

export interface BackgroundMessageHandling {
  /** This extension's id (runtime.id). */
  extensionId: string;
  /** Carries out one validated message. */
  handle(message: BackgroundMessage): Promise<void>;
  /** The state to answer with once the message is handled. */
  state(): Promise<UiState>;
  log(message: string, error?: unknown): void;
}

/**
 * Every extension page's message reaches every listener. Returns undefined for a message that is not the background's,
 * comes from elsewhere or is malformed (the listener then leaves it alone); otherwise the promise of the reply: the
 * UiState after handling it, or undefined when even that could not be read.
 */
export function answerBackgroundMessage(
  raw: unknown,
  sender: MessageSenderIdentity,
  handling: BackgroundMessageHandling,
): Promise<UiState | undefined> | undefined {
  if (messageTarget(raw) !== 'background' || sender.id !== handling.extensionId) return undefined;
  let message: BackgroundMessage;
  try {
    message = parseBackgroundMessage(raw);
  } catch (error) {
    handling.log('ignored a malformed message', error);
    return undefined;
  }
  return handling
    .handle(message)
    .catch((error) => handling.log(`handling ${message.type} failed`, error))
    .then(() => handling.state())
    .catch(() => undefined);
}

/** A storage change as storage.onChanged reports it (both browsers' shape). */
export type StorageChanges = Record<string, { newValue?: unknown } | undefined>;

/**
 * The links for friends after a storage change (the options page makes and revokes them), or undefined when the change
 * did not touch them.
 */
export function changedPairings(changes: StorageChanges, areaName: string): Pairings | undefined {
  if (areaName !== 'local' || changes[PAIRINGS_STORAGE_KEY] === undefined) return undefined;
  return parseStoredPairings(changes[PAIRINGS_STORAGE_KEY]?.newValue);
}
