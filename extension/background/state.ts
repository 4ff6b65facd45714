/**
 * @module state
 * The UI state, kept in the session storage area (chrome.storage.session; browser.storage.session in Firefox): the
 * popup reads it and follows its changes there (also after the background restarts), and tests read it under the
 * same key.
 */

import { UI_STATE_STORAGE_KEY, type UiState } from '../../protocol/extension-state.ts';
import { initialUiState } from '../ui-state.ts';
import type { StorageArea } from './extension-storage.ts';

export class UiStateStore {
  private state: UiState | undefined;
  private loading: Promise<{ state: UiState; fresh: boolean }> | undefined;

  constructor(private readonly session: StorageArea) {}

  /** Loads the stored state once. `fresh` is true when the session had none (browser start or first install). */
  load(): Promise<{ state: UiState; fresh: boolean }> {
    this.loading ??= this.session.get(UI_STATE_STORAGE_KEY).then((stored) => {
      const saved = stored[UI_STATE_STORAGE_KEY] as UiState | undefined;
      // Our own earlier write; fall back to the initial state if its shape is from an older version, and fill in
      // fields an older version did not have.
      const usable = saved !== undefined && typeof saved === 'object' && 'proxyMe' in saved && 'helpOthers' in saved;
      const initial = initialUiState();
      this.state ??= usable ? { proxyMe: { ...initial.proxyMe, ...saved.proxyMe }, helpOthers: { ...initial.helpOthers, ...saved.helpOthers } } : initial;
      return { state: this.state, fresh: !usable };
    });
    return this.loading;
  }

  async get(): Promise<UiState> {
    await this.load();
    return this.state as UiState;
  }

  /** Applies `change` to the current state and stores the result (open popups follow the storage change). */
  async update(change: (state: UiState) => UiState): Promise<UiState> {
    await this.load();
    const before = this.state as UiState;
    const after = change(before);
    if (after === before) return after;
    this.state = after;
    await this.session.set({ [UI_STATE_STORAGE_KEY]: after });
    return after;
  }
}
