/**
 * Echo protection. Datacake republishes every write to a field on `dtck/…`, so a flow that feeds an in-node into
 * an out-node for the same device and field would write, receive its own echo, write it back, forever.
 *
 * The memory belongs to one Datacake account (all broker nodes with the same server and token share it, see
 * `echoMemoryFor`), and a write is recognised by what we published, not by time alone:
 * 1. every write we publish is remembered per device+field with its canonical value (`wrote`), until its echo
 *    window has passed after the write completed (a write still waiting in the offline queue stays remembered);
 * 2. a value received from Datacake that equals one of those writes is the echo of our own write (`isOwnEcho`);
 *    the in-node marks the message it emits for it with its `_msgid` (`markMessage`);
 * 3. an out-node drops a write only when the message it comes from is such a marked echo message and it writes
 *    that same value back to the same device+field (`isWriteBack`). Node-RED keeps `_msgid` through delay,
 *    change, switch and function nodes (also `node.send` in a function), so a loop is recognised however long
 *    it takes to come round.
 * Every other write of the flow is written, also the same value again a moment later (repeat datapoints are data).
 *
 * Limits (README *Echo protection*): a path that makes a new message (new `_msgid`: join, an MQTT round trip, a
 * flow that stores values and sends them later) is not recognised; a relay A → B → A through a mapping writes the
 * echo of B to A (another field) and is not stopped either: use *only write on change* there.
 */
import { createHash } from 'node:crypto';
import { targetKey, type DatacakeTarget } from './topics';

interface OwnWrite {
  canonical: string;
  windowMs: number;
  /** When the write completed (PUBACK / written); undefined while it waits or is in flight. */
  settledAt?: number;
}

/** Writes remembered per device+field (the newest; older ones are forgotten first). */
const WRITES_PER_FIELD = 16;
/** Fields with writes remembered; more → a prune of expired entries (at most once per second). */
const PRUNE_ABOVE = 1000;
/** Echo messages remembered (the newest); each is one `_msgid`. */
const MAX_MESSAGES = 10_000;

export class EchoMemory {
  /** Writes dropped as echoes since start (all broker nodes of the account). */
  dropped = 0;
  private readonly writes = new Map<string, OwnWrite[]>();
  private readonly messages = new Map<string, string>();
  private lastPrune = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxMessages = MAX_MESSAGES,
  ) {}

  /**
   * We hand `canonical` for `target` to the connection now. Returns the function to call when the write
   * completed (`delivered`) or failed (then it is forgotten: nothing of it can come back).
   */
  wrote(target: DatacakeTarget, canonical: string, windowMs: number): (delivered: boolean) => void {
    if (windowMs <= 0) return () => undefined;
    const key = targetKey(target);
    const list = this.writes.get(key) ?? [];
    const entry: OwnWrite = { canonical, windowMs };
    list.push(entry);
    if (list.length > WRITES_PER_FIELD) list.splice(0, list.length - WRITES_PER_FIELD);
    this.writes.set(key, list);
    if (this.writes.size > PRUNE_ABOVE && this.now() - this.lastPrune >= 1000) this.prune();
    return (delivered) => {
      if (delivered) entry.settledAt = this.now();
      else this.forget(key, entry);
    };
  }

  private forget(key: string, entry: OwnWrite): void {
    const list = this.writes.get(key);
    if (!list) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (!list.length) this.writes.delete(key);
  }

  private live(w: OwnWrite, now: number): boolean {
    return w.settledAt === undefined || now - w.settledAt < w.windowMs;
  }

  /** True when a value received from Datacake is the echo of a write of ours (same field, same canonical value). */
  isOwnEcho(target: DatacakeTarget, canonical: string): boolean {
    const list = this.writes.get(targetKey(target));
    if (!list) return false;
    const now = this.now();
    return list.some((w) => w.canonical === canonical && this.live(w, now));
  }

  /** The message `msgid` carries the echo of our own write of `canonical` to `target`. */
  markMessage(msgid: string, target: DatacakeTarget, canonical: string): void {
    this.messages.delete(msgid);
    this.messages.set(msgid, `${targetKey(target)}\n${canonical}`);
    if (this.messages.size > this.maxMessages) this.messages.delete(this.messages.keys().next().value as string);
  }

  /**
   * True when writing `canonical` to `target` from message `msgid` writes the echo of our own write back to the
   * same field with the same value: the caller drops it (counted here).
   */
  isWriteBack(msgid: unknown, target: DatacakeTarget, canonical: string): boolean {
    if (typeof msgid !== 'string') return false;
    const hit = this.messages.get(msgid) === `${targetKey(target)}\n${canonical}`;
    if (hit) this.dropped++;
    return hit;
  }

  /** Forget writes whose echo window is over. */
  prune(): void {
    const now = this.now();
    this.lastPrune = now;
    for (const [key, list] of this.writes) {
      const keep = list.filter((w) => this.live(w, now));
      if (keep.length) this.writes.set(key, keep);
      else this.writes.delete(key);
    }
  }

  /** Fields with remembered writes. */
  get size(): number {
    return this.writes.size;
  }

  /** Echo messages remembered. */
  get messageCount(): number {
    return this.messages.size;
  }

  clear(): void {
    this.writes.clear();
    this.messages.clear();
  }
}

const accounts = new Map<string, { memory: EchoMemory; users: number }>();

/** The key of a Datacake account: the server and the token (hashed: the key may show up in a debugger). */
export function accountKey(server: string, token: string): string {
  return `${server}\n${createHash('sha256').update(token).digest('hex')}`;
}

/**
 * The echo memory of one account, shared by every broker node that uses it (an in-node on one broker node and an
 * out-node on another with the same token see the same writes). Call `release` on close: the last one frees it.
 */
export function echoMemoryFor(key: string): { memory: EchoMemory; release: () => void } {
  let entry = accounts.get(key);
  if (!entry) {
    entry = { memory: new EchoMemory(), users: 0 };
    accounts.set(key, entry);
  }
  entry.users++;
  const e = entry;
  let released = false;
  return {
    memory: e.memory,
    release: () => {
      if (released) return;
      released = true;
      if (--e.users > 0) return;
      e.memory.clear();
      if (accounts.get(key) === e) accounts.delete(key);
    },
  };
}
