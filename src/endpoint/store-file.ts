/**
 * The default EndpointStore: one JSON file per collection, `<prefix>-<collection>.json` (beside the registry, under
 * the Node-RED user dir). Writes are coalesced: the changes of one burst (e.g. 1,000 operations sent at once) cost
 * one file write `delayMs` later, not one each. Each file is replaced atomically: written to a temporary file,
 * fsync'ed, then renamed over the old one, so a crash leaves the old or the new file, never half of one.
 *
 * Limits (documented in the README): a crash of the process (not a deploy or a clean stop, which flush) loses the
 * changes of the last `delayMs`; one instance of Node-RED per file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkCollection, StoreError, type EndpointStore, type StoreChange, type StoreCollection } from './store';

interface CollectionFile {
  version: 1;
  records: Record<string, unknown>;
}

interface Pending {
  resolve(): void;
  reject(err: Error): void;
}

/** Coalescing window of writes (ms). */
export const FILE_STORE_DELAY_MS = 50;

export class FileStore implements EndpointStore {
  private readonly data = new Map<StoreCollection, Map<string, unknown>>();
  private readonly dirty = new Set<StoreCollection>();
  private waiting: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /** `prefix`: path and start of the file names, e.g. `<userDir>/c8y-endpoint/<node id>`. */
  constructor(
    readonly prefix: string,
    private readonly delayMs = FILE_STORE_DELAY_MS,
  ) {}

  fileOf(collection: StoreCollection): string {
    return `${this.prefix}-${collection}.json`;
  }

  async load<T>(collection: StoreCollection): Promise<Map<string, T>> {
    checkCollection(collection);
    return new Map(this.records(collection)) as Map<string, T>;
  }

  write<T>(collection: StoreCollection, changes: readonly StoreChange<T>[]): Promise<void> {
    try {
      checkCollection(collection);
      if (this.closed) throw new StoreError('the store is closed');
      const records = this.records(collection);
      // Copies (checked first, so that a bad change leaves the batch unapplied): later changes of the caller's
      // objects are not written without a write call.
      const copies = changes.map((c) => {
        if (typeof c.key !== 'string') throw new StoreError('store keys are strings');
        return { key: c.key, value: c.value === undefined ? undefined : JSON.parse(JSON.stringify(c.value)) };
      });
      for (const c of copies) (c.value === undefined ? records.delete(c.key) : records.set(c.key, c.value));
    } catch (err) {
      return Promise.reject(err);
    }
    this.dirty.add(collection);
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.timer) {
        // Not unref'd: a pending write keeps the process alive for its few milliseconds.
        this.timer = setTimeout(() => this.writeNow(), this.delayMs);
      }
    });
  }

  async flush(): Promise<void> {
    if (this.dirty.size || this.waiting.length) this.writeNow();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    this.data.clear();
  }

  /** Records of a collection, read from its file the first time. */
  private records(collection: StoreCollection): Map<string, unknown> {
    let map = this.data.get(collection);
    if (map) return map;
    const file = this.fileOf(collection);
    map = new Map();
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError(`cannot read ${file}: ${(err as Error).message}`);
    }
    if (text !== undefined) {
      let parsed: CollectionFile;
      try {
        parsed = JSON.parse(text) as CollectionFile;
      } catch (err) {
        throw new StoreError(`${file} is not valid JSON (${(err as Error).message}); move it away to start without it`);
      }
      if (!parsed || typeof parsed !== 'object' || parsed.version !== 1 || !parsed.records || typeof parsed.records !== 'object') {
        throw new StoreError(`${file} is not an endpoint store file (version 1); move it away to start without it`);
      }
      for (const [k, v] of Object.entries(parsed.records)) map.set(k, v);
    }
    this.data.set(collection, map);
    return map;
  }

  private writeNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const waiting = this.waiting;
    this.waiting = [];
    let failure: Error | undefined;
    for (const collection of this.dirty) {
      const body: CollectionFile = { version: 1, records: Object.fromEntries(this.records(collection)) };
      try {
        writeAtomically(this.fileOf(collection), JSON.stringify(body) + '\n');
      } catch (err) {
        failure = new StoreError(`cannot write ${this.fileOf(collection)}: ${(err as Error).message}`);
        // Stays dirty: the next write tries again.
        continue;
      }
      this.dirty.delete(collection);
    }
    for (const w of waiting) (failure ? w.reject(failure) : w.resolve());
  }
}

/** Temporary file, fsync, rename: the file is always the old or the new content. */
export function writeAtomically(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
