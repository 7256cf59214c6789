/**
 * Who is connected as what: the session of each aedes client, the one live connection of each device id and the
 * counts the endpoint's status shows.
 *
 * Device sessions and bootstrap (registration) sessions live in separate namespaces: a bootstrap login with the
 * ClientId of a device never replaces or disconnects that device's session (anyone holding the shared bootstrap
 * password could otherwise keep any device offline). Within a namespace, a new connection replaces the old one.
 */
import type { Client } from 'aedes' with { 'resolution-mode': 'import' };
import type { Session } from './auth';

export interface ClientCounts {
  devices: number;
  bootstrap: number;
  service: number;
}

export class Sessions {
  private readonly byClient = new WeakMap<Client, Session>();
  private readonly deviceClients = new Map<string, Client>();
  private readonly bootstrapClients = new Map<string, Client>();
  private readonly counts: ClientCounts = { devices: 0, bootstrap: 0, service: 0 };

  get(client: Client): Session | undefined {
    return this.byClient.get(client);
  }

  /** The live device connection of a device id (bootstrap connections are not device connections). */
  client(deviceId: string): Client | undefined {
    return this.deviceClients.get(deviceId);
  }

  private namespace(role: Session['role']): Map<string, Client> {
    return role === 'bootstrap' ? this.bootstrapClients : this.deviceClients;
  }

  /** True when at least one service account is connected (device traffic is mirrored to it). */
  get serviceConnected(): boolean {
    return this.counts.service > 0;
  }

  clientCounts(): ClientCounts {
    return { ...this.counts };
  }

  /** Device ids with a live connection (devices and bootstrap connections). */
  connectedDevices(): string[] {
    return [...new Set([...this.deviceClients.keys(), ...this.bootstrapClients.keys()])];
  }

  /** Record an authenticated connection; returns the connection it replaces (to be closed), if any. */
  open(client: Client, session: Session): Client | undefined {
    this.byClient.set(client, session);
    if (session.role === 'service') {
      this.counts.service++;
      return undefined;
    }
    // One connection per device id and namespace: the new one replaces the old (ClientIds d:x and x are the same
    // device).
    const clients = this.namespace(session.role);
    const old = clients.get(session.deviceId);
    clients.set(session.deviceId, client);
    this.counts[session.role === 'device' ? 'devices' : 'bootstrap']++;
    return old && old !== client && !old.closed ? old : undefined;
  }

  /** Forget a connection; false when it had no session (or was already forgotten). */
  close(client: Client): boolean {
    const s = this.byClient.get(client);
    if (!s) return false;
    this.byClient.delete(client);
    if (s.role === 'service') this.counts.service--;
    else {
      const clients = this.namespace(s.role);
      if (clients.get(s.deviceId) === client) clients.delete(s.deviceId);
      this.counts[s.role === 'device' ? 'devices' : 'bootstrap']--;
    }
    return true;
  }

  clear(): void {
    this.deviceClients.clear();
    this.bootstrapClients.clear();
  }
}
