/**
 * Device credentials: username `device_<deviceId>` and a password stored only as a salted scrypt hash.
 * Persisted as JSON in a file the endpoint node passes in (under the Node-RED user dir), written atomically.
 *
 * Decisions:
 * - Issued passwords are 144 random bits; key stretching adds nothing to such secrets, so they are hashed with a
 *   light scrypt cost (N=2^10) that keeps thousands of first connections cheap. Passwords typed in the
 *   endpoint's editor (static entries) get the same cost: they live in memory only, beside their plain text in
 *   Node-RED's credentials, so stretching would only slow every start down (N=2^15 is ~100 ms per device).
 *   The cost is stored per entry (TYPED_COST is kept for entries hashed that way by earlier versions).
 * - A successful verification is remembered as an HMAC (process-random key) so that reconnects do not pay
 *   scrypt again; the memo is dropped when the entry changes.
 * - Static entries from the editor live in memory only (the editor's credentials are their store) and win over
 *   file entries of the same device.
 * - With an EndpointStore (state `redis`, `DeviceRegistry.load`), registration entries (salt and hash, never a
 *   password) go to its `devices` collection, one record per device, instead of the file; the store is read at start.
 */
import * as crypto from 'node:crypto';
import { checkDeviceId } from './clientid';
import { readJsonFile, writeJsonFileSync } from './jsonfile';
import type { EndpointStore } from './store';

export interface DeviceCredential {
  deviceId: string;
  username: string;
  /** base64 salt and scrypt hash. */
  salt: string;
  hash: string;
  /** scrypt cost parameter N. */
  cost: number;
  created: string;
  source: 'registration' | 'static';
}

interface RegistryFile {
  version: 1;
  devices: DeviceCredential[];
}

export const ISSUED_COST = 1 << 10;
export const TYPED_COST = 1 << 15;
const KEYLEN = 32;
const BURN_SALT = crypto.randomBytes(16);

export function usernameFor(deviceId: string): string {
  return `device_${deviceId}`;
}

export function generatePassword(): string {
  return crypto.randomBytes(18).toString('base64url');
}

function scrypt(password: string, salt: Buffer, cost: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    crypto.scrypt(password, salt, KEYLEN, { N: cost, r: 8, p: 1, maxmem: 256 * cost * 8 + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export class DeviceRegistry {
  private readonly byUser = new Map<string, DeviceCredential>();
  private readonly byDevice = new Map<string, DeviceCredential>();
  private readonly memo = new Map<string, Buffer>();
  private readonly memoKey = crypto.randomBytes(32);

  /** Write failures of the store (the entry stays valid in memory). */
  onStoreError: (err: Error) => void = () => undefined;
  private store: EndpointStore | undefined;

  /** A registry whose registration entries live in `store` (`devices`), loaded from it now. */
  static async load(store: EndpointStore): Promise<DeviceRegistry> {
    const r = new DeviceRegistry();
    for (const d of (await store.load<DeviceCredential>('devices')).values()) {
      if (d && typeof d.username === 'string' && typeof d.hash === 'string' && d.source === 'registration') r.put(d);
    }
    r.store = store;
    return r;
  }

  /** @param file JSON file to load from and persist to; undefined keeps everything in memory. */
  constructor(readonly file?: string) {
    if (file) {
      const data = readJsonFile<RegistryFile>(file);
      for (const d of data?.devices ?? []) if (d && typeof d.username === 'string') this.put(d);
    }
  }

  get size(): number {
    return this.byDevice.size;
  }

  list(): Omit<DeviceCredential, 'salt' | 'hash'>[] {
    return [...this.byDevice.values()].map(({ salt: _s, hash: _h, ...rest }) => rest);
  }

  has(deviceId: string): boolean {
    return this.byDevice.has(deviceId);
  }

  /** Issue fresh credentials for a device (registration); replaces earlier ones and persists. */
  async issue(deviceId: string): Promise<{ username: string; password: string }> {
    const password = generatePassword();
    await this.set(deviceId, password, 'registration');
    return { username: usernameFor(deviceId), password };
  }

  /** Set a device's password. `static` entries are not written to the file. */
  async set(deviceId: string, password: string, source: DeviceCredential['source'] = 'static'): Promise<DeviceCredential> {
    const bad = checkDeviceId(deviceId);
    if (bad) throw new Error(bad);
    if (typeof password !== 'string' || password === '') throw new Error(`the password of device ${deviceId} is empty`);
    const cost = ISSUED_COST;
    const salt = crypto.randomBytes(16);
    const hash = await scrypt(password, salt, cost);
    const entry: DeviceCredential = {
      deviceId,
      username: usernameFor(deviceId),
      salt: salt.toString('base64'),
      hash: hash.toString('base64'),
      cost,
      created: new Date().toISOString(),
      source,
    };
    this.put(entry);
    // In a store, the device gets its credentials only once the store has them (a Redis outage delays it).
    if (source === 'registration') await this.save(entry.deviceId);
    return entry;
  }

  remove(deviceId: string): boolean {
    const e = this.byDevice.get(deviceId);
    if (!e) return false;
    this.byDevice.delete(deviceId);
    this.byUser.delete(e.username);
    this.memo.delete(e.username);
    if (e.source === 'registration') void this.save(deviceId);
    return true;
  }

  /** scrypt computations run by `verify` and `burn` (observable cost: unknown users cost as much as known ones). */
  hashes = 0;

  /**
   * The entry when `password` is right for `username` (without tenant), else undefined. An unknown user costs
   * one scrypt like a known one, so the answer time does not tell which users exist.
   */
  async verify(username: string, password: string | Buffer | undefined): Promise<DeviceCredential | undefined> {
    const e = this.byUser.get(username);
    if (!e || password === undefined) {
      await this.burn(password);
      return undefined;
    }
    const pw = typeof password === 'string' ? password : password.toString('utf8');
    const mac = crypto.createHmac('sha256', this.memoKey).update(e.hash).update('\0').update(pw).digest();
    const known = this.memo.get(username);
    if (known && crypto.timingSafeEqual(known, mac)) return e;
    this.hashes++;
    const hash = await scrypt(pw, Buffer.from(e.salt, 'base64'), e.cost);
    if (this.byUser.get(username) !== e) return undefined; // changed meanwhile
    if (!crypto.timingSafeEqual(hash, Buffer.from(e.hash, 'base64'))) return undefined;
    this.memo.set(username, mac);
    return e;
  }

  /** Spend what checking a password costs, for a refusal that needs no check (same time as a wrong password). */
  async burn(password: string | Buffer | undefined): Promise<void> {
    this.hashes++;
    await scrypt(password === undefined ? '' : typeof password === 'string' ? password : password.toString('utf8'), BURN_SALT, ISSUED_COST);
  }

  private put(e: DeviceCredential): void {
    const old = this.byDevice.get(e.deviceId);
    if (old) {
      this.byUser.delete(old.username);
      this.memo.delete(old.username);
    }
    this.byDevice.set(e.deviceId, e);
    this.byUser.set(e.username, e);
    this.memo.delete(e.username);
  }

  /** Persist the registration entries (atomically): the file, or `changed`'s record in the store. */
  async save(changed?: string): Promise<void> {
    if (this.store) {
      if (changed === undefined) return;
      const e = this.byDevice.get(changed);
      await this.store.write('devices', [{ key: changed, value: e?.source === 'registration' ? e : undefined }]).catch((err: Error) => this.onStoreError(err));
      return;
    }
    if (!this.file) return;
    const devices = [...this.byDevice.values()].filter((d) => d.source === 'registration');
    writeJsonFileSync(this.file, { version: 1, devices } satisfies RegistryFile);
  }
}

/** Constant-time comparison of two secrets of any length. */
export function sameSecret(a: string | Buffer | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || b === '') return false;
  const x = crypto.createHash('sha256').update(a).digest();
  const y = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(x, y);
}

/** `id:password` pairs separated by whitespace or commas. */
/** Devices typed in the endpoint editor: */
export function parseStaticDevices(text: string | undefined): { deviceId: string; password: string }[] {
  const out: { deviceId: string; password: string }[] = [];
  for (const item of (text ?? '').split(/[\s,]+/)) {
    if (!item) continue;
    const colon = item.indexOf(':');
    // The entry itself is not quoted: it may hold (part of) a password.
    if (colon <= 0 || colon === item.length - 1) throw new Error(`device entry ${out.length + 1} is not deviceId:password`);
    const deviceId = item.slice(0, colon);
    const bad = checkDeviceId(deviceId);
    if (bad) throw new Error(bad);
    out.push({ deviceId, password: item.slice(colon + 1) });
  }
  return out;
}

