/**
 * @module browser-history-store
 * The browser's HelpHistoryStore: hour buckets in IndexedDB (through idb), one database per origin. The extension
 * writes from its offscreen document (or Firefox's background page) and its popup reads the same database; the tab
 * and the widget each have their own origin's (the widget's is partitioned by the site that embeds it).
 */
import { type DBSchema, type IDBPDatabase, openDB } from 'idb';
import type { HelpHistoryStore, HourBucket } from './help-history.ts';

export const HISTORY_DATABASE_NAME = 'ferry-help-history';
const HISTORY_DATABASE_VERSION = 1;

interface HistorySchema extends DBSchema {
  hours: { key: number; value: HourBucket };
}

/** IndexedDB is missing or refused (private windows of some browsers, storage turned off). */
export class HistoryStorageError extends Error {
  override readonly name = 'HistoryStorageError';
  readonly code = 'HISTORY_STORAGE_UNAVAILABLE';
}

export class IndexedDbHistoryStore implements HelpHistoryStore {
  #database: Promise<IDBPDatabase<HistorySchema>> | undefined;

  add(additions: readonly HourBucket[], oldestKeptHour: number): Promise<void> {
    return this.#open().then(async (database) => {
      const transaction = database.transaction('hours', 'readwrite');
      // One transaction: two pages adding to the same hour at once cannot lose either's count.
      for (const addition of additions) {
        const bucket = (await transaction.store.get(addition.hour)) ?? { hour: addition.hour, peopleHelped: 0, bytesRelayed: 0 };
        bucket.peopleHelped += addition.peopleHelped;
        bucket.bytesRelayed += addition.bytesRelayed;
        await transaction.store.put(bucket);
      }
      await transaction.store.delete(IDBKeyRange.upperBound(oldestKeptHour, true));
      await transaction.done;
    });
  }

  async read(fromHour: number): Promise<HourBucket[]> {
    const database = await this.#open();
    return database.getAll('hours', IDBKeyRange.lowerBound(fromHour));
  }

  #open(): Promise<IDBPDatabase<HistorySchema>> {
    if (this.#database === undefined) {
      if (typeof indexedDB === 'undefined') return Promise.reject(new HistoryStorageError('this browser context has no IndexedDB: the history cannot be kept'));
      const opening = openDB<HistorySchema>(HISTORY_DATABASE_NAME, HISTORY_DATABASE_VERSION, {
        upgrade(database) {
          database.createObjectStore('hours', { keyPath: 'hour' });
        },
      }).catch((error: unknown) => {
        this.#database = undefined;
        throw new HistoryStorageError(`the history database could not be opened (${error instanceof Error ? error.message : String(error)})`);
      });
      this.#database = opening;
    }
    return this.#database;
  }
}
