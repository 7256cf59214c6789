/**
 * Content-based echo breaker for bidirectional bridging (MQTT 5 No-Local is used too where both sides speak 5,
 * but Datacake and 3.1.1 brokers echo, and No-Local does not help when the OTHER side reflects a message).
 *
 * Two checks, both keyed by a 52-bit hash of (side, topic, payload) and valid for `windowMs`:
 * 1. echo:       the bridge published (side, topic, payload); the same content arriving on that side's
 *                subscription is our own message coming back → drop.
 * 2. reflection: the bridge received (side, topic, payload) and forwarded it; a reverse rule now wants to publish
 *                the same content to that side → it is the reflection of what the side just sent → drop.
 *                (This is what breaks Datacake's echo of every `dtck-pub/` write on `dtck/`, whose topic differs.)
 * Entries are kept in insertion order in a Map and pruned from the front; the Map is bounded (`maxEntries`).
 */

/** FNV-1a over a string and a Buffer, two lanes → a 52-bit number (exact in a double, fast Map key). */
export function contentHash(side: number, topic: string, payload: Buffer): number {
  let a = 0x811c9dc5 ^ side;
  let b = 0x01000193 ^ (side * 31);
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  a = Math.imul(a ^ 0, 0x01000193);
  for (let i = 0; i < payload.length; i++) {
    const c = payload[i];
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  return (a >>> 0) * 0x100000 + ((b >>> 0) & 0xfffff);
}

export class LoopBreaker {
  private readonly seen = new Map<number, number>();
  constructor(
    readonly windowMs = 10000,
    readonly maxEntries = 100000,
  ) {}

  /** Remember content (published or forwarded) for the window. */
  remember(key: number, now = Date.now()): void {
    if (this.windowMs <= 0) return;
    this.seen.delete(key);
    this.seen.set(key, now + this.windowMs);
    if (this.seen.size > this.maxEntries) this.prune(now, true);
  }

  /** True (and forgets it: one echo per publish) when the content was remembered within the window. */
  isLoop(key: number, now = Date.now()): boolean {
    const until = this.seen.get(key);
    if (until === undefined) return false;
    this.seen.delete(key);
    return until >= now;
  }

  /** Peek without consuming (for reflection checks that may legitimately repeat). */
  has(key: number, now = Date.now()): boolean {
    const until = this.seen.get(key);
    return until !== undefined && until >= now;
  }

  prune(now = Date.now(), force = false): void {
    for (const [k, until] of this.seen) {
      if (until >= now && !(force && this.seen.size > this.maxEntries)) break;
      this.seen.delete(k);
    }
  }

  get size(): number {
    return this.seen.size;
  }

  clear(): void {
    this.seen.clear();
  }
}
