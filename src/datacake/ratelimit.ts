/**
 * Per-field rate limit for writes (Datacake documents at most 1 write per second per field, and counts every
 * datapoint against a daily quota). The first write of a field goes at once; writes arriving while the previous
 * write of the field is still under way (waiting in the offline queue, or not acknowledged yet) or within the
 * interval after it completed wait, and only the LATEST of them is written when the interval ends (the ones it
 * replaced are reported as superseded). So a field has at most one write under way and one waiting, also during
 * an outage: after a reconnect the field gets one write, then the newest value one interval later, never a burst.
 * The limiter owns its timers: close() clears them and settles what waits.
 */

export type Outcome = 'sent' | 'superseded' | 'closed';

interface Waiting<T> {
  item: T;
  resolve: (outcome: Outcome) => void;
  reject: (err: Error) => void;
}

interface Slot<T> {
  /** When the last write of the key started or completed. */
  last: number;
  /** A write of the key is under way (handed to `write`, not settled yet). */
  busy: boolean;
  timer?: NodeJS.Timeout;
  waiting?: Waiting<T>;
}

export class FieldRateLimiter<T> {
  private readonly slots = new Map<string, Slot<T>>();
  private closed = false;

  /**
   * @param intervalMs minimum time between the end of one write of a key and the start of the next (0 = no limit:
   *   every item is written, none waits here)
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
    if (this.intervalMs <= 0) return this.write(key, item).then(() => 'sent' as const);
    const now = this.now();
    if (++this.submits % 1000 === 0) this.prune(now);
    const slot = this.slots.get(key) ?? { last: -Infinity, busy: false };
    this.slots.set(key, slot);
    return new Promise<Outcome>((resolve, reject) => {
      const waiting = { item, resolve, reject };
      if (!slot.busy && !slot.timer && now - slot.last >= this.intervalMs) return this.start(key, slot, waiting);
      slot.waiting?.resolve('superseded');
      slot.waiting = waiting;
      if (!slot.busy) this.schedule(key, slot);
    });
  }

  private submits = 0;

  /** Forget keys that are idle (nothing under way or waiting, interval over): many targets must not grow the map for ever. */
  private prune(now: number): void {
    for (const [key, slot] of this.slots) if (!slot.busy && !slot.timer && !slot.waiting && now - slot.last >= this.intervalMs) this.slots.delete(key);
  }

  private start(key: string, slot: Slot<T>, w: Waiting<T>): void {
    slot.busy = true;
    slot.last = this.now();
    const end = () => {
      slot.busy = false;
      slot.last = this.now();
      if (slot.waiting && !this.closed) this.schedule(key, slot);
    };
    this.write(key, w.item).then(
      () => {
        end();
        w.resolve('sent');
      },
      (err: Error) => {
        end();
        w.reject(err);
      },
    );
  }

  private schedule(key: string, slot: Slot<T>): void {
    if (slot.timer) return;
    slot.timer = setTimeout(() => this.fire(key, slot), Math.max(0, slot.last + this.intervalMs - this.now()));
  }

  private fire(key: string, slot: Slot<T>): void {
    slot.timer = undefined;
    const waiting = slot.waiting;
    slot.waiting = undefined;
    if (waiting && !this.closed) this.start(key, slot, waiting);
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
