/**
 * @module native-port
 * The native messaging connection to the helper (only the service worker can open one), behind a small interface so
 * Proxy me's logic does not touch chrome.* directly.
 */
import { type ExtensionToNative, NATIVE_HOST_NAME } from '../../protocol/local-channel.ts';

export interface NativePort {
  post(message: ExtensionToNative): void;
  disconnect(): void;
  /** Raw (unvalidated) messages from the helper. */
  onMessage(listener: (message: unknown) => void): void;
  /** The connection ended; `error` is the browser's reason (chrome.runtime.lastError), if any. */
  onDisconnect(listener: (error: string | undefined) => void): void;
}

export type ConnectNative = () => NativePort;

/** Chrome's reasons, matched loosely: the wording differs a little between versions. */
export function isHostMissingError(error: string | undefined): boolean {
  return error !== undefined && /native messaging host not found|specified native messaging host not found/i.test(error);
}
export function isHostForbiddenError(error: string | undefined): boolean {
  return error !== undefined && /forbidden/i.test(error);
}

export const connectChromeNative: ConnectNative = () => {
  const port = chrome.runtime.connectNative(NATIVE_HOST_NAME);
  return {
    post: (message) => port.postMessage(message),
    disconnect: () => port.disconnect(),
    onMessage: (listener) => port.onMessage.addListener((message: unknown) => listener(message)),
    onDisconnect: (listener) =>
      port.onDisconnect.addListener(() => {
        // Reading lastError here also keeps Chrome from logging "Unchecked runtime.lastError".
        listener(chrome.runtime.lastError?.message);
      }),
  };
};
