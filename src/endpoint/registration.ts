/**
 * Device registration (bootstrap): requests from `s/ucr` polls, acceptance (by the flow or an acceptor
 * predicate) and issuing of credentials as a `70` line on `s/dcr`.
 *
 * The bootstrap password is shared by every device, so it must not be worth more than a first registration:
 * credentials are issued only for a device id that is not registered yet (neither in the registry file nor typed
 * into the endpoint's *Devices*). A poll for a registered device gets `41` on `s/e` and a 'registration-refused'
 * event (at most once a minute per device; not a 'problem': the registration node reports it), never credentials. Re-registering needs an explicit act of the flow:
 * `reset(deviceId)` opens one re-registration (then accepted as usual); the new credentials replace the old
 * ones only when they are issued. A reset stays open until it is used or the endpoint stops.
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

export interface RegistrationRefusal {
  deviceId: string;
  reason: string;
  remoteAddress?: string;
}

export interface RegistrationContext {
  tenant: string;
  registry: DeviceRegistry;
  /** Write the credentials line to the bootstrap connection (never mirrored to the service account). */
  sendCredentials(client: Client, line: string): void;
  problem(p: { code: number; id: string; text: string }, s: Session, client: Client): void;
  /** Only the `s/e` line to the bootstrap connection (a refused poll is a registration event, not a data error). */
  tell(p: { code: number; id: string; text: string }, s: Session, client: Client): void;
  isClosing(): boolean;
  emit(event: 'registration', req: RegistrationRequest): void;
  emit(event: 'registered', dev: RegisteredDevice): void;
  emit(event: 'registration-refused', refusal: RegistrationRefusal): void;
  emit(event: 'registration-reset', dev: { deviceId: string; registered: boolean }): void;
}

const MAX_REGISTRATIONS = 10000;
/** Polls this soon after credentials were issued are ignored (they were in flight). */
const ISSUED_GRACE_MS = 30_000;
/** A refused poll is reported at most this often per device (devices poll every few seconds). */
const REFUSAL_REPORT_MS = 60_000;

export class Registration {
  private readonly requests = new Map<string, RegistrationRequest>();
  private readonly issuing = new Set<string>();
  /** Devices that just got credentials: their polls still in flight are ignored (no second request). */
  private readonly issued = new Map<string, number>();
  private readonly acceptors = new Set<(req: RegistrationRequest) => boolean>();
  /** Registered devices the flow reset: their next accepted registration replaces their credentials. */
  private readonly resets = new Set<string>();
  private readonly refusalReported = new Map<string, number>();

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

  /**
   * Allow one re-registration of a registered device (its credentials are replaced when new ones are issued).
   * Also fine for a device that is not registered (nothing to reset: it registers as usual).
   */
  reset(deviceId: string): { deviceId: string; registered: boolean } {
    const bad = checkDeviceId(deviceId);
    if (bad) throw new Error(bad);
    const registered = this.ctx.registry.has(deviceId);
    if (registered) {
      if (this.resets.size >= MAX_REGISTRATIONS) this.resets.delete(this.resets.values().next().value!);
      this.resets.add(deviceId);
    }
    // A request refused earlier starts again as a new one.
    if (this.requests.get(deviceId)?.firstSeen !== undefined && this.requests.get(deviceId)?.state !== 'accepted') this.requests.delete(deviceId);
    this.issued.delete(deviceId);
    this.refusalReported.delete(deviceId);
    const out = { deviceId, registered };
    this.ctx.emit('registration-reset', out);
    return out;
  }

  /** Why this device may not get credentials now (registered and not reset), else undefined. */
  private registeredProblem(deviceId: string): string | undefined {
    if (!this.ctx.registry.has(deviceId) || this.resets.has(deviceId)) return undefined;
    return `device ${deviceId} is already registered; the flow must reset it (c8y-endpoint-registration {reset: "${deviceId}"}) before it can register again`;
  }

  private decide(deviceId: string, state: 'accepted' | 'rejected'): RegistrationRequest {
    const bad = checkDeviceId(deviceId);
    if (bad) throw new Error(bad);
    if (state === 'accepted') {
      const registered = this.registeredProblem(deviceId);
      if (registered) throw new Error(registered);
    }
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
    const registered = this.registeredProblem(s.deviceId);
    if (registered) {
      this.refusePoll(client, s, registered);
      return;
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

  private refusePoll(client: Client, s: Session, reason: string): void {
    const now = Date.now();
    const last = this.refusalReported.get(s.deviceId);
    if (last !== undefined && now - last < REFUSAL_REPORT_MS) return;
    if (this.refusalReported.size >= MAX_REGISTRATIONS) this.refusalReported.clear();
    this.refusalReported.set(s.deviceId, now);
    this.ctx.tell({ code: 41, id: '', text: reason }, s, client);
    this.ctx.emit('registration-refused', { deviceId: s.deviceId, reason, ...(s.remoteAddress ? { remoteAddress: s.remoteAddress } : {}) });
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
    // Checked again here: the device may have been registered since the request was accepted.
    const registered = this.registeredProblem(s.deviceId);
    if (registered) return this.refusePoll(client, s, registered);
    this.issuing.add(s.deviceId);
    try {
      const { username, password } = await this.ctx.registry.issue(s.deviceId);
      if (this.ctx.isClosing()) return;
      this.resets.delete(s.deviceId);
      this.requests.delete(s.deviceId);
      if (this.issued.size >= MAX_REGISTRATIONS) this.issued.clear();
      this.issued.set(s.deviceId, Date.now());
      this.ctx.sendCredentials(client, serializeRecord(['70', this.ctx.tenant, username, password]));
      this.ctx.emit('registered', { deviceId: s.deviceId, username, tenant: this.ctx.tenant });
    } catch (err) {
      this.ctx.problem({ code: 50, id: '', text: `cannot store the credentials of ${s.deviceId}: ${(err as Error).message}` }, s, client);
    } finally {
      this.issuing.delete(s.deviceId);
    }
  }

  clear(): void {
    this.requests.clear();
    this.issued.clear();
    this.acceptors.clear();
    this.resets.clear();
    this.refusalReported.clear();
  }
}
