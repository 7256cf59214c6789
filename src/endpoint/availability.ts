/**
 * Availability of devices, as the platform tracks it (reference §4.1 `117`): a device's connection (CONNECTED,
 * DISCONNECTED, with the reason: DISCONNECT packet, connection lost, last will) and, for a device that set a
 * required interval with `117,<minutes>`, whether a message arrived within it (AVAILABLE, UNAVAILABLE).
 *
 * Pure (no sockets, no Node-RED): the clock is injected, and one `sweep` checks every monitored device. The server
 * runs one sweep timer for all devices (not a timer per device); its cost is one pass over the monitored devices.
 *
 * Decisions:
 * - An interval of 0 or less stops the monitoring (the platform's maintenance mode): no AVAILABLE/UNAVAILABLE.
 * - Any valid record of the device counts as a message (also `117` itself); a child's records count for the child.
 * - After a restart, a monitored device's interval counts from the start (the endpoint heard nothing while down).
 */

export type AvailabilityState = 'AVAILABLE' | 'UNAVAILABLE' | 'CONNECTED' | 'DISCONNECTED';

/** One change of a device's availability or connection: what `c8y-endpoint-in` (filter *availability*) sends. */
export interface AvailabilityChange {
  /** Device or child id (external id). */
  device: string;
  state: AvailabilityState;
  /** Why, in words: `connected`, `disconnected`, `connection lost`, `connection lost, last will sent`,
   *  `message received`, `no message within the required interval of N minutes`. */
  reason: string;
  /** When the change was seen (ISO 8601). */
  time: string;
}

interface Entry {
  connected: boolean;
  /** Required interval in ms; 0 = not monitored. */
  intervalMs: number;
  lastMessage: number;
  available?: boolean;
}

export class AvailabilityTracker {
  private readonly entries = new Map<string, Entry>();
  private online = 0;
  private unavailableCount = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly onChange: (change: AvailabilityChange) => void,
    /** The clock (ms); replaced by tests. */
    public now: () => number = Date.now,
  ) {}

  /** Devices tracked (connected or monitored). */
  get size(): number {
    return this.entries.size;
  }

  /** Devices with a live connection. */
  get connectedCount(): number {
    return this.online;
  }

  /** Monitored devices whose required interval passed without a message. */
  get unavailable(): number {
    return this.unavailableCount;
  }

  state(device: string): { connected: boolean; intervalMinutes: number; available?: boolean } | undefined {
    const e = this.entries.get(device);
    return e && { connected: e.connected, intervalMinutes: e.intervalMs / 60_000, ...(e.available !== undefined ? { available: e.available } : {}) };
  }

  /** Time of the device's last message (ISO 8601), when it is tracked. */
  lastMessage(device: string): string | undefined {
    const e = this.entries.get(device);
    return e && new Date(e.lastMessage).toISOString();
  }

  connected(device: string): void {
    const e = this.entry(device);
    if (e.connected) return;
    e.connected = true;
    this.online++;
    this.change(device, 'CONNECTED', 'connected');
  }

  disconnected(device: string, reason: string): void {
    const e = this.entries.get(device);
    if (!e?.connected) return;
    e.connected = false;
    this.online--;
    this.change(device, 'DISCONNECTED', reason);
    this.forgetIdle(device, e);
  }

  /** A record of the device arrived. */
  message(device: string): void {
    const e = this.entries.get(device);
    if (!e) return; // neither connected (a child) nor monitored: nothing to track
    e.lastMessage = this.now();
    if (e.intervalMs > 0 && e.available !== true) this.setAvailable(device, e, true, 'message received');
  }

  /** `117`: the required interval in minutes (0 or less: not monitored). `restored`: from the inventory at start. */
  requiredInterval(device: string, minutes: number, restored = false): void {
    const ms = Number.isFinite(minutes) && minutes > 0 ? Math.min(minutes, 366 * 24 * 60) * 60_000 : 0;
    const e = ms > 0 ? this.entry(device) : this.entries.get(device);
    if (!e) return;
    e.intervalMs = ms;
    if (restored) e.lastMessage = this.now();
    if (ms === 0) {
      if (e.available === false) this.unavailableCount--;
      delete e.available;
      this.forgetIdle(device, e);
    }
  }

  /** Mark monitored devices whose interval passed as UNAVAILABLE. */
  sweep(): void {
    const now = this.now();
    for (const [device, e] of this.entries) {
      if (e.intervalMs > 0 && e.available !== false && now - e.lastMessage > e.intervalMs) {
        this.setAvailable(device, e, false, `no message within the required interval of ${e.intervalMs / 60_000} minutes`);
      }
    }
  }

  /** Run `sweep` every `everyMs` (one timer for every device) until `stop`. */
  start(everyMs: number): void {
    this.stop();
    this.timer = setInterval(() => this.sweep(), everyMs);
    this.timer.unref();
  }

  /** True while the sweep timer runs. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private setAvailable(device: string, e: Entry, available: boolean, reason: string): void {
    if (e.available === false) this.unavailableCount--;
    e.available = available;
    if (!available) this.unavailableCount++;
    this.change(device, available ? 'AVAILABLE' : 'UNAVAILABLE', reason);
  }

  private entry(device: string): Entry {
    let e = this.entries.get(device);
    if (!e) this.entries.set(device, (e = { connected: false, intervalMs: 0, lastMessage: this.now() }));
    return e;
  }

  /** Bounded: a device that is neither connected nor monitored is not kept. */
  private forgetIdle(device: string, e: Entry): void {
    if (!e.connected && e.intervalMs === 0) this.entries.delete(device);
  }

  private change(device: string, state: AvailabilityState, reason: string): void {
    this.onChange({ device, state, reason, time: new Date(this.now()).toISOString() });
  }
}
