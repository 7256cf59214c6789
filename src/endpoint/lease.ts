/**
 * Holding a lease in a shared store so that one endpoint instance serves devices at a time (active/standby).
 * The holder renews it every ttl/3; when it cannot confirm a renewal for 2/3 of the ttl (Redis unreachable, or
 * another instance took it after an expiry), it gives up (`onLost`) before the lease can expire for the others,
 * so two instances never serve at once as long as clocks run at the same rate.
 */
export class Lease {
  private until = 0;
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;
  private lost = false;

  constructor(
    private readonly take: () => Promise<boolean>,
    readonly ttlMs: number,
    private readonly onLost: (reason: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Try to take the lease; on success keep renewing it until `stop` or loss. */
  async acquire(): Promise<boolean> {
    const t0 = this.now();
    if (!(await this.take())) return false;
    this.until = t0 + this.ttlMs;
    this.lost = false;
    this.timer ??= setInterval(() => this.tick(), Math.max(50, Math.floor(this.ttlMs / 3)));
    return true;
  }

  get held(): boolean {
    return !this.lost && this.until > 0;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.until = 0;
  }

  private tick(): void {
    if (this.lost) return;
    // Give up with a third of the ttl to spare: another instance can take it only after the full ttl.
    if (this.now() > this.until - this.ttlMs / 3) return this.lose('the lease could not be renewed in time (Redis unreachable?)');
    if (this.renewing) return;
    this.renewing = true;
    const t0 = this.now();
    this.take().then(
      (ok) => {
        this.renewing = false;
        if (ok) this.until = t0 + this.ttlMs;
        else this.lose('another instance holds the lease');
      },
      () => (this.renewing = false),
    );
  }

  private lose(reason: string): void {
    this.lost = true;
    this.stop();
    this.onLost(reason);
  }
}
