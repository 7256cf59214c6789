/**
 * The Cumulocity-compatible MQTT endpoint: an aedes broker behind plain TCP, optional TLS and optional MQTT over
 * WebSocket (`/mqtt`), with Cumulocity's authentication, topic rules and answers. No Node-RED import: the
 * `c8y-endpoint` config node owns one instance and turns its events into flow messages.
 *
 * Routing decisions (all topics of all devices are the same strings, `s/us`, `s/ds`, …):
 * - A device's upstream publish is processed synchronously in `authorizePublish` (decoded, answered, emitted)
 *   and then re-published under `devices/<deviceId>/<topic>`, which only the service account can subscribe to.
 * - Downstream lines are written to the one connection of the device (aedes `client.publish`), never through the
 *   shared topic tree, and only when that connection subscribed to the topic, as on the platform. A copy goes to
 *   `devices/<deviceId>/<topic>` for the service account when one is connected.
 * - Refused publishes are dropped (re-routed to a `$`-topic nobody can subscribe to) with an `s/e` line; the
 *   connection stays open, so a device sees why (aedes would otherwise close the connection).
 * - Events for the flow are emitted as 'record', 'problem', 'registration', 'registered', 'operation', 'clients'
 *   (never 'error', so nothing can throw from an unhandled event).
 */
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Aedes, AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes' with { 'resolution-mode': 'import' };
import { describeIssue, parseDetailed, serializeRecord } from '../smartrest/codec';
import { findTemplate } from '../smartrest/catalogue';
import { collectionLookups, type TemplateCollection } from '../smartrest/custom';
import { maxPayloadBytes, MAX_PUBLISH_BYTES } from '../smartrest/limits';
import { describeRecord, SmartRestRecordError, type TemplateLookup } from '../smartrest/records';
import type { TopicInfo } from '../smartrest/topics';
import type { DecodedRecord, ProcessingMode, TemplateCategory } from '../smartrest/types';
import { SERVICE_PREFIX, devicePublish, deviceSubscribe, servicePublish, serviceSubscribe, serviceTopic, type Role } from './acl';
import { answerRecord, emptyAnswer } from './answers';
import { checkDeviceId, ClientIdError, parseClientId } from './clientid';
import { InventoryLimitError, type Inventory } from './inventory';
import { encodeOperations, OperationStore, type Operation } from './operations';
import { sameSecret, type DeviceRegistry } from './registry';

export interface EndpointOptions {
  host?: string;
  /** Plain MQTT port; 0 picks a free one; undefined/null/-1 = no plain listener. */
  port?: number | null;
  /** MQTT over TLS. `requestCert` lets devices authenticate with a client certificate whose CN is the device id. */
  tls?: { port: number; options: tls.TlsOptions } | null;
  /** MQTT over WebSocket on path `/mqtt`. */
  ws?: { port: number } | null;
  tenant: string;
  /** Service account (`<tenant>/<username>`): sees and reaches every device under `devices/<deviceId>/…`. */
  service?: { username: string; password: string } | null;
  /** Registration (bootstrap) user, `management/<username>`. */
  bootstrap?: { username: string; password: string } | null;
  registry: DeviceRegistry;
  inventory: Inventory;
  /** Answer of `600` (default: this package's name and version). */
  platformVersion?: string;
  /** Largest PUBLISH accepted from a device, header included (default 16184). */
  maxPublishBytes?: number;
}

/** Record kinds the `c8y-endpoint-in` filter selects. */
export type RecordKind = 'inventory' | 'measurement' | 'alarm' | 'event' | 'operation-status' | 'capability' | 'custom' | 'other';

export interface EndpointRecord {
  record: DecodedRecord;
  kind: RecordKind;
  device: string;
  child?: string;
  mode: ProcessingMode;
  tenant: string;
  /** The topic as the device published it. */
  topic: string;
  /** Operation status records: the operations they changed. */
  operations?: Operation[];
  /** Set by the first listener that took `record` as it is; the others take a copy (flows must not share it). */
  claimed?: boolean;
}

export interface EndpointProblem {
  /** s/e code: 40 unknown template, 41 refused, 45 invalid arguments. */
  code: number;
  /** Related message id (may be empty). */
  id: string;
  text: string;
  /** The line sent on `s/e`. */
  line: string;
  device?: string;
  topic?: string;
  payload?: string;
}

export interface RegistrationRequest {
  deviceId: string;
  state: 'pending' | 'accepted' | 'rejected';
  firstSeen?: string;
  lastSeen?: string;
  remoteAddress?: string;
  polls: number;
}

export interface ClientCounts {
  devices: number;
  bootstrap: number;
  service: number;
}

export interface EndpointAddresses {
  mqtt?: number;
  tls?: number;
  ws?: number;
}

interface Session {
  role: Role;
  deviceId: string;
  xid?: string;
  remoteAddress?: string;
  certificate?: boolean;
}

interface ConnectInfo {
  clientId: string;
  clean: boolean;
}

const MAX_REGISTRATIONS = 10000;
/** Polls this soon after credentials were issued are ignored (they were in flight). */
const ISSUED_GRACE_MS = 30_000;
const BOOTSTRAP_TENANT = 'management';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const PKG = require('../../package.json') as { name: string; version: string };

type AuthError = Error & { returnCode: number };
function authError(code: number, message: string): AuthError {
  return Object.assign(new Error(message), { returnCode: code });
}

function kindOf(category: TemplateCategory | undefined, custom: boolean): RecordKind {
  if (custom) return 'custom';
  switch (category) {
    case 'inventory':
    case 'measurement':
    case 'alarm':
    case 'event':
    case 'operation-status':
    case 'capability':
      return category;
    default:
      return 'other';
  }
}

function noop(): void {}

/**
 * How far beyond the publish limit a packet is still read (and then refused on `s/e`, connection kept); anything
 * longer ends the connection before it is buffered.
 */
const READ_SLACK_BYTES = 64 * 1024;

/** Topic a refused publish is renamed to (nobody can subscribe to it). */
const DROPPED_TOPIC = '$dropped';

export class EndpointServer extends EventEmitter {
  readonly tenant: string;
  readonly operations = new OperationStore();
  readonly addresses: EndpointAddresses = {};
  private broker!: Aedes;
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly connectInfo = new WeakMap<Client, ConnectInfo>();
  private readonly deviceClients = new Map<string, Client>();
  private readonly counts: ClientCounts = { devices: 0, bootstrap: 0, service: 0 };
  private readonly registrations = new Map<string, RegistrationRequest>();
  private readonly issuing = new Set<string>();
  /** Devices that just got credentials: their polls still in flight are ignored (no second request). */
  private readonly issued = new Map<string, number>();
  private readonly lookups = new WeakMap<TemplateCollection, TemplateLookup>();
  private readonly servers: (net.Server | http.Server)[] = [];
  private readonly sockets = new Set<Duplex>();
  private wss: WebSocketServer | undefined;
  private closing: Promise<void> | undefined;
  private readonly acceptors = new Set<(req: RegistrationRequest) => boolean>();
  private readonly maxPublish: number;
  private readonly platformVersion: string;

  private constructor(private readonly options: EndpointOptions) {
    super();
    this.setMaxListeners(0);
    this.tenant = options.tenant;
    this.maxPublish = options.maxPublishBytes ?? MAX_PUBLISH_BYTES;
    this.platformVersion = options.platformVersion ?? `${PKG.name} ${PKG.version}`;
  }

  /** Create the broker and start every configured listener; rejects (with everything closed) when one cannot bind. */
  static async start(options: EndpointOptions): Promise<EndpointServer> {
    if (!options.tenant || /[/+#\s]/.test(options.tenant)) throw new Error(`invalid tenant id ${JSON.stringify(options.tenant)}`);
    const server = new EndpointServer(options);
    try {
      await server.init();
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  get inventory(): Inventory {
    return this.options.inventory;
  }

  get registry(): DeviceRegistry {
    return this.options.registry;
  }

  clientCounts(): ClientCounts {
    return { ...this.counts };
  }

  /** Device ids with a live connection (devices and bootstrap connections). */
  connectedDevices(): string[] {
    return [...this.deviceClients.keys()];
  }

  private async init(): Promise<void> {
    const { Aedes } = await import('aedes');
    const broker = await Aedes.createBroker({
      // Keep the $SYS heartbeat out of the way; nobody here can subscribe to it.
      heartbeatInterval: 3_600_000,
      drainTimeout: 10_000,
      concurrency: 1000,
      preConnect: (client, packet, cb) => {
        this.connectInfo.set(client, { clientId: packet.clientId ?? '', clean: packet.clean !== false });
        cb(null, true);
      },
      authenticate: (client, username, password, cb) => {
        this.authenticate(client, username, password).then(
          () => cb(null, true),
          (err: AuthError) => {
            this.emit('refused', { clientId: this.connectInfo.get(client)?.clientId, code: err.returnCode, reason: err.message, remoteAddress: remoteAddress(client) });
            cb(err as never, false);
          },
        );
      },
      authorizePublish: (client, packet, cb) => {
        try {
          this.authorizePublish(client, packet);
          cb(null);
        } catch (err) {
          // Never crash the endpoint on a device's input: report and drop.
          this.problem({ code: 50, id: '', text: `internal error: ${(err as Error).message}` }, client ? this.sessions.get(client) : undefined, packet);
          this.drop(packet);
          cb(null);
        }
      },
      authorizeSubscribe: (client, sub, cb) => cb(null, this.authorizeSubscribe(client, sub)),
    });
    this.broker = broker;
    // Device publishes are handled in authorizePublish; aedes then routes the packet, renamed to the service
    // namespace (or `$dropped`). With no service account connected nobody can receive it: skip aedes' routing
    // (packet and state objects, promises, a topic-tree match) for every record. The PUBACK is sent before.
    const route = broker.publish.bind(broker) as (packet: unknown, client: unknown, done?: (err?: Error | null) => void) => void;
    (broker as unknown as { publish: typeof route }).publish = (packet, client, done) => {
      if (typeof client === 'function') {
        done = client as typeof done;
        client = null;
      }
      const topic = (packet as { topic: string }).topic;
      if (topic === DROPPED_TOPIC || (this.counts.service === 0 && topic.startsWith(SERVICE_PREFIX))) return void done?.(null);
      route(packet, client, done);
    };
    broker.on('subscribe', (subs, client) => this.subscribed(subs, client));

    broker.on('clientDisconnect', (client) => this.disconnected(client));
    broker.on('clientError', noop);
    broker.on('connectionError', noop);

    const host = this.options.host || '127.0.0.1';
    const track = (socket: Duplex) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    };
    if (this.options.port !== undefined && this.options.port !== null && this.options.port >= 0) {
      const srv = net.createServer((socket) => {
        track(socket);
        this.guard(broker.handle(socket));
      });
      this.addresses.mqtt = await this.listen(srv, host, this.options.port);
    }
    if (this.options.tls) {
      const srv = tls.createServer({ ...this.options.tls.options, rejectUnauthorized: false }, (socket) => {
        track(socket);
        this.guard(broker.handle(socket));
      });
      srv.on('tlsClientError', noop);
      this.addresses.tls = await this.listen(srv, host, this.options.tls.port);
    }
    if (this.options.ws) {
      const srv = http.createServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
      });
      srv.on('connection', track);
      const wss = new WebSocketServer({
        server: srv,
        path: '/mqtt',
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      });
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', noop);
        this.guard(broker.handle(stream, req));
      });
      wss.on('error', noop);
      this.wss = wss;
      this.addresses.ws = await this.listen(srv, host, this.options.ws.port);
    }
  }

  /**
   * Packets larger than the platform could ever accept are refused before they are read: the parser's
   * remaining-length step (mqtt-packet, which aedes uses) ends the connection as soon as the length is known, so a
   * device cannot make the endpoint buffer megabytes. Below that bound an oversize PUBLISH is read and refused with
   * `41` on `s/e` as the platform does (connection kept). Feature-detected: without the parser hook only the
   * `s/e` refusal applies.
   */
  private guard(client: unknown): void {
    const parser = (client as { _parser?: { _parseLength?: () => boolean; packet?: { length: number }; emit(e: string, err: Error): boolean } })?._parser;
    const parseLength = parser?._parseLength;
    if (!parser || typeof parseLength !== 'function') return;
    const max = this.maxPublish + READ_SLACK_BYTES;
    parser._parseLength = function guardedParseLength(this: typeof parser) {
      const ok = parseLength.call(this);
      if (ok && this!.packet && this!.packet.length > max) {
        this!.emit('error', new Error(`packet of ${this!.packet.length} bytes exceeds ${max} bytes: connection closed`));
        return false;
      }
      return ok;
    };
  }

  private listen(srv: net.Server, host: string, port: number): Promise<number> {
    this.servers.push(srv);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
      srv.once('error', onError);
      srv.listen(port, host, () => {
        srv.off('error', onError);
        srv.on('error', noop);
        resolve((srv.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stop listening, disconnect every client and free the ports; resolves within ~3 s whatever clients do. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const closed = this.servers.map((srv) => new Promise<void>((resolve) => (srv.listening ? srv.close(() => resolve()) : resolve())));
    this.wss?.clients.forEach((ws) => ws.terminate());
    this.wss?.close();
    if (this.broker) {
      await Promise.race([new Promise<void>((resolve) => this.broker.close(() => resolve())), delay(2000)]);
    }
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.race([Promise.all(closed), delay(1000)]);
    this.deviceClients.clear();
    this.registrations.clear();
    this.issued.clear();
    this.acceptors.clear();
    try {
      this.options.inventory.flush();
    } catch {
      // Disk trouble while closing must not keep the port.
    }
    this.emit('closed');
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Authentication

  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<void> {
    const info = this.connectInfo.get(client) ?? { clientId: client.id, clean: client.clean };
    const tenant = this.tenant;
    const remote = remoteAddress(client);
    // The service account is not a device: its ClientId is free.
    const service = this.options.service;
    if (service && username === `${tenant}/${service.username}`) {
      if (!sameSecret(password, service.password)) throw authError(4, 'bad user name or password');
      if (!info.clean) throw authError(2, 'clean session required');
      this.open(client, { role: 'service', deviceId: '', remoteAddress: remote });
      return;
    }
    if (!info.clientId) throw authError(2, 'empty ClientId');
    let parsed;
    try {
      parsed = parseClientId(info.clientId);
    } catch (err) {
      throw authError(2, (err as ClientIdError).message);
    }
    // Decision: a persistent session is refused as an unacceptable identifier (2); Cumulocity requires clean session.
    if (!info.clean) throw authError(2, 'clean session required (Cumulocity does not keep sessions)');
    const bootstrap = this.options.bootstrap;
    if (username !== undefined && username.startsWith(BOOTSTRAP_TENANT + '/')) {
      if (!bootstrap || username !== `${BOOTSTRAP_TENANT}/${bootstrap.username}` || !sameSecret(password, bootstrap.password)) {
        throw authError(4, 'bad user name or password');
      }
      this.open(client, { role: 'bootstrap', deviceId: parsed.deviceId, ...(parsed.xid ? { xid: parsed.xid } : {}), remoteAddress: remote });
      return;
    }
    // A verified client certificate wins over a password (as on the platform, reference §1.1).
    const cert = certificateName(client);
    if (cert !== undefined) {
      // Client certificate: CN must be the device id; username, if any, is the tenant.
      // Username, if any, is the tenant (`<tenant>` or `<tenant>/<user>`: the certificate wins, the password is ignored).
      if (username && username !== tenant && !username.startsWith(`${tenant}/`)) throw authError(5, `certificate authentication for tenant ${username.split('/')[0]}, this endpoint is ${tenant}`);
      if (cert !== parsed.deviceId) throw authError(5, `certificate CN ${JSON.stringify(cert)} is not the device id ${JSON.stringify(parsed.deviceId)}`);
      this.open(client, { role: 'device', deviceId: parsed.deviceId, ...(parsed.xid ? { xid: parsed.xid } : {}), remoteAddress: remote, certificate: true });
      return;
    }
    // As on the platform: 4 for a wrong username/password, 5 (not authorised) when nothing usable was sent.
    if (!username || !password || password.length === 0) throw authError(5, 'no username/password and no client certificate');
    const slash = username.indexOf('/');
    if (slash < 0 || username.slice(0, slash) !== tenant) throw authError(4, 'bad user name or password');
    const entry = await this.options.registry.verify(username.slice(slash + 1), password);
    if (!entry) throw authError(4, 'bad user name or password');
    // Decision: a device user may only connect as its own device.
    if (entry.deviceId !== parsed.deviceId) throw authError(5, `user ${entry.username} may not connect as device ${parsed.deviceId}`);
    if (client.closed) throw authError(3, 'connection closed during authentication');
    this.open(client, { role: 'device', deviceId: parsed.deviceId, ...(parsed.xid ? { xid: parsed.xid } : {}), remoteAddress: remote });
  }

  private open(client: Client, session: Session): void {
    this.sessions.set(client, session);
    this.connectInfo.delete(client);
    // aedes reports 'clientDisconnect' only for registered clients: one that fails between authentication and
    // CONNACK would stay counted (and, as a service account, keep every downstream line mirrored). The socket's
    // close ends the session in every case; `disconnected` runs once.
    (client.conn as Duplex | undefined)?.once?.('close', () => this.disconnected(client));
    if (session.role === 'service') this.counts.service++;
    else {
      // One connection per device id: the new one replaces the old (ClientIds d:x and x are the same device).
      const old = this.deviceClients.get(session.deviceId);
      if (old && old !== client && !old.closed) old.close();
      this.deviceClients.set(session.deviceId, client);
      this.counts[session.role === 'device' ? 'devices' : 'bootstrap']++;
    }
    this.emit('clients', this.clientCounts());
  }

  private disconnected(client: Client): void {
    const s = this.sessions.get(client);
    if (!s) return;
    this.sessions.delete(client);
    if (s.role === 'service') this.counts.service--;
    else {
      if (this.deviceClients.get(s.deviceId) === client) this.deviceClients.delete(s.deviceId);
      this.counts[s.role === 'device' ? 'devices' : 'bootstrap']--;
    }
    if (!this.closing) this.emit('clients', this.clientCounts());
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Subscriptions

  private authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const s = this.sessions.get(client);
    if (!s) return null;
    const reason = s.role === 'service' ? serviceSubscribe(sub.topic) : deviceSubscribe(s.role, sub.topic);
    if (reason) {
      this.emit('refused-subscription', { device: s.deviceId, topic: sub.topic, reason });
      return null; // SUBACK 0x80
    }
    // Deliveries are at most QoS 1 (as the platform); QoS 2 subscriptions are granted QoS 1.
    return { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 };
  }

  private subscribed(subs: Subscription[], client: Client): void {
    const s = this.sessions.get(client);
    if (!s || s.role === 'service') return;
    for (const sub of subs) {
      if ((sub.qos as number) === 128) continue;
      if (s.role === 'bootstrap' && sub.topic === 's/dcr') {
        // Decision: subscribing to s/dcr counts as a poll for a device that has already asked for credentials, so a
        // device whose poller and listener are separate processes still gets its answer.
        const req = this.registrations.get(s.deviceId);
        if (req?.state === 'accepted') void this.issue(client, s);
      } else if (s.role === 'device' && (sub.topic === 's/ds' || sub.topic.startsWith('s/dc/'))) {
        this.redeliver(s.deviceId, sub.topic);
      } else if (s.role === 'device' && sub.topic === 's/dd' && s.xid) {
        this.redeliver(s.deviceId, `s/dc/${s.xid}`, 's/dd');
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Publishing

  private drop(packet: PublishPacket): void {
    packet.topic = DROPPED_TOPIC;
    packet.retain = false;
  }

  private authorizePublish(client: Client | null, packet: PublishPacket): void {
    const s = client ? this.sessions.get(client) : undefined;
    if (!client || !s) {
      this.drop(packet);
      return;
    }
    packet.retain = false; // the platform ignores the retain flag
    if (s.role === 'service') {
      const d = servicePublish(packet.topic);
      if (!d.allow) {
        this.emit('refused-publish', { topic: packet.topic, reason: d.reason });
        this.drop(packet);
        return;
      }
      // Pass through as is; the topic stays in the namespace so other service clients see it.
      this.sendRaw(d.deviceId, d.topic, packet.payload as Buffer, packet.qos);
      return;
    }
    const topic = packet.topic;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : (packet.payload as Buffer);
    if (payload.length > maxPayloadBytes(topic, packet.qos, this.maxPublish)) {
      this.refuse(s, 41, '', `message of ${payload.length} bytes on ${topic} exceeds the limit of ${this.maxPublish} bytes per MQTT message`, topic);
      this.drop(packet);
      return;
    }
    const d = devicePublish(s.role === 'bootstrap' ? 'bootstrap' : 'device', topic);
    if (!d.allow) {
      this.refuse(s, 41, '', d.reason, topic, payload);
      this.drop(packet);
      return;
    }
    this.handle(client, s, d.info, topic, payload);
    // Routed on only when a service account can see it (broker.publish above skips the rest).
    packet.topic = this.counts.service > 0 ? serviceTopic(s.deviceId, topic) : DROPPED_TOPIC;
  }

  private handle(client: Client, s: Session, info: TopicInfo, topic: string, payload: Buffer): void {
    switch (info.kind) {
      case 'credentials':
        if (s.role === 'bootstrap') this.poll(client, s);
        return;
      case 'token':
        this.refuse(s, 41, '', s.certificate ? 'MqttAuth: this endpoint does not issue device access tokens' : 'MqttAuth: Cannot publish token for device that do not use certificate authentication', topic);
        return;
      case 'template':
        this.template(s, info.xid!, payload.toString('utf8'), topic);
        return;
      case 'static':
      case 'custom':
      case 'default':
        this.records(s, info, topic, payload.toString('utf8'));
        return;
      default:
        return;
    }
  }

  private records(s: Session, info: TopicInfo, topic: string, text: string): void {
    const deviceId = s.deviceId;
    const child = info.child;
    const target = child ?? deviceId;
    const inventory = this.options.inventory;

    let lookup: TemplateLookup | undefined;
    if (info.kind !== 'static') {
      const xid = info.kind === 'default' ? s.xid : info.xid;
      if (!xid) {
        this.refuse(s, 41, '', `${topic} needs a default template collection: connect with ClientId d:<deviceId>:<X-ID>`, topic, text);
        return;
      }
      const coll = inventory.collection(xid);
      if (!coll) {
        this.refuse(s, 41, '', `Template collection ${xid} not found`, topic, text);
        return;
      }
      lookup = this.lookups.get(coll.parsed);
      if (!lookup) {
        lookup = collectionLookups(coll.parsed).request;
        this.lookups.set(coll.parsed, lookup);
      }
    }

    const { records, errors } = parseDetailed(text);
    for (const issue of errors) this.refuse(s, 45, '', `malformed SmartREST: ${describeIssue(issue)}`, topic, issue.text);
    const answer = emptyAnswer();
    const ctx = { deviceId, target, inventory, operations: this.operations, platformVersion: this.platformVersion };
    const mode = info.mode;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      const id = r[0];
      const custom = lookup?.(id);
      const spec = custom ?? findTemplate(id);
      if (!spec || spec.direction !== 'up') {
        this.refuse(s, 40, id, lookup ? 'No template for this message id' : 'No static template for this message id', topic, serializeRecord(r));
        continue;
      }
      let rec: DecodedRecord;
      try {
        rec = describeRecord(r, { strict: true, lookup, preferLookup: custom !== undefined, index: i + 1 });
      } catch (err) {
        if (!(err instanceof SmartRestRecordError)) throw err;
        this.refuse(s, 45, id, err.field ? `${err.field}: ${err.reason}` : err.reason, topic, serializeRecord(r));
        continue;
      }
      if (child !== undefined) rec.device = child;
      const before = answer.changed.length;
      const errorsBefore = answer.errors.length;
      if (!custom) answerRecord(ctx, rec, answer);
      for (let k = errorsBefore; k < answer.errors.length; k++) {
        const e = answer.errors[k];
        this.refuse(s, e.code, e.id, e.text, topic, serializeRecord(r));
      }
      const event: EndpointRecord = { record: rec, kind: kindOf(spec.category, custom !== undefined), device: deviceId, mode, tenant: this.tenant, topic };
      if (child !== undefined) event.child = child;
      if (answer.changed.length > before) event.operations = answer.changed.slice(before);
      this.emit('record', event);
    }
    // Data for an unknown device or child creates it, as on the platform (after the records, so that a `100` in
    // the same payload names it).
    try {
      if (child !== undefined) {
        if (!inventory.get(child)) inventory.ensureChild(deviceId, child);
      } else if (!inventory.get(deviceId)) inventory.ensureDevice(deviceId);
    } catch (err) {
      if (!(err instanceof InventoryLimitError)) throw err;
      this.refuse(s, 41, '', err.message, topic);
    }
    for (const op of answer.changed) this.emit('operation', op);
    if (answer.replies.length) this.sendLines(deviceId, 's/ds', answer.replies);
    if (answer.redeliver) this.redeliver(deviceId);
  }

  private template(s: Session, xid: string, text: string, topic: string): void {
    const inventory = this.options.inventory;
    if (text.trim() === '') {
      // Empty publish: does the collection exist?
      const c = inventory.collection(xid);
      this.send(s.deviceId, 's/dt', c ? serializeRecord(['20', xid, c.id]) : serializeRecord(['41', xid]));
      return;
    }
    if (inventory.collection(xid)) {
      this.refuse(s, 41, '', `Template collection ${xid} already exists and cannot be modified over MQTT`, topic);
      return;
    }
    try {
      const c = inventory.addCollection(xid, text)!;
      this.send(s.deviceId, 's/dt', serializeRecord(['20', xid, c.id]));
      this.emit('template', { device: s.deviceId, xid, collection: c.parsed });
    } catch (err) {
      this.refuse(s, 41, '', `Template creation error: ${(err as Error).message}`, topic, text);
    }
  }

  /** Report a refused or invalid input: `s/e` line to the device (if it subscribed) and a 'problem' event. */
  private refuse(s: Session, code: number, id: string, text: string, topic?: string, payload?: string | Buffer): void {
    this.problem({ code, id, text }, s, undefined, topic, payload);
  }

  private problem(p: { code: number; id: string; text: string }, s: Session | undefined, packet?: PublishPacket, topic?: string, payload?: string | Buffer): void {
    // The s/e text is not CSV-escaped by the platform; keep it on one line.
    const line = `${p.code},${p.id},${p.text.replace(/[\r\n]+/g, ' ')}`;
    if (s && s.role !== 'service') this.send(s.deviceId, 's/e', line);
    const event: EndpointProblem = { ...p, line };
    if (s?.deviceId) event.device = s.deviceId;
    const t = topic ?? packet?.topic;
    if (t !== undefined) event.topic = t;
    const pl = payload ?? (packet?.payload as Buffer | undefined);
    if (pl !== undefined) event.payload = typeof pl === 'string' ? pl : pl.toString('utf8').slice(0, 1000);
    this.emit('problem', event);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Downstream

  /** Send a payload to a device's connection on `topic`, if connected and subscribed. True when written. */
  send(deviceId: string, topic: string, payload: string | Buffer, qos = 1): boolean {
    const ok = this.sendRaw(deviceId, topic, payload, qos);
    if (ok && this.counts.service > 0) {
      this.broker.publish({ cmd: 'publish', topic: serviceTopic(deviceId, topic), payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, noop);
    }
    return ok;
  }

  private sendRaw(deviceId: string, topic: string, payload: string | Buffer, qos: number): boolean {
    const client = this.deviceClients.get(deviceId);
    if (!client || client.closed || !client.connected) return false;
    const sub = (client as unknown as { subscriptions: Record<string, { qos: number } | undefined> }).subscriptions[topic];
    if (!sub) return false;
    const packet = { cmd: 'publish', topic, payload: Buffer.from(payload), qos: Math.min(qos, sub.qos) as 0 | 1, retain: false, dup: false } as PublishPacket;
    client.publish(packet, noop);
    return true;
  }

  /** Lines joined into as few payloads as fit the size limit. */
  private sendLines(deviceId: string, topic: string, lines: string[], deliverAs = topic): boolean {
    const max = maxPayloadBytes(deliverAs, 1, this.maxPublish);
    let chunk = '';
    let sent = true;
    for (const line of lines) {
      if (chunk && Buffer.byteLength(chunk) + 1 + Buffer.byteLength(line) > max) {
        sent = this.send(deviceId, deliverAs, chunk) && sent;
        chunk = '';
      }
      chunk = chunk ? chunk + '\n' + line : line;
    }
    if (chunk) sent = this.send(deviceId, deliverAs, chunk) && sent;
    return sent;
  }

  /** Re-deliver PENDING operations (all, or those of one topic). */
  private redeliver(deviceId: string, topic?: string, deliverAs?: string): void {
    const pending = this.operations.pending(deviceId).filter((o) => topic === undefined || o.topic === topic);
    const byTopic = new Map<string, string[]>();
    for (const o of pending) {
      let lines = byTopic.get(o.topic);
      if (!lines) byTopic.set(o.topic, (lines = []));
      lines.push(o.line);
    }
    for (const [t, lines] of byTopic) {
      if (deliverAs) this.sendLines(deviceId, t, lines, deliverAs);
      else {
        this.sendLines(deviceId, t, lines);
        // Operations for the default collection also reach a device that subscribed to s/dd.
        const s = this.deviceClients.get(deviceId);
        const session = s && this.sessions.get(s);
        if (session?.xid && t === `s/dc/${session.xid}`) this.sendLines(deviceId, t, lines, 's/dd');
      }
    }
  }

  /**
   * Create operations for a device (or its child) and deliver them at once when the device is connected and
   * subscribed; otherwise they wait (PENDING) for its next subscription or `500`.
   */
  sendOperation(request: { device: string; child?: string; payload: unknown; xid?: string; fragment?: string }): Operation[] {
    const bad = checkDeviceId(request.device);
    if (bad) throw new Error(`msg.device: ${bad}`);
    if (request.child !== undefined && (typeof request.child !== 'string' || request.child === '' || /[+#\u0000]/.test(request.child))) {
      throw new Error('msg.child must be a non-empty string without MQTT wildcards');
    }
    if (request.xid !== undefined && (typeof request.xid !== 'string' || !request.xid || /[/+#\u0000]/.test(request.xid))) {
      throw new Error('msg.xid must be a template collection id without "/", "+", "#"');
    }
    const target = request.child ?? request.device;
    const topic = request.xid ? `s/dc/${request.xid}` : 's/ds';
    const collection = request.xid ? this.options.inventory.collection(request.xid)?.parsed : undefined;
    const encoded = encodeOperations(request.payload, target, { xid: request.xid, fragment: request.fragment, collection });
    const ops = encoded.map((e) =>
      this.operations.create({ deviceId: request.device, target, fragment: e.fragment, messageId: e.messageId, topic, line: e.line }),
    );
    for (const op of ops) this.emit('operation', { ...op });
    this.sendLines(request.device, topic, ops.map((o) => o.line));
    return ops.map((o) => ({ ...o }));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Registration

  /** Registration nodes add a predicate; a new request any predicate accepts is accepted at once. */
  addAcceptor(fn: (req: RegistrationRequest) => boolean): () => void {
    this.acceptors.add(fn);
    return () => this.acceptors.delete(fn);
  }

  registrationRequests(): RegistrationRequest[] {
    return [...this.registrations.values()].map((r) => ({ ...r }));
  }

  /** Accept a device's registration (also before it first polls). */
  accept(deviceId: string): RegistrationRequest {
    const bad = checkDeviceId(deviceId);
    if (bad) throw new Error(bad);
    let req = this.registrations.get(deviceId);
    if (!req) req = this.addRequest({ deviceId, state: 'accepted', polls: 0 });
    req.state = 'accepted';
    return { ...req };
  }

  reject(deviceId: string): RegistrationRequest {
    const bad = checkDeviceId(deviceId);
    if (bad) throw new Error(bad);
    let req = this.registrations.get(deviceId);
    if (!req) req = this.addRequest({ deviceId, state: 'rejected', polls: 0 });
    req.state = 'rejected';
    return { ...req };
  }

  private addRequest(req: RegistrationRequest): RegistrationRequest {
    if (this.registrations.size >= MAX_REGISTRATIONS) {
      const oldest = this.registrations.keys().next().value;
      if (oldest !== undefined) this.registrations.delete(oldest);
    }
    this.registrations.set(req.deviceId, req);
    return req;
  }

  private poll(client: Client, s: Session): void {
    const at = this.issued.get(s.deviceId);
    if (at !== undefined) {
      if (Date.now() - at < ISSUED_GRACE_MS) return;
      this.issued.delete(s.deviceId);
    }
    const now = new Date().toISOString();
    let req = this.registrations.get(s.deviceId);
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
        this.emit('registration', { ...req });
      }
    }
    req.polls++;
    req.lastSeen = now;
    if (req.state === 'accepted') void this.issue(client, s);
  }

  /** Issue credentials and answer `70` on `s/dcr`; only when the connection listens on s/dcr. */
  private async issue(client: Client, s: Session): Promise<void> {
    const subs = (client as unknown as { subscriptions: Record<string, unknown> }).subscriptions;
    if (!subs['s/dcr'] || this.issuing.has(s.deviceId)) return;
    this.issuing.add(s.deviceId);
    try {
      const { username, password } = await this.options.registry.issue(s.deviceId);
      if (this.closing) return;
      this.registrations.delete(s.deviceId);
      if (this.issued.size >= MAX_REGISTRATIONS) this.issued.clear();
      this.issued.set(s.deviceId, Date.now());
      // Not mirrored to the service account (sendRaw): the password is for the device alone.
      this.sendRaw(s.deviceId, 's/dcr', serializeRecord(['70', this.tenant, username, password]), 1);
      this.emit('registered', { deviceId: s.deviceId, username, tenant: this.tenant });
    } catch (err) {
      this.problem({ code: 50, id: '', text: `cannot store the credentials of ${s.deviceId}: ${(err as Error).message}` }, s);
    } finally {
      this.issuing.delete(s.deviceId);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function remoteAddress(client: Client): string | undefined {
  const req = (client as { req?: http.IncomingMessage }).req;
  if (req?.socket?.remoteAddress) return req.socket.remoteAddress;
  return (client.conn as net.Socket | undefined)?.remoteAddress;
}

/** CN of a verified TLS client certificate, if any. */
function certificateName(client: Client): string | undefined {
  const conn = client.conn as tls.TLSSocket;
  if (!(conn instanceof tls.TLSSocket) || !conn.authorized) return undefined;
  const cn = conn.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' ? cn : Array.isArray(cn) ? cn[0] : undefined;
}

export type { AedesPublishPacket };
