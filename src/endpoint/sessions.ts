/**
 * Who is connected as what: the session of each aedes client, the one live connection of each device id and the
 * counts the endpoint's status shows.
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
  private readonly counts: ClientCounts = { devices: 0, bootstrap: 0, service: 0 };

  get(client: Client): Session | undefined {
    return this.byClient.get(client);
  }

  /** The live connection of a device id. */
  client(deviceId: string): Client | undefined {
    return this.deviceClients.get(deviceId);
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
    return [...this.deviceClients.keys()];
  }

  /** Record an authenticated connection; returns the connection it replaces (to be closed), if any. */
  open(client: Client, session: Session): Client | undefined {
    this.byClient.set(client, session);
    if (session.role === 'service') {
      this.counts.service++;
      return undefined;
    }
    // One connection per device id: the new one replaces the old (ClientIds d:x and x are the same device).
    const old = this.deviceClients.get(session.deviceId);
    this.deviceClients.set(session.deviceId, client);
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
      if (this.deviceClients.get(s.deviceId) === client) this.deviceClients.delete(s.deviceId);
      this.counts[s.role === 'device' ? 'devices' : 'bootstrap']--;
    }
    return true;
  }

  clear(): void {
    this.deviceClients.clear();
  }
}
