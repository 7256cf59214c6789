/**
 * The echo window. Datacake republishes every write to a field on `dtck/…`, so a flow that feeds an in-node into
 * an out-node for the same device and field would write, receive its own echo, write again, forever. The
 * config node keeps one window for all its in- and out-nodes: every value received from Datacake is remembered
 * per device+field for `windowMs`, and an out-node drops a write of the same value (compared canonically, so
 * `True` equals `true`) to the same device+field within that window, and counts it.
 *
 * Decision: the check is content-based and not consumed by a match (one received value may block several
 * writes of the same value within the window). Dropping a value Datacake already holds is harmless; a
 * consumed match would let the second round of a loop through.
 */
import { targetKey, type DatacakeTarget } from './topics';

interface Seen {
  text: string;
  at: number;
}

export class EchoWindow {
  /** Writes dropped as echoes since start. */
  dropped = 0;
  private readonly seen = new Map<string, Seen[]>();

  constructor(
    public windowMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Remember a value received from Datacake (canonical text). */
  received(target: DatacakeTarget, canonical: string): void {
    if (this.windowMs <= 0) return;
    const key = targetKey(target);
    const now = this.now();
    const list = (this.seen.get(key) ?? []).filter((s) => now - s.at < this.windowMs && s.text !== canonical);
    list.push({ text: canonical, at: now });
    if (list.length > 16) list.splice(0, list.length - 16);
    this.seen.set(key, list);
    // At most one full scan per window, so many watched fields do not make every received value O(n).
    if (this.seen.size > 1000 && now - this.lastPrune >= this.windowMs) this.prune();
  }
  private lastPrune = 0;

  /** True when writing `canonical` to `target` now would write back a value just received: the caller drops it. */
  isEcho(target: DatacakeTarget, canonical: string): boolean {
    if (this.windowMs <= 0) return false;
    const list = this.seen.get(targetKey(target));
    if (!list) return false;
    const now = this.now();
    const hit = list.some((s) => s.text === canonical && now - s.at < this.windowMs);
    if (hit) this.dropped++;
    return hit;
  }

  /** Forget entries older than the window. */
  prune(): void {
    const now = this.now();
    this.lastPrune = now;
    for (const [key, list] of this.seen) {
      const keep = list.filter((s) => now - s.at < this.windowMs);
      if (keep.length) this.seen.set(key, keep);
      else this.seen.delete(key);
    }
  }

  get size(): number {
    return this.seen.size;
  }

  clear(): void {
    this.seen.clear();
  }
}
