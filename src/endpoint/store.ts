/**
 * Where the endpoint keeps what must outlive a deploy or a restart. The endpoint holds its working state in memory
 * (answers stay synchronous) and writes every change through an `EndpointStore`; on start it loads the state back.
 *
 * The interface is a set of named collections of JSON records by key, so that each part of the endpoint's state
 * can live behind it: `operations` (open operations, by id), `sequences` (id counters), and later `devices` (the
 * registry), `requests` (registration requests) and `inventory`. The file store (store-file.ts) is the default; a
 * shared store (e.g. Redis) for several Node-RED instances implements the same interface and passes the same
 * contract tests (test/unit/store-contract.ts).
 *
 * Contract:
 * - `load` returns every record of a collection as last written (a missing collection is empty).
 * - `write` applies a batch of puts and deletes as one change: after a restart either all of it is there or, if
 *   the process died before the promise resolved, possibly none of it; never half a batch, never a broken file.
 * - Writes to one collection apply in call order; values are JSON (what `JSON.parse(JSON.stringify(v))` returns).
 * - `flush` resolves when every write made before it is durable; `close` flushes, after it writes reject.
 */

/** Collections the endpoint uses. */
export type StoreCollection = 'operations' | 'sequences' | 'devices' | 'requests' | 'inventory';

/** One change: `value` undefined deletes the key. */
export interface StoreChange<T = unknown> {
  key: string;
  value?: T;
}

export interface EndpointStore {
  /** Every record of the collection by key. */
  load<T>(collection: StoreCollection): Promise<Map<string, T>>;
  /** Apply the changes as one batch; resolves once they are durable. */
  write<T>(collection: StoreCollection, changes: readonly StoreChange<T>[]): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
}

const COLLECTIONS: ReadonlySet<string> = new Set<StoreCollection>(['operations', 'sequences', 'devices', 'requests', 'inventory']);

/** Refuse anything but the known collection names (they become file names or key prefixes). */
export function checkCollection(name: string): asserts name is StoreCollection {
  if (!COLLECTIONS.has(name)) throw new StoreError(`unknown store collection ${JSON.stringify(name)}`);
}

/**
 * Time-ordered ids that never repeat: each is greater than the last one handed out (kept in the store) and at least
 * the current time in microseconds, so even a lost counter does not hand out an old id again (unless the clock goes
 * back). Numeric text of 16 digits until the year 2255, below 2^53, so also exact as a JavaScript number and usable as
 * a SmartREST operation id.
 */
export class IdSequence {
  constructor(
    private last = 0,
    private readonly now: () => number = Date.now,
  ) {}

  next(): string {
    this.last = Math.max(this.last + 1, Math.floor(this.now()) * 1000);
    return String(this.last);
  }

  /** Raise the counter past an id seen elsewhere (e.g. in stored operations). */
  observe(id: string | number): void {
    const n = Number(id);
    if (Number.isSafeInteger(n) && n > this.last) this.last = n;
  }

  get value(): number {
    return this.last;
  }
}

/** Compare numeric ids of any length (older stores used short counters). */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** A store in memory: the default when nothing must survive (tests, `EndpointServer` used on its own). */
export class MemoryStore implements EndpointStore {
  private readonly data = new Map<StoreCollection, Map<string, string>>();
  private closed = false;

  async load<T>(collection: StoreCollection): Promise<Map<string, T>> {
    checkCollection(collection);
    const out = new Map<string, T>();
    for (const [k, v] of this.data.get(collection) ?? []) out.set(k, JSON.parse(v) as T);
    return out;
  }

  async write<T>(collection: StoreCollection, changes: readonly StoreChange<T>[]): Promise<void> {
    checkCollection(collection);
    if (this.closed) throw new StoreError('the store is closed');
    let map = this.data.get(collection);
    if (!map) this.data.set(collection, (map = new Map()));
    for (const c of changes) {
      if (c.value === undefined) map.delete(c.key);
      else map.set(c.key, JSON.stringify(c.value));
    }
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The same data behind a new, open store (what a restart sees). */
  reopen(): MemoryStore {
    const next = new MemoryStore();
    for (const [c, m] of this.data) next.data.set(c, new Map(m));
    return next;
  }
}
