/**
 * Payload memory of the outbox, reused instead of left to the garbage collector.
 *
 * Waiting entries own a copy of their payload (an incoming payload is a slice of the socket's read chunk). With one
 * small Buffer per copy, a `drop-oldest` outbox that is full and still reading evicts a copy for every message it
 * reads; the evicted copies have lived long enough to be in V8's old generation, so their memory comes back only
 * at a full collection, which V8 runs late: issue #14 measured +117 MB RSS for a 10 MB outbox. Copies are instead
 * cut from 64 kB slabs that return to a free list once every copy in them left the bridge, so the memory of a
 * churning outbox is its bound plus a few slabs.
 *
 * A copy may only be released once nothing reads it any more: after the target acknowledged it (QoS 1/2: the
 * socket write is long done), or when it was dropped without being handed over. A QoS 0 publish completes when
 * MQTT.js queued the bytes, possibly before the socket wrote them, so a slab that held one handed-over QoS 0 copy
 * is left to the garbage collector instead of being reused.
 */
export const SLAB_BYTES = 64 * 1024;

export interface Slab {
  buf: Buffer;
  /** Next free offset. */
  used: number;
  /** Copies cut from it that have not been released. */
  live: number;
  /** Never reuse (see above). */
  tainted: boolean;
}

export class SlabPool {
  private current?: Slab;
  private readonly free: Slab[] = [];
  constructor(private readonly maxFree: number) {}

  /** A copy of `src` and the slab it lives in (payloads larger than a quarter slab get a Buffer of their own). */
  copy(src: Buffer): { payload: Buffer; slab?: Slab } {
    const n = src.length;
    if (n > SLAB_BYTES / 4) return { payload: Buffer.from(src) };
    let s = this.current;
    if (!s || s.used + n > SLAB_BYTES) {
      if (s && s.live === 0 && !s.tainted) this.recycle(s);
      s = this.current = this.free.pop() ?? { buf: Buffer.allocUnsafeSlow(SLAB_BYTES), used: 0, live: 0, tainted: false };
    }
    const payload = s.buf.subarray(s.used, s.used + n);
    src.copy(payload);
    s.used += (n + 7) & ~7;
    s.live++;
    return { payload, slab: s };
  }

  /** The copy left the bridge; `handedOverQos0`: it was given to the connection as QoS 0 (see above). */
  release(slab: Slab, handedOverQos0 = false): void {
    if (handedOverQos0) slab.tainted = true;
    if (--slab.live > 0 || slab === this.current) return;
    if (!slab.tainted) this.recycle(slab);
  }

  private recycle(slab: Slab): void {
    slab.used = 0;
    slab.live = 0;
    if (this.free.length < this.maxFree) this.free.push(slab);
  }

  /** Slabs kept for reuse (for tests). */
  get freeCount(): number {
    return this.free.length;
  }
}
