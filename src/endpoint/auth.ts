/**
 * Authentication: from what a CONNECT carries to a session or a refusal (CONNACK return code and reason).
 * No broker, no sockets: the server gathers a `ConnectRequest` and opens the session this returns.
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
}

export const BOOTSTRAP_TENANT = 'management';

/** A refused CONNECT: `returnCode` is the CONNACK code (2 identifier, 4 bad credentials, 5 not authorised). */
export class AuthRefusal extends Error {
  constructor(
    readonly returnCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'AuthRefusal';
  }
}

/** The session for a CONNECT; rejects with AuthRefusal. */
export async function authenticate(req: ConnectRequest, config: AuthConfig): Promise<Session> {
  const { tenant } = config;
  const { username, password } = req;
  const remote = req.remoteAddress !== undefined ? { remoteAddress: req.remoteAddress } : {};
  // The service account is not a device: its ClientId is free.
  const service = config.service;
  if (service && username === `${tenant}/${service.username}`) {
    if (!sameSecret(password, service.password)) throw new AuthRefusal(4, 'bad user name or password');
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
      throw new AuthRefusal(4, 'bad user name or password');
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
  if (slash < 0 || username.slice(0, slash) !== tenant) throw new AuthRefusal(4, 'bad user name or password');
  const entry = await config.verify(username.slice(slash + 1), password);
  if (!entry) throw new AuthRefusal(4, 'bad user name or password');
  // Decision: a device user may only connect as its own device.
  if (entry.deviceId !== parsed.deviceId) throw new AuthRefusal(5, `user ${entry.username} may not connect as device ${parsed.deviceId}`);
  return { role: 'device', deviceId: parsed.deviceId, ...xid, ...remote };
}
