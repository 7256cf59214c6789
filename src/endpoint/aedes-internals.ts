/**
 * Every touch of aedes' private API (and of the connection objects behind a client) lives here, so that an aedes
 * upgrade is checked in one file. Each function feature-detects what it needs and degrades to "not available"
 * rather than throwing.
 */
import type * as http from 'node:http';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Aedes, Client } from 'aedes' with { 'resolution-mode': 'import' };

/** A client's granted subscriptions by topic filter (aedes keeps them in `client.subscriptions`). */
export function clientSubscriptions(client: Client): Record<string, { qos: number } | undefined> {
  return (client as unknown as { subscriptions?: Record<string, { qos: number } | undefined> }).subscriptions ?? {};
}

/** The byte stream under a client (TCP/TLS socket or WebSocket stream). */
export function clientStream(client: Client): Duplex | undefined {
  return client.conn as Duplex | undefined;
}

/** Remote address of a client: the WebSocket request's socket, else the TCP socket. */
export function remoteAddress(client: Client): string | undefined {
  const req = (client as { req?: http.IncomingMessage }).req;
  if (req?.socket?.remoteAddress) return req.socket.remoteAddress;
  return (client.conn as net.Socket | undefined)?.remoteAddress;
}

/** CN of a verified TLS client certificate, if any. */
export function certificateName(client: Client): string | undefined {
  const conn = client.conn as tls.TLSSocket;
  if (!(conn instanceof tls.TLSSocket) || !conn.authorized) return undefined;
  const cn = conn.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' ? cn : Array.isArray(cn) ? cn[0] : undefined;
}

/**
 * Packets larger than `max` bytes are refused before they are read: the parser's remaining-length step
 * (mqtt-packet, which aedes uses) ends the connection as soon as the length is known, so a device cannot make the
 * endpoint buffer megabytes. Feature-detected: without the parser hook nothing changes.
 */
export function limitPacketLength(client: unknown, max: number): void {
  const parser = (client as { _parser?: { _parseLength?: () => boolean; packet?: { length: number }; emit(e: string, err: Error): boolean } })?._parser;
  const parseLength = parser?._parseLength;
  if (!parser || typeof parseLength !== 'function') return;
  parser._parseLength = function guardedParseLength(this: typeof parser) {
    const ok = parseLength.call(this);
    if (ok && this!.packet && this!.packet.length > max) {
      this!.emit('error', new Error(`packet of ${this!.packet.length} bytes exceeds ${max} bytes: connection closed`));
      return false;
    }
    return ok;
  };
}

/**
 * Skip aedes' routing (packet and state objects, promises, a topic-tree match) for packets `skip` names: the
 * endpoint handles device publishes itself in authorizePublish and routes only what a service account can see.
 * The PUBACK is sent before this point.
 */
export function skipRouting(broker: Aedes, skip: (topic: string) => boolean): void {
  const route = broker.publish.bind(broker) as (packet: unknown, client: unknown, done?: (err?: Error | null) => void) => void;
  (broker as unknown as { publish: typeof route }).publish = (packet, client, done) => {
    if (typeof client === 'function') {
      done = client as typeof done;
      client = null;
    }
    if (skip((packet as { topic: string }).topic)) return void done?.(null);
    route(packet, client, done);
  };
}

/** True when `packet` is the client's last will being published (aedes passes `client.will` itself). */
export function isWill(client: Client, packet: unknown): boolean {
  const will = (client as unknown as { will?: unknown }).will;
  return will !== undefined && will !== null && will === packet;
}

/** Why a client's connection ended: a DISCONNECT packet (aedes sets `_disconnected`), else lost (with a will). */
export function endedBy(client: Client, willSent: boolean): 'disconnected' | 'connection lost' | 'connection lost, last will sent' {
  if ((client as unknown as { _disconnected?: boolean })._disconnected === true) return 'disconnected';
  const will = (client as unknown as { will?: unknown }).will;
  return willSent || (will !== undefined && will !== null) ? 'connection lost, last will sent' : 'connection lost';
}

/** Bytes waiting in the user-space write buffer of a client's stream. */
export function queuedBytes(client: Client): number {
  const n = (client.conn as { writableLength?: number } | undefined)?.writableLength;
  return typeof n === 'number' ? n : 0;
}

/**
 * Give an authenticated client another id in aedes' client table. aedes closes an older client with the same id
 * when the new one registers ([MQTT-3.1.4-2]); renaming keeps bootstrap sessions out of the devices' table (a
 * device ClientId cannot contain "/", so `management/<ClientId>` never meets one). Called from `authenticate`,
 * before aedes registers the client under `client.id`.
 */
export function renameClient(client: Client, id: string): void {
  (client as { id: string }).id = id;
}

/** Close a client now: aedes' `close` ends the stream, which waits for a peer that does not read; destroy it too. */
export function dropClient(client: Client): void {
  client.close();
  clientStream(client)?.destroy();
}
