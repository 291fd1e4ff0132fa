/** DiskCacheStore: one JSON file per entry, written atomically (a temp file in the same directory, then rename),
 * so a reader never sees half a file. The Python client writes the same files. */

import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

import type { CacheStore, Key, StoredEntry } from "./store.js";

export class DiskCacheStore implements CacheStore {
  readonly dir: string;

  /** `namespace` keeps one server's and key's answers apart from another's (Client passes a hash of both). */
  constructor(cacheDir: string, namespace: string) {
    this.dir = path.join(cacheDir, namespace);
    fs.mkdirSync(this.dir, { recursive: true });
  }

  private file(key: Key): string {
    // The same name as the Python client's: sha256 of the key as JSON (Python's json.dumps spacing).
    const text = ("[" + key.map((part) => JSON.stringify(part)).join(", ") + "]").replace(
      /[\u0080-\uffff]/g,
      (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
    );
    return path.join(this.dir, createHash("sha256").update(text).digest("hex").slice(0, 40) + ".json");
  }

  load(): StoredEntry[] {
    const entries: StoredEntry[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.endsWith(".json") || name.startsWith(".tmp-")) continue;
      try {
        const body = JSON.parse(fs.readFileSync(path.join(this.dir, name), "utf8"));
        entries.push({ key: body.key as Key, answer: body.answer, storedAt: Number(body.stored_at) * 1000 });
      } catch {
        // an unreadable file costs that entry only
      }
    }
    return entries;
  }

  put(entry: StoredEntry): void {
    const body = JSON.stringify({ key: entry.key, answer: entry.answer, stored_at: entry.storedAt / 1000 });
    const temp = path.join(this.dir, `.tmp-${randomBytes(8).toString("hex")}.json`);
    try {
      fs.writeFileSync(temp, body);
      fs.renameSync(temp, this.file(entry.key));
    } catch {
      try {
        fs.unlinkSync(temp);
      } catch {
        // already gone
      }
    }
  }

  delete(key: Key): void {
    try {
      fs.unlinkSync(this.file(key));
    } catch {
      // already gone
    }
  }
}
