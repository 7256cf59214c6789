/**
 * Per-field rate limit for writes (Datacake documents at most 1 write per second per field, and counts every
 * datapoint against a daily quota). The first write of a field goes at once; writes arriving within the
 * interval wait, and only the LATEST one is written when the interval ends (the ones it replaced are
 * reported as superseded). The limiter owns its timers: close() clears them and settles what waits.
 */

export type Outcome = 'sent' | 'superseded' | 'closed';

interface Waiting<T> {
  item: T;
  resolve: (outcome: Outcome) => void;
  reject: (err: Error) => void;
}

interface Slot<T> {
  last: number;
  timer?: NodeJS.Timeout;
  waiting?: Waiting<T>;
}

export class FieldRateLimiter<T> {
  private readonly slots = new Map<string, Slot<T>>();
  private closed = false;

  /**
   * @param intervalMs minimum time between two writes of one key (0 = no limit)
   * @param write called for the item that goes out; its promise settles the submit
   */
  constructor(
    private readonly intervalMs: number,
    private readonly write: (key: string, item: T) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Resolves 'sent' after the write, 'superseded' when a later item for the key replaced it; rejects if the write fails. */
  submit(key: string, item: T): Promise<Outcome> {
    if (this.closed) return Promise.resolve('closed');
    const now = this.now();
    if (++this.submits % 1000 === 0) this.prune(now);
    const slot = this.slots.get(key) ?? { last: -Infinity };
    this.slots.set(key, slot);
    if (!slot.timer && (this.intervalMs <= 0 || now - slot.last >= this.intervalMs)) {
      slot.last = now;
      return this.write(key, item).then(() => 'sent' as const);
    }
    return new Promise<Outcome>((resolve, reject) => {
      slot.waiting?.resolve('superseded');
      slot.waiting = { item, resolve, reject };
      if (!slot.timer) slot.timer = setTimeout(() => this.fire(key), Math.max(0, slot.last + this.intervalMs - now));
    });
  }

  private submits = 0;

  /** Forget keys that are idle (nothing waiting, interval over): many targets must not grow the map for ever. */
  private prune(now: number): void {
    for (const [key, slot] of this.slots) if (!slot.timer && !slot.waiting && now - slot.last >= this.intervalMs) this.slots.delete(key);
  }

  private fire(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    slot.timer = undefined;
    const waiting = slot.waiting;
    slot.waiting = undefined;
    if (!waiting) return;
    slot.last = this.now();
    this.write(key, waiting.item).then(
      () => waiting.resolve('sent'),
      (err: Error) => waiting.reject(err),
    );
  }

  /** Items waiting for their interval. */
  get waiting(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.waiting) n++;
    return n;
  }

  close(): void {
    this.closed = true;
    for (const slot of this.slots.values()) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
      slot.waiting?.resolve('closed');
      slot.waiting = undefined;
    }
    this.slots.clear();
  }
}
