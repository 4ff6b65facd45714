/**
 * @module in-page-relay
 * Where Help others' relay runs in Firefox: right in the background page, which (unlike Chromium's service worker)
 * has RTCPeerConnection, so there is no offscreen document to open or close. This gives HelpOthers the same three
 * operations the offscreen document does in Chromium, carried out on a runner in this page.
 *
 * Firefox unloads an idle event page (no extension event and no call into the browser for
 * `extensions.background.idle.timeout`, 30 s by default), and the relay's peer connections and sockets would go with
 * it: open data channels do not count as activity. Every extension API call the page makes into the browser
 * postpones that, so while the relay runs (between acquire and release) the page makes one cheap call every
 * KEEP_AWAKE_INTERVAL_MS, as Chromium's offscreen document stays open for as long as it is needed.
 */
import type { OffscreenMessage } from '../messages.ts';
import { applyHelpOthersCommand, type HelpOthersRunner, isHelpOthersCommand } from '../offscreen/help-others-runner.ts';
import type { HelpOthersDeps } from './help-others.ts';

/** How often the running relay tells Firefox the page is busy (ms): a third of Firefox's default idle timeout. */
export const KEEP_AWAKE_INTERVAL_MS = 10_000;

/** A command for a feature whose code does not run in this page (Proxy me's client path). */
export class InPageRelayCommandError extends Error {
  override readonly name = 'InPageRelayCommandError';
  readonly code = 'IN_PAGE_COMMAND_UNSUPPORTED';
}

export interface InPageRelayOptions {
  /** One extension API call that the browser itself answers (e.g. runtime.getPlatformInfo): it resets the idle timer. */
  keepAwake(): Promise<unknown>;
  /** Default KEEP_AWAKE_INTERVAL_MS. */
  keepAwakeIntervalMs?: number;
  log(message: string, error?: unknown): void;
}

export function inPageRelayHost(runner: HelpOthersRunner, options: InPageRelayOptions): HelpOthersDeps['offscreen'] {
  let keepAwakeTimer: ReturnType<typeof setInterval> | undefined;
  return {
    acquire: async () => {
      keepAwakeTimer ??= setInterval(
        () => void options.keepAwake().catch((error) => options.log('could not keep the background page awake', error)),
        options.keepAwakeIntervalMs ?? KEEP_AWAKE_INTERVAL_MS,
      );
    },
    release: async () => {
      clearInterval(keepAwakeTimer);
      keepAwakeTimer = undefined;
    },
    // The relay runs in this very page: while the page lives, so does the relay's context.
    isOpen: async () => true,
    send: async (message: OffscreenMessage) => {
      if (!isHelpOthersCommand(message)) {
        throw new InPageRelayCommandError(`${message.type} is not carried out in the background page: only Help others runs there`);
      }
      applyHelpOthersCommand(runner, message);
    },
  };
}
