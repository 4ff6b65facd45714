/**
 * @module state
 * The UI state, kept in chrome.storage.session so the popup can read it after the service worker restarts, and
 * broadcast to open popups as {target: 'popup', type: 'state', state} on every change.
 */
import type { PopupMessage } from '../messages.ts';
import { initialUiState, type UiState } from '../ui-state.ts';

const STORAGE_KEY = 'uiState';

export class UiStateStore {
  private state: UiState | undefined;
  private loading: Promise<{ state: UiState; fresh: boolean }> | undefined;

  /** Loads the stored state once. `fresh` is true when the session had none (browser start or first install). */
  load(): Promise<{ state: UiState; fresh: boolean }> {
    this.loading ??= chrome.storage.session.get(STORAGE_KEY).then((stored) => {
      const saved = stored[STORAGE_KEY] as UiState | undefined;
      // Our own earlier write; fall back to the initial state if its shape is from an older version.
      const usable = saved !== undefined && typeof saved === 'object' && 'proxyMe' in saved && 'helpOthers' in saved;
      this.state ??= usable ? saved : initialUiState();
      return { state: this.state, fresh: !usable };
    });
    return this.loading;
  }

  async get(): Promise<UiState> {
    await this.load();
    return this.state as UiState;
  }

  /** Applies `change` to the current state, stores the result and broadcasts it. */
  async update(change: (state: UiState) => UiState): Promise<UiState> {
    await this.load();
    const before = this.state as UiState;
    const after = change(before);
    if (after === before) return after;
    this.state = after;
    await chrome.storage.session.set({ [STORAGE_KEY]: after });
    const message: PopupMessage = { target: 'popup', type: 'state', state: after };
    // No popup open is normal: nobody receives the broadcast.
    chrome.runtime.sendMessage(message).catch(() => undefined);
    return after;
  }
}
