/**
 * Authentication: from what a CONNECT carries to a session or a refusal (CONNACK return code and reason), with
 * the login brake. No broker, no sockets: the server gathers a `ConnectRequest` and opens the session this returns.
 *
 * Login brake (against password guessing; defaults in DEFAULT_BRAKE):
 * - Failed password logins (CONNACK 4) are counted per user name and per remote address; a count is forgotten
 *   `forgetMs` after its last failure.
 * - A CONNECT from an address with failures waits before its password is checked: `baseDelayMs` doubled per
 *   failure of the address or of the user it tries (the larger count), at most `maxDelayMs`. From `lockAfter`
 *   failures on, it is refused at once (CONNACK 5, "too many failed logins") without a check.
 * - An address with no failures is never slowed down, so a device elsewhere logs in at once while an attacker is
 *   throttled. At most `maxWaiting` CONNECTs of one address wait at a time; more are refused at once.
 * - Every wrong password costs one scrypt, also for unknown users, the bootstrap user and the service account,
 *   so the answer time does not tell which users exist.
 */
import type { Role } from './acl';
import { ClientIdError, parseClientId } from './clientid';
import { sameSecret, type DeviceCredential } from './registry';

/** Who a connection is, once authenticated. */
export interface Session {
  role: Role;
  deviceId: string;
  xid?: string;
  remoteAddress?: string;
  certificate?: boolean;
}

/** What the CONNECT (and the connection under it) says. */
export interface ConnectRequest {
  clientId: string;
  clean: boolean;
  username?: string;
  password?: Buffer;
  /** CN of a verified TLS client certificate. */
  certificate?: string;
  remoteAddress?: string;
}

export interface AuthConfig {
  tenant: string;
  service?: { username: string; password: string } | null;
  bootstrap?: { username: string; password: string } | null;
  /** Device credential check (registry): the entry when the password is right, else undefined. */
  verify(username: string, password: Buffer): Promise<DeviceCredential | undefined>;
  /** Spend the time of one password check (for refusals that need none). */
  burn(password: Buffer | undefined): Promise<void>;
  brake?: LoginBrake;
}

export interface BrakePolicy {
  /** Delay before the password check after the first failure (ms), doubled per further failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Failures after which a user or an address (with failures) is refused without a check. */
  lockAfter: number;
  /** Failures are forgotten this long after the last one (ms). */
  forgetMs: number;
  /** CONNECTs of one address that may wait at once. */
  maxWaiting: number;
}

export const DEFAULT_BRAKE: BrakePolicy = { baseDelayMs: 250, maxDelayMs: 8000, lockAfter: 10, forgetMs: 15 * 60_000, maxWaiting: 10 };

/** Keys kept per map; the oldest are forgotten first when full. */
const MAX_KEYS = 10_000;

interface Failures {
  count: number;
  last: number;
}

export interface BrakeStats {
  /** Refusals by the brake itself (locked or too many waiting). */
  locked: number;
  /** CONNECTs that waited. */
  delayed: number;
  /** Failed password logins counted. */
  failed: number;
}

export class LoginBrake {
  readonly policy: BrakePolicy;
  readonly stats: BrakeStats = { locked: 0, delayed: 0, failed: 0 };
  private readonly users = new Map<string, Failures>();
  private readonly addresses = new Map<string, Failures>();
  private readonly waiting = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(policy: Partial<BrakePolicy> = {}) {
    this.policy = { ...DEFAULT_BRAKE, ...policy };
  }

  private count(map: Map<string, Failures>, key: string | undefined, now: number): number {
    if (key === undefined) return 0;
    const f = map.get(key);
    if (!f) return 0;
    if (now - f.last >= this.policy.forgetMs) {
      map.delete(key);
      return 0;
    }
    return f.count;
  }

  /** What a CONNECT from `address` for `user` must do first: be refused (reason) or wait `delayMs`. */
  admit(user: string | undefined, address: string | undefined): { refuse?: string; delayMs: number } {
    const now = Date.now();
    const fa = this.count(this.addresses, address, now);
    if (fa === 0) return { delayMs: 0 };
    const n = Math.max(fa, this.count(this.users, user, now));
    if (n >= this.policy.lockAfter) return { refuse: 'too many failed logins: try again later', delayMs: 0 };
    if ((this.waiting.get(address!) ?? 0) >= this.policy.maxWaiting) return { refuse: 'too many logins waiting from this address', delayMs: 0 };
    return { delayMs: Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (n - 1)) };
  }

  /** Wait before the check (counted against the address's waiting CONNECTs). */
  async wait(address: string | undefined, ms: number): Promise<void> {
    const key = address ?? '';
    this.waiting.set(key, (this.waiting.get(key) ?? 0) + 1);
    this.stats.delayed++;
    try {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          resolve();
        }, ms);
        this.timers.add(t);
      });
    } finally {
      const left = (this.waiting.get(key) ?? 1) - 1;
      if (left > 0) this.waiting.set(key, left);
      else this.waiting.delete(key);
    }
  }

  failed(user: string | undefined, address: string | undefined): void {
    const now = Date.now();
    this.stats.failed++;
    for (const [map, key] of [[this.users, user], [this.addresses, address]] as const) {
      if (key === undefined) continue;
      const count = this.count(map, key, now) + 1;
      map.delete(key); // re-inserted last: the Map's order is the order of the last failure
      if (map.size >= MAX_KEYS) map.delete(map.keys().next().value!);
      map.set(key, { count, last: now });
    }
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/** User names are keys of the brake: bounded in length (a CONNECT may carry 64 KB of them). */
function brakeKey(username: string | undefined): string | undefined {
  return username === undefined ? undefined : username.slice(0, 256);
}

/** The session for a CONNECT; rejects with AuthRefusal. */
export async function authenticate(req: ConnectRequest, config: AuthConfig): Promise<Session> {
  const brake = config.brake;
  if (!brake) return check(req, config);
  const user = brakeKey(req.username);
  const gate = brake.admit(user, req.remoteAddress);
  if (gate.refuse) {
    brake.stats.locked++;
    throw new AuthRefusal(5, gate.refuse, true);
  }
  if (gate.delayMs > 0) await brake.wait(req.remoteAddress, gate.delayMs);
  try {
    return await check(req, config);
  } catch (err) {
    if (err instanceof AuthRefusal && err.returnCode === 4) brake.failed(user, req.remoteAddress);
    throw err;
  }
}

export const BOOTSTRAP_TENANT = 'management';

/** A refused CONNECT: `returnCode` is the CONNACK code (2 identifier, 4 bad credentials, 5 not authorised). */
export class AuthRefusal extends Error {
  constructor(
    readonly returnCode: number,
    message: string,
    /** Refused by the login brake (no password was checked). */
    readonly braked = false,
  ) {
    super(message);
    this.name = 'AuthRefusal';
  }
}

/** A wrong user name or password, after the time a password check takes. */
async function badCredentials(config: AuthConfig, password: Buffer | undefined): Promise<never> {
  await config.burn(password);
  throw new AuthRefusal(4, 'bad user name or password');
}

async function check(req: ConnectRequest, config: AuthConfig): Promise<Session> {
  const { tenant } = config;
  const { username, password } = req;
  const remote = req.remoteAddress !== undefined ? { remoteAddress: req.remoteAddress } : {};
  // The service account is not a device: its ClientId is free.
  const service = config.service;
  if (service && username === `${tenant}/${service.username}`) {
    if (!sameSecret(password, service.password)) return badCredentials(config, password);
    if (!req.clean) throw new AuthRefusal(2, 'clean session required');
    return { role: 'service', deviceId: '', ...remote };
  }
  if (!req.clientId) throw new AuthRefusal(2, 'empty ClientId');
  let parsed;
  try {
    parsed = parseClientId(req.clientId);
  } catch (err) {
    throw new AuthRefusal(2, (err as ClientIdError).message);
  }
  const xid = parsed.xid ? { xid: parsed.xid } : {};
  // Decision: a persistent session is refused as an unacceptable identifier (2); Cumulocity requires clean session.
  if (!req.clean) throw new AuthRefusal(2, 'clean session required (Cumulocity does not keep sessions)');
  const bootstrap = config.bootstrap;
  if (username !== undefined && username.startsWith(BOOTSTRAP_TENANT + '/')) {
    if (!bootstrap || username !== `${BOOTSTRAP_TENANT}/${bootstrap.username}` || !sameSecret(password, bootstrap.password)) {
      return badCredentials(config, password);
    }
    return { role: 'bootstrap', deviceId: parsed.deviceId, ...xid, ...remote };
  }
  // A verified client certificate wins over a password (as on the platform, reference §1.1).
  const cert = req.certificate;
  if (cert !== undefined) {
    // Client certificate: CN must be the device id; username, if any, is the tenant
    // (`<tenant>` or `<tenant>/<user>`: the certificate wins, the password is ignored).
    if (username && username !== tenant && !username.startsWith(`${tenant}/`)) {
      throw new AuthRefusal(5, `certificate authentication for tenant ${username.split('/')[0]}, this endpoint is ${tenant}`);
    }
    if (cert !== parsed.deviceId) throw new AuthRefusal(5, `certificate CN ${JSON.stringify(cert)} is not the device id ${JSON.stringify(parsed.deviceId)}`);
    return { role: 'device', deviceId: parsed.deviceId, ...xid, ...remote, certificate: true };
  }
  // As on the platform: 4 for a wrong username/password, 5 (not authorised) when nothing usable was sent.
  if (!username || !password || password.length === 0) throw new AuthRefusal(5, 'no username/password and no client certificate');
  const slash = username.indexOf('/');
  if (slash < 0 || username.slice(0, slash) !== tenant) return badCredentials(config, password);
  const entry = await config.verify(username.slice(slash + 1), password);
  if (!entry) throw new AuthRefusal(4, 'bad user name or password');
  // Decision: a device user may only connect as its own device.
  if (entry.deviceId !== parsed.deviceId) throw new AuthRefusal(5, `user ${entry.username} may not connect as device ${parsed.deviceId}`);
  return { role: 'device', deviceId: parsed.deviceId, ...xid, ...remote };
}
