/**
 * The bridge's outbox: messages waiting for the target (target down, reconnecting, or the in-flight window full).
 * - Bounded by count AND bytes; overflow handled by policy and ALWAYS reported through `onDrop` (never silent):
 *   `drop-oldest` evicts the oldest, `drop-newest` refuses the new one, `stop-consuming` (the engine stops reading
 *   from the sending broker when the outbox is full) still accepts QoS 1 messages that were already on their way,
 *   up to a hard cap of twice the limit; QoS 0 messages over the limit are dropped.
 * - Time to live per message: expired entries are dropped (reason `expired`) when they reach the head.
 * - Optional file persistence: an append-only JSON-lines journal (`+` entries and `-` removals, written in one
 *   batch per event-loop turn), compacted when mostly removals and on open; a Node-RED restart keeps the queue.
 * FIFO over a plain array with a moving head index (no O(n) shift per message).
 */
import fs from 'node:fs';
import path from 'node:path';
import { SLAB_BYTES, SlabPool, type Slab } from './slabs';

export type OverflowPolicy = 'drop-oldest' | 'drop-newest' | 'stop-consuming';

export interface OutboxEntry {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** Configured rule index (for counters). */
  rule: number;
  /** Absolute expiry (ms since epoch); 0 = never. */
  expires: number;
  /** Acknowledges the source message(s) behind this entry (not persisted; absent after a restart). */
  ack?: () => void;
  /** The source message is QoS 1 and not yet acknowledged: a resumed source session redelivers it (not persisted). */
  held?: boolean;
  /** Journal id (persistence only). */
  id?: number;
  /** Where the outbox's copy of the payload lives (released by `done`). */
  slab?: Slab;
  /** Handed to the connection (set by the caller of `shift`): a QoS 0 copy is then not reused. */
  handedOver?: boolean;
}

export interface OutboxOptions {
  maxMessages: number;
  maxBytes: number;
  policy: OverflowPolicy;
  /** Journal file (absolute); omitted = memory only. */
  file?: string;
  onDrop?: (entry: OutboxEntry, reason: 'queue-full' | 'expired') => void;
  now?: () => number;
}

/**
 * What an entry costs beside its topic and payload (the entry object, its acknowledgement closure, the array
 * slot), measured roughly on Node 20; counted so that the byte limit bounds real memory.
 */
export const ENTRY_OVERHEAD = 200;

export function entryBytes(e: { topic: string; payload: Buffer }): number {
  return e.payload.length + e.topic.length + ENTRY_OVERHEAD;
}

export class Outbox {
  private items: (OutboxEntry | undefined)[] = [];
  private head = 0;
  private bytesUsed = 0;
  private nextId = 1;
  private fd?: number;
  private journal: string[] = [];
  private flushScheduled = false;
  private removedSinceCompact = 0;
  private readonly now: () => number;
  private readonly slabs: SlabPool;
  constructor(private readonly options: OutboxOptions) {
    this.now = options.now ?? Date.now;
    // enough free slabs to refill a full outbox without allocating
    this.slabs = new SlabPool(Math.ceil(options.maxBytes / SLAB_BYTES) + 2);
    if (options.file) this.open(options.file);
  }

  get length(): number {
    return this.items.length - this.head;
  }
  get bytes(): number {
    return this.bytesUsed;
  }
  get full(): boolean {
    return this.length >= this.options.maxMessages || this.bytesUsed >= this.options.maxBytes;
  }

  /** Adds at the end; false when the policy refused it (already reported through onDrop). */
  push(e: OutboxEntry): boolean {
    const size = entryBytes(e);
    const o = this.options;
    if (size > o.maxBytes) {
      o.onDrop?.(e, 'queue-full');
      return false;
    }
    const over = () => this.length + 1 > o.maxMessages || this.bytesUsed + size > o.maxBytes;
    if (over()) {
      if (o.policy === 'drop-oldest') {
        while (over() && this.length) o.onDrop?.(this.take()!, 'queue-full');
      } else if (o.policy === 'stop-consuming' && e.qos > 0 && this.length + 1 <= 2 * o.maxMessages && this.bytesUsed + size <= 2 * o.maxBytes) {
        // kept unacknowledged: the source broker holds back the rest
      } else {
        o.onDrop?.(e, 'queue-full');
        return false;
      }
    }
    this.append(e, size);
    return true;
  }

  private append(e: OutboxEntry, size: number): void {
    // An incoming payload is a slice of the socket's read chunk: a waiting slice would keep the whole chunk
    // alive, far more memory than the byte limit counts. Waiting entries own a copy.
    // Copies come from reused slabs (slabs.ts), so a churning outbox does not leave its garbage to V8.
    if (e.payload.byteLength > 0 && !e.slab) {
      const c = this.slabs.copy(e.payload);
      e.payload = c.payload;
      e.slab = c.slab;
    }
    this.items.push(e);
    this.bytesUsed += size;
    if (this.fd !== undefined) {
      e.id = this.nextId++;
      this.write(JSON.stringify({ '+': e.id, t: e.topic, p: e.payload.toString('base64'), q: e.qos, r: e.retain ? 1 : 0, k: e.rule, e: e.expires }));
    }
  }

  /** Puts an entry back at the head (a publish that could not be handed over). */
  unshift(e: OutboxEntry): void {
    if (this.head > 0) this.items[--this.head] = e;
    else this.items.unshift(e);
    this.bytesUsed += entryBytes(e);
    if (e.id !== undefined) this.handedOver.delete(e.id);
    // already in the journal (its removal is only written by take)
  }

  private take(): OutboxEntry | undefined {
    if (this.head >= this.items.length) return undefined;
    const e = this.items[this.head]!;
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.bytesUsed -= entryBytes(e);
    return e;
  }

  /** Next live entry (expired ones are dropped on the way). Call `done(e)` once the target acknowledged it. */
  shift(): OutboxEntry | undefined {
    const now = this.now();
    for (;;) {
      const e = this.take();
      if (!e) return undefined;
      if (e.expires && e.expires < now) {
        this.done(e);
        this.options.onDrop?.(e, 'expired');
        continue;
      }
      if (e.id !== undefined) this.handedOver.set(e.id, e);
      return e;
    }
  }
  /** Persisted entries handed to the target but not yet acknowledged (kept across compaction). */
  private readonly handedOver = new Map<number, OutboxEntry>();

  /** The entry left the bridge (forwarded or dropped): its payload memory is reused, it leaves the journal. */
  done(e: OutboxEntry): void {
    if (e.slab) {
      this.slabs.release(e.slab, e.handedOver === true && e.qos === 0);
      e.slab = undefined;
    }
    if (this.fd === undefined || e.id === undefined) return;
    this.handedOver.delete(e.id);
    this.write(JSON.stringify({ '-': e.id }));
    e.id = undefined;
    this.removedSinceCompact++;
  }

  /**
   * Takes the waiting entries for which `test` is true out of the queue (order kept) and returns them. They stay
   * in the journal (`unshift` puts them back, `done` removes them).
   */
  removeWhere(test: (e: OutboxEntry) => boolean): OutboxEntry[] {
    const kept: (OutboxEntry | undefined)[] = [];
    const removed: OutboxEntry[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const e = this.items[i]!;
      if (!test(e)) {
        kept.push(e);
        continue;
      }
      removed.push(e);
      this.bytesUsed -= entryBytes(e);
      if (e.id !== undefined) this.handedOver.set(e.id, e); // kept in the journal across compaction
    }
    this.items = kept;
    this.head = 0;
    return removed;
  }

  /** Puts entries taken by `removeWhere` back at the head, in their order. */
  prepend(entries: OutboxEntry[]): void {
    if (!entries.length) return;
    this.items = (entries as (OutboxEntry | undefined)[]).concat(this.items.slice(this.head));
    this.head = 0;
    for (const e of entries) {
      this.bytesUsed += entryBytes(e);
      if (e.id !== undefined) this.handedOver.delete(e.id);
    }
  }

  /** Drop every entry (policy change / close without persistence). */
  clear(): OutboxEntry[] {
    const all: OutboxEntry[] = [];
    for (let e = this.take(); e; e = this.take()) all.push(e);
    return all;
  }

  // ---- persistence ---------------------------------------------------------------------------------------------
  private open(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const live = new Map<number, OutboxEntry>();
    if (fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          const j = JSON.parse(line);
          if (typeof j['-'] === 'number') live.delete(j['-']);
          else if (typeof j['+'] === 'number') live.set(j['+'], { topic: j.t, payload: Buffer.from(j.p, 'base64'), qos: j.q, retain: !!j.r, rule: j.k, expires: j.e });
        } catch {
          // a torn last line after a crash: ignore it
        }
      }
    }
    // Compact on open: rewrite only the live entries (atomically via rename).
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, '');
    this.fd = fs.openSync(tmp, 'a');
    for (const e of live.values()) {
      if (this.length >= this.options.maxMessages || this.bytesUsed + entryBytes(e) > this.options.maxBytes) {
        this.options.onDrop?.(e, 'queue-full');
        continue;
      }
      this.append(e, entryBytes(e));
    }
    this.flush();
    fs.closeSync(this.fd);
    fs.renameSync(tmp, file);
    this.fd = fs.openSync(file, 'a');
    this.file = file;
  }
  private file?: string;

  private write(line: string): void {
    this.journal.push(line);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes the pending journal lines; compacts when removals dominate. */
  flush(): void {
    this.flushScheduled = false;
    if (this.fd === undefined || !this.journal.length) return;
    fs.writeSync(this.fd, this.journal.join('\n') + '\n');
    this.journal = [];
    if (this.file && this.removedSinceCompact > 10000 && this.removedSinceCompact > 4 * this.length) this.compact();
  }

  private compact(): void {
    const file = this.file!;
    fs.closeSync(this.fd!);
    const lines: string[] = [];
    const line = (e: OutboxEntry) => JSON.stringify({ '+': e.id, t: e.topic, p: e.payload.toString('base64'), q: e.qos, r: e.retain ? 1 : 0, k: e.rule, e: e.expires });
    for (const e of this.handedOver.values()) lines.push(line(e));
    for (let i = this.head; i < this.items.length; i++) {
      lines.push(line(this.items[i]!));
    }
    fs.writeFileSync(`${file}.tmp`, lines.length ? lines.join('\n') + '\n' : '');
    fs.renameSync(`${file}.tmp`, file);
    this.fd = fs.openSync(file, 'a');
    this.removedSinceCompact = 0;
  }

  /** Flush and close the journal (entries stay in the file for the next start). */
  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
