/**
 * Device access tokens (`s/uat` → `71,<token>` on `s/dat`): a JWT signed with HMAC-SHA256 and the endpoint's
 * secret, naming the device (`sub`) and the tenant (`ten`), valid for a short time (`exp`).
 *
 * What it is good for here: a device proves who it is to an HTTP endpoint of the flow (an `http in` node) without
 * sending its MQTT password there; the flow checks the token with `c8y-endpoint-registration` (`msg.verifyToken`)
 * or, outside Node-RED, with `verifyDeviceToken` and the same secret. Pure: no sockets, no Node-RED.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface DeviceToken {
  /** Device id (the ClientId's device). */
  device: string;
  tenant: string;
  /** Seconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
}

/** Default lifetime: one hour (decision: short, a device asks again with `s/uat`). */
export const TOKEN_LIFETIME_S = 3600;
/** Longest token accepted for verification (a bound on work for hostile input). */
const MAX_TOKEN_CHARS = 4096;

const b64 = (v: string | Buffer) => Buffer.from(v).toString('base64url');
const HEADER = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

function sign(secret: string, data: string): string {
  return createHmac('sha256', secret).update(data).digest('base64url');
}

export function issueDeviceToken(secret: string, device: string, tenant: string, lifetimeS = TOKEN_LIFETIME_S, nowMs = Date.now()): string {
  if (!secret) throw new Error('no token secret');
  const iat = Math.floor(nowMs / 1000);
  const body = b64(JSON.stringify({ sub: device, ten: tenant, iat, exp: iat + lifetimeS }));
  return `${HEADER}.${body}.${sign(secret, `${HEADER}.${body}`)}`;
}

export class TokenError extends Error {}

/** The device a token names, or a TokenError saying why it is not valid (bad form, signature, or expired). */
export function verifyDeviceToken(token: unknown, secret: string, nowMs = Date.now()): DeviceToken {
  if (!secret) throw new TokenError('no token secret');
  if (typeof token !== 'string' || !token) throw new TokenError('the token must be a non-empty string');
  const t = token.replace(/^Bearer\s+/i, '').trim();
  if (t.length > MAX_TOKEN_CHARS) throw new TokenError(`the token is longer than ${MAX_TOKEN_CHARS} characters`);
  const parts = t.split('.');
  if (parts.length !== 3 || parts[0] !== HEADER) throw new TokenError('not a token of this endpoint (expected an HS256 JWT)');
  const expected = Buffer.from(sign(secret, `${parts[0]}.${parts[1]}`));
  const got = Buffer.from(parts[2]);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new TokenError('bad signature (another endpoint, another secret, or a changed token)');
  let claims: { sub?: unknown; ten?: unknown; iat?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new TokenError('the token body is not JSON');
  }
  if (typeof claims.sub !== 'string' || typeof claims.ten !== 'string' || typeof claims.exp !== 'number' || typeof claims.iat !== 'number') {
    throw new TokenError('the token lacks sub, ten, iat or exp');
  }
  if (nowMs / 1000 >= claims.exp) throw new TokenError(`the token expired at ${new Date(claims.exp * 1000).toISOString()}`);
  return { device: claims.sub, tenant: claims.ten, issuedAt: claims.iat, expiresAt: claims.exp };
}
