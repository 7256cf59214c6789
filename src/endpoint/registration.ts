/**
 * Device registration (bootstrap): requests from `s/ucr` polls, acceptance (by the flow or an acceptor
 * predicate) and issuing of credentials as a `70` line on `s/dcr`.
 */
import type { Client } from 'aedes' with { 'resolution-mode': 'import' };
import { serializeRecord } from '../smartrest/codec';
import { clientSubscriptions } from './aedes-internals';
import type { Session } from './auth';
import { checkDeviceId } from './clientid';
import type { DeviceRegistry } from './registry';

export interface RegistrationRequest {
  deviceId: string;
  state: 'pending' | 'accepted' | 'rejected';
  firstSeen?: string;
  lastSeen?: string;
  remoteAddress?: string;
  polls: number;
}

export interface RegisteredDevice {
  deviceId: string;
  username: string;
  tenant: string;
}

export interface RegistrationContext {
  tenant: string;
  registry: DeviceRegistry;
  /** Write the credentials line to the device's connection (never mirrored to the service account). */
  sendCredentials(deviceId: string, line: string): void;
  problem(p: { code: number; id: string; text: string }, s: Session): void;
  isClosing(): boolean;
  emit(event: 'registration', req: RegistrationRequest): void;
  emit(event: 'registered', dev: RegisteredDevice): void;
}

const MAX_REGISTRATIONS = 10000;
/** Polls this soon after credentials were issued are ignored (they were in flight). */
const ISSUED_GRACE_MS = 30_000;

export class Registration {
  private readonly requests = new Map<string, RegistrationRequest>();
  private readonly issuing = new Set<string>();
  /** Devices that just got credentials: their polls still in flight are ignored (no second request). */
  private readonly issued = new Map<string, number>();
  private readonly acceptors = new Set<(req: RegistrationRequest) => boolean>();

  constructor(private readonly ctx: RegistrationContext) {}

  /** Registration nodes add a predicate; a new request any predicate accepts is accepted at once. */
  addAcceptor(fn: (req: RegistrationRequest) => boolean): () => void {
    this.acceptors.add(fn);
    return () => this.acceptors.delete(fn);
  }

  list(): RegistrationRequest[] {
    return [...this.requests.values()].map((r) => ({ ...r }));
  }

  /** Accept a device's registration (also before it first polls). */
  accept(deviceId: string): RegistrationRequest {
    return this.decide(deviceId, 'accepted');
  }

  reject(deviceId: string): RegistrationRequest {
    return this.decide(deviceId, 'rejected');
  }

  private decide(deviceId: string, state: 'accepted' | 'rejected'): RegistrationRequest {
    const bad = checkDeviceId(deviceId);
    if (bad) throw new Error(bad);
    let req = this.requests.get(deviceId);
    if (!req) req = this.addRequest({ deviceId, state, polls: 0 });
    req.state = state;
    return { ...req };
  }

  private addRequest(req: RegistrationRequest): RegistrationRequest {
    if (this.requests.size >= MAX_REGISTRATIONS) {
      const oldest = this.requests.keys().next().value;
      if (oldest !== undefined) this.requests.delete(oldest);
    }
    this.requests.set(req.deviceId, req);
    return req;
  }

  /** A bootstrap connection published on `s/ucr`. */
  poll(client: Client, s: Session): void {
    const at = this.issued.get(s.deviceId);
    if (at !== undefined) {
      if (Date.now() - at < ISSUED_GRACE_MS) return;
      this.issued.delete(s.deviceId);
    }
    const now = new Date().toISOString();
    let req = this.requests.get(s.deviceId);
    if (!req || req.firstSeen === undefined) {
      const state = req?.state ?? 'pending';
      req = req ?? this.addRequest({ deviceId: s.deviceId, state, polls: 0 });
      req.firstSeen = now;
      if (s.remoteAddress) req.remoteAddress = s.remoteAddress;
      if (req.state === 'pending') {
        for (const accept of this.acceptors) {
          try {
            if (accept({ ...req })) {
              req.state = 'accepted';
              break;
            }
          } catch {
            // A faulty predicate does not accept.
          }
        }
        this.ctx.emit('registration', { ...req });
      }
    }
    req.polls++;
    req.lastSeen = now;
    if (req.state === 'accepted') void this.issue(client, s);
  }

  /**
   * A bootstrap connection subscribed to `s/dcr`. Decision: this counts as a poll for a device that has already
   * asked for credentials, so a device whose poller and listener are separate processes still gets its answer.
   */
  listening(client: Client, s: Session): void {
    if (this.requests.get(s.deviceId)?.state === 'accepted') void this.issue(client, s);
  }

  /** Issue credentials and answer `70` on `s/dcr`; only when the connection listens on s/dcr. */
  private async issue(client: Client, s: Session): Promise<void> {
    if (!clientSubscriptions(client)['s/dcr'] || this.issuing.has(s.deviceId)) return;
    this.issuing.add(s.deviceId);
    try {
      const { username, password } = await this.ctx.registry.issue(s.deviceId);
      if (this.ctx.isClosing()) return;
      this.requests.delete(s.deviceId);
      if (this.issued.size >= MAX_REGISTRATIONS) this.issued.clear();
      this.issued.set(s.deviceId, Date.now());
      this.ctx.sendCredentials(s.deviceId, serializeRecord(['70', this.ctx.tenant, username, password]));
      this.ctx.emit('registered', { deviceId: s.deviceId, username, tenant: this.ctx.tenant });
    } catch (err) {
      this.ctx.problem({ code: 50, id: '', text: `cannot store the credentials of ${s.deviceId}: ${(err as Error).message}` }, s);
    } finally {
      this.issuing.delete(s.deviceId);
    }
  }

  clear(): void {
    this.requests.clear();
    this.issued.clear();
    this.acceptors.clear();
  }
}
