/**
 * @module offscreen-document
 * The single offscreen document (the service worker has no RTCPeerConnection; this page does). It is created when a
 * feature needs it and closed when no feature does. Every create/close runs one after another, so a close can never
 * race a create.
 */
import type { OffscreenMessage, OffscreenReply } from '../messages.ts';

/** Path of the offscreen page inside the built extension (vite.config.ts adds it as a build input). */
export const OFFSCREEN_PAGE_PATH = 'extension/offscreen/offscreen.html';
/** A freshly created document may not listen yet: retry a message this often, this many times. */
export const OFFSCREEN_SEND_RETRY_MS = 50;
export const OFFSCREEN_SEND_ATTEMPTS = 40;

/** The offscreen document could not carry out a command; the message says why. */
export class OffscreenCommandError extends Error {
  override readonly name = 'OffscreenCommandError';
  readonly code = 'OFFSCREEN_COMMAND_FAILED';
}

export type OffscreenUser = 'proxy-me' | 'help-others';

export class OffscreenDocument {
  private readonly users = new Set<OffscreenUser>();
  private queue: Promise<void> = Promise.resolve();

  /** Makes sure the document exists and records that `user` needs it. */
  acquire(user: OffscreenUser): Promise<void> {
    this.users.add(user);
    return this.enqueue(async () => {
      if (await this.exists()) return;
      await chrome.offscreen.createDocument({
        url: OFFSCREEN_PAGE_PATH,
        reasons: [chrome.offscreen.Reason.WEB_RTC],
        justification: 'Ferry relays traffic over WebRTC data channels, which only a document can open.',
      });
    });
  }

  /** Records that `user` no longer needs the document, and closes it when nobody does. */
  release(user: OffscreenUser): Promise<void> {
    this.users.delete(user);
    return this.enqueue(async () => {
      if (this.users.size === 0 && (await this.exists())) await chrome.offscreen.closeDocument();
    });
  }

  /** Sends a message to the document (which must be acquired), retrying briefly while it is still loading. */
  async send(message: OffscreenMessage): Promise<void> {
    await this.queue;
    for (let attempt = 1; ; attempt += 1) {
      let reply: OffscreenReply | undefined;
      try {
        reply = (await chrome.runtime.sendMessage(message)) as OffscreenReply | undefined;
      } catch (error) {
        const noReceiver = /Receiving end does not exist|Could not establish connection/i.test(String((error as Error)?.message ?? error));
        if (!noReceiver || attempt >= OFFSCREEN_SEND_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, OFFSCREEN_SEND_RETRY_MS));
        continue;
      }
      if (reply !== undefined && reply.ok === false) throw new OffscreenCommandError(`the offscreen document refused ${message.type}: ${reply.error}`);
      return;
    }
  }

  /** Whether the document exists now (Chromium may close it: a renderer crash, memory pressure). */
  async exists(): Promise<boolean> {
    const contexts = await chrome.runtime.getContexts({ contextTypes: [chrome.runtime.ContextType.OFFSCREEN_DOCUMENT] });
    return contexts.length > 0;
  }

  private enqueue(operation: () => Promise<void>): Promise<void> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
