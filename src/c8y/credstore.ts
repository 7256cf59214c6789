/**
 * Credentials obtained by a device registration, kept so the `c8y-device` node reconnects with them after a
 * Node-RED restart. Decision: Node-RED 4.1's `RED.nodes.addCredentials` only changes the in-memory store (the
 * runtime writes `flows_cred.json` only on the next deploy), so it cannot carry the credentials over a restart
 * by itself. They are therefore ALSO written to `<userDir>/c8y-device-credentials.json`, keyed by the config
 * node id and the device id, each entry encrypted with AES-256-GCM under a key derived from Node-RED's
 * credential secret (the same secret that protects `flows_cred.json`). Pure Node, no Node-RED import.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DeviceCredentials } from './bootstrap';

export const STORE_FILE = 'c8y-device-credentials.json';

interface Entry {
  iv: string;
  tag: string;
  data: string;
  /** ISO time of the registration. */
  at: string;
}

export interface StoredCredentials extends DeviceCredentials {
  at: string;
  /** Fingerprint of the credentials configured in the node when these were stored (see `fingerprint`). */
  basis?: string;
}

/** Fingerprint of configured credentials: lets the node tell whether someone entered new ones since. */
export function fingerprint(user: string | undefined, password: string | undefined): string {
  return createHash('sha256').update(`${user ?? ''}\u0000${password ?? ''}`).digest('base64');
}

function keyOf(secret: string): Buffer {
  return createHash('sha256').update('node-red-contrib-device-protocols/c8y-device-credentials\u0000' + secret).digest();
}

const entryKey = (configId: string, deviceId: string) => `${configId}|${deviceId}`;

export class CredentialStore {
  private readonly file: string;
  constructor(
    dir: string,
    private readonly secret: string,
  ) {
    this.file = path.join(dir, STORE_FILE);
  }

  private readAll(): Record<string, Entry> {
    try {
      const data = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown;
      return data && typeof data === 'object' ? (data as Record<string, Entry>) : {};
    } catch {
      return {};
    }
  }

  get(configId: string, deviceId: string): StoredCredentials | undefined {
    const e = this.readAll()[entryKey(configId, deviceId)];
    if (!e) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', keyOf(this.secret), Buffer.from(e.iv, 'base64'));
      d.setAuthTag(Buffer.from(e.tag, 'base64'));
      const text = Buffer.concat([d.update(Buffer.from(e.data, 'base64')), d.final()]).toString('utf8');
      return { ...(JSON.parse(text) as DeviceCredentials), at: e.at };
    } catch {
      return undefined; // another secret (or a damaged file): as if nothing was stored
    }
  }

  set(configId: string, deviceId: string, creds: DeviceCredentials & { basis?: string }, at = new Date()): void {
    const all = this.readAll();
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', keyOf(this.secret), iv);
    const data = Buffer.concat([c.update(JSON.stringify({ tenant: creds.tenant, username: creds.username, password: creds.password, basis: creds.basis }), 'utf8'), c.final()]);
    all[entryKey(configId, deviceId)] = { iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), data: data.toString('base64'), at: at.toISOString() };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(all, null, 2), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }

  delete(configId: string, deviceId: string): void {
    const all = this.readAll();
    if (!(entryKey(configId, deviceId) in all)) return;
    delete all[entryKey(configId, deviceId)];
    fs.writeFileSync(this.file, JSON.stringify(all, null, 2), { mode: 0o600 });
  }
}
