/** Where good answers are kept across restarts: any object with load, put and delete (sync or async). */

import type { ResolvedData } from "./resolved.js";

/** (kind, id or name, label, version) */
export type Key = [string, string, string | null, number | null];

export interface StoredEntry {
  key: Key;
  answer: ResolvedData;
  /** ms since the epoch */
  storedAt: number;
}

export interface CacheStore {
  load(): StoredEntry[] | Promise<StoredEntry[]>;
  put(entry: StoredEntry): void | Promise<void>;
  delete(key: Key): void | Promise<void>;
}
