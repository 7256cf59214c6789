/**
 * The Cumulocity-compatible MQTT endpoint: an aedes broker behind plain TCP, optional TLS and optional MQTT over
 * WebSocket (`/mqtt`), with Cumulocity's authentication, topic rules and answers. No Node-RED import: the
 * `c8y-endpoint` config node owns one instance and turns its events into flow messages.
 *
 * This file only wires the parts: `listeners.ts` (sockets, close), `auth.ts` (CONNECT → session or refusal),
 * `sessions.ts` (who is connected as what), `routing.ts` (ACL, publish/subscribe), `delivery.ts` (downstream
 * lines, `500`), `registration.ts` (bootstrap), `aedes-internals.ts` (every touch of aedes' private API).
 *
 * Durable state (open operations, id sequence) goes through `store.ts` (`options.store`, in memory by default);
 * availability (`availability.ts`) is fed from connections and records here, with one sweep timer.
 *
 * Events for the flow are emitted as 'record', 'problem', 'registration', 'registered', 'operation', 'clients',
 * 'availability', 'store-error' (never 'error', so nothing can throw from an unhandled event).
 */
import { EventEmitter } from 'node:events';
import type * as tls from 'node:tls';
import type { Aedes, AedesPublishPacket, Client } from 'aedes' with { 'resolution-mode': 'import' };
import { MAX_PUBLISH_BYTES } from '../smartrest/limits';
import { SERVICE_PREFIX } from './acl';
import { certificateName, clientStream, endedBy, isWill, limitPacketLength, remoteAddress, renameClient, skipRouting } from './aedes-internals';
import { authenticate, AuthRefusal, BOOTSTRAP_TENANT, LoginBrake, type BrakePolicy, type BrakeStats, type Session } from './auth';
import { AvailabilityTracker, type AvailabilityChange } from './availability';
import { DEFAULT_DELIVERY_LIMITS, Delivery, type DeliveryLimits, type OperationRequest } from './delivery';
import { InventoryLimitError, type Inventory } from './inventory';
import { Listeners, type EndpointAddresses } from './listeners';
import { OperationStore, type Operation } from './operations';
import { Registration, type RegistrationRequest } from './registration';
import type { DeviceRegistry } from './registry';
import { DROPPED_TOPIC, Router, type EndpointRecord } from './routing';
import { issueDeviceToken, verifyDeviceToken, type DeviceToken } from './token';
import { Sessions, type ClientCounts } from './sessions';
import { MemoryStore, type EndpointStore } from './store';

export type { BrakePolicy, BrakeStats } from './auth';
export type { DeliveryLimits, EndpointProblem } from './delivery';
export type { EndpointAddresses } from './listeners';
export type { RegistrationRefusal, RegistrationRequest } from './registration';
export type { EndpointRecord, RecordKind } from './routing';
export type { ClientCounts } from './sessions';
export type { AvailabilityChange } from './availability';

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
  /** Where open operations and the id sequence are kept (default: in memory, lost on close). */
  store?: EndpointStore;
  /** How often required intervals (`117`) are checked (ms, default 10 s): one timer for every device. */
  availabilitySweepMs?: number;
  /** Login brake (see auth.ts); `false` turns it off. */
  brake?: Partial<BrakePolicy> | false;
  /** Per-connection delivery bounds (see delivery.ts). */
  limits?: Partial<DeliveryLimits>;
  /** A connection that sends no complete CONNECT within this time is closed (default 10 s). */
  connectTimeoutMs?: number;
  /** Secret that signs the device tokens of `s/uat` (token.ts); without one `s/uat` is refused. */
  tokenSecret?: string;
  /** Lifetime of those tokens in seconds (default 3600). */
  tokenLifetimeS?: number;
}

/** What a refused CONNECT reports (never the password). */
export interface LoginRefusal {
  clientId?: string;
  username?: string;
  code: number;
  reason: string;
  remoteAddress?: string;
  /** Refused by the login brake without a password check. */
  braked: boolean;
}

interface ConnectInfo {
  clientId: string;
  clean: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const PKG = require('../../package.json') as { name: string; version: string };

/**
 * How far beyond the publish limit a packet is still read (and then refused on `s/e`, connection kept); anything
 * longer ends the connection before it is buffered.
 */
const READ_SLACK_BYTES = 64 * 1024;

function noop(): void {}

export class EndpointServer extends EventEmitter {
  readonly tenant: string;
  readonly operations = new OperationStore();
  /** Connections and required intervals of the devices; its clock is replaceable (tests). */
  readonly availability = new AvailabilityTracker((c) => this.availabilityChanged(c));
  private readonly store: EndpointStore;
  /** Operations dropped when they were restored, reported by `announceDropped` once the nodes listen. */
  private dropped: Operation[] = [];
  /** Clients whose last will was published (for the reason of their DISCONNECTED). */
  private readonly willSent = new WeakSet<Client>();
  private broker!: Aedes;
  private readonly network = new Listeners();
  private readonly sessions = new Sessions();
  private readonly connectInfo = new WeakMap<Client, ConnectInfo>();
  private readonly delivery: Delivery;
  private readonly registration: Registration;
  private readonly router: Router;
  private closing: Promise<void> | undefined;
  private readonly maxPublish: number;
  private readonly brake: LoginBrake | undefined;
  private refusals = 0;

  private constructor(private readonly options: EndpointOptions) {
    super();
    this.setMaxListeners(0);
    this.tenant = options.tenant;
    this.maxPublish = options.maxPublishBytes ?? MAX_PUBLISH_BYTES;
    this.brake = options.brake === false ? undefined : new LoginBrake(options.brake ?? {});
    this.store = options.store ?? new MemoryStore();
    this.operations.onStoreError = (err) => void this.emit('store-error', err);
    const emit = (event: string, payload: unknown) => {
      if (event === 'record') this.heard(payload as EndpointRecord);
      this.emit(event, payload);
    };
    this.delivery = new Delivery({
      sessions: this.sessions,
      operations: this.operations,
      inventory: options.inventory,
      maxPublish: this.maxPublish,
      limits: { ...DEFAULT_DELIVERY_LIMITS, ...options.limits },
      emit,
    });
    this.registration = new Registration({
      tenant: this.tenant,
      registry: options.registry,
      // Not mirrored to the service account (writeTo): the password is for the device alone.
      sendCredentials: (client, line) => void this.delivery.writeTo(client, 's/dcr', line, 1),
      problem: (p, s, client) => this.delivery.problem(p, s, client),
      tell: (p, s, client) => void this.delivery.tell(p, s, client),
      isClosing: () => this.closing !== undefined,
      emit,
    });
    this.router = new Router({
      tenant: this.tenant,
      platformVersion: options.platformVersion ?? `${PKG.name} ${PKG.version}`,
      maxPublish: this.maxPublish,
      sessions: this.sessions,
      delivery: this.delivery,
      registration: this.registration,
      inventory: options.inventory,
      operations: this.operations,
      isRegistered: (id) => options.registry.has(id),
      issueToken: options.tokenSecret ? (device) => issueDeviceToken(options.tokenSecret!, device, this.tenant, options.tokenLifetimeS) : undefined,
      emit,
    });
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

  /** The device a token of this endpoint (`s/uat`) names; throws a TokenError when it is not valid. */
  verifyToken(token: unknown): DeviceToken {
    return verifyDeviceToken(token, this.options.tokenSecret ?? '');
  }

  get addresses(): EndpointAddresses {
    return this.network.addresses;
  }

  get inventory(): Inventory {
    return this.options.inventory;
  }

  get registry(): DeviceRegistry {
    return this.options.registry;
  }

  clientCounts(): ClientCounts {
    return this.sessions.clientCounts();
  }

  /** Device ids with a live connection (devices and bootstrap connections). */
  connectedDevices(): string[] {
    return this.sessions.connectedDevices();
  }

  /** Refused CONNECTs since the start, and what the login brake did. */
  loginStats(): { refused: number } & BrakeStats {
    return { refused: this.refusals, ...(this.brake?.stats ?? { locked: 0, delayed: 0, failed: 0 }) };
  }

  /**
   * Report (as 'operation' events, FAILED with the reason) the operations dropped when the store was loaded: those of
   * removed devices and those beyond the bounds. Called by the endpoint node once its nodes listen.
   */
  announceDropped(): Operation[] {
    const dropped = this.dropped.splice(0);
    for (const op of dropped) this.emit('operation', op);
    return dropped;
  }

  /** Devices with a live connection, and monitored devices whose required interval passed. */
  onlineCounts(): { online: number; unavailable: number } {
    return { online: this.availability.connectedCount, unavailable: this.availability.unavailable };
  }

  private async restore(): Promise<void> {
    const { registry, inventory, tls } = this.options;
    // A device is removed when it has no credentials any more (registry file or the node's Devices); devices that
    // log in with a client certificate have none, so with client certificates the inventory counts too.
    const certificates = Boolean(tls?.options.requestCert);
    this.dropped = await this.operations.restore(this.store, (id) => registry.has(id) || (certificates && inventory.get(id) !== undefined));
    for (const mo of inventory.list()) {
      const minutes = mo.c8y_RequiredAvailability?.responseInterval;
      if (typeof minutes === 'number' && minutes > 0) this.availability.requiredInterval(mo.externalId, minutes, true);
    }
    this.availability.start(this.options.availabilitySweepMs ?? 10_000);
  }

  private async init(): Promise<void> {
    await this.restore();
    const { Aedes } = await import('aedes');
    const broker = await Aedes.createBroker({
      // Keep the $SYS heartbeat out of the way; nobody here can subscribe to it.
      heartbeatInterval: 3_600_000,
      // aedes' own check, for a connection whose socket stays full (QoS 0 deliveries); delivery.ts watches QoS 1.
      drainTimeout: { ...DEFAULT_DELIVERY_LIMITS, ...this.options.limits }.drainTimeoutMs,
      concurrency: 1000,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      preConnect: (client, packet, cb) => {
        this.connectInfo.set(client, { clientId: packet.clientId ?? '', clean: packet.clean !== false });
        cb(null, true);
      },
      authenticate: (client, username, password, cb) => {
        this.authenticate(client, username, password).then(
          () => cb(null, true),
          (err: AuthRefusal) => {
            this.refusals++;
            const refusal: LoginRefusal = { clientId: this.connectInfo.get(client)?.clientId, code: err.returnCode, reason: err.message, braked: err.braked === true };
            if (username !== undefined) refusal.username = username.slice(0, 256);
            const remote = remoteAddress(client);
            if (remote !== undefined) refusal.remoteAddress = remote;
            this.emit('refused', refusal);
            cb(err as never, false);
          },
        );
      },
      authorizePublish: (client, packet, cb) => {
        if (client && isWill(client, packet)) this.willSent.add(client);
        try {
          this.router.authorizePublish(client, packet);
          cb(null);
        } catch (err) {
          // Never crash the endpoint on a device's input: report and drop.
          this.delivery.problem({ code: 50, id: '', text: `internal error: ${(err as Error).message}` }, client ? this.sessions.get(client) : undefined, client ?? undefined, packet);
          this.router.drop(packet);
          cb(null);
        }
      },
      authorizeSubscribe: (client, sub, cb) => cb(null, this.router.authorizeSubscribe(client, sub)),
    });
    this.broker = broker;
    this.delivery.attach(broker);
    // Device publishes are handled in authorizePublish; aedes then routes the packet, renamed to the service
    // namespace (or `$dropped`). With no service account connected nobody can receive it.
    skipRouting(broker, (topic) => topic === DROPPED_TOPIC || (!this.sessions.serviceConnected && topic.startsWith(SERVICE_PREFIX)));
    broker.on('subscribe', (subs, client) => this.router.subscribed(subs, client));
    broker.on('clientDisconnect', (client) => this.disconnected(client));
    broker.on('clientError', noop);
    broker.on('connectionError', noop);

    // Packets larger than the platform could ever accept are refused before they are read; below that bound an
    // oversize PUBLISH is read and refused with `41` on `s/e` as the platform does (connection kept).
    const maxRead = this.maxPublish + READ_SLACK_BYTES;
    await this.network.start(this.options, (stream, req) => limitPacketLength(broker.handle(stream, req), maxRead));
  }

  /** Stop listening, disconnect every client and free the ports; resolves within ~3 s whatever clients do. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.availability.stop();
    await this.network.close(() => (this.broker ? new Promise<void>((resolve) => this.broker.close(() => resolve())) : Promise.resolve()));
    this.sessions.clear();
    this.registration.clear();
    this.delivery.close();
    this.brake?.close();
    try {
      this.options.inventory.flush();
    } catch {
      // Disk trouble while closing must not keep the port.
    }
    await this.store.flush().catch((err: Error) => void this.emit('store-error', err));
    this.emit('closed');
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Connections

  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<void> {
    const info = this.connectInfo.get(client) ?? { clientId: client.id, clean: client.clean };
    const certificate = certificateName(client);
    const remote = remoteAddress(client);
    const session = await authenticate(
      {
        clientId: info.clientId,
        clean: info.clean,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(certificate !== undefined ? { certificate } : {}),
        ...(remote !== undefined ? { remoteAddress: remote } : {}),
      },
      {
        tenant: this.tenant,
        service: this.options.service,
        bootstrap: this.options.bootstrap,
        verify: (u, p) => this.options.registry.verify(u, p),
        burn: (p) => this.options.registry.burn(p),
        ...(this.brake ? { brake: this.brake } : {}),
      },
    );
    if (client.closed) throw new AuthRefusal(3, 'connection closed during authentication');
    // Bootstrap sessions live in their own namespace, also in aedes' client table (see renameClient).
    if (session.role === 'bootstrap') renameClient(client, `${BOOTSTRAP_TENANT}/${info.clientId}`);
    this.open(client, session);
  }

  private open(client: Client, session: Session): void {
    this.connectInfo.delete(client);
    // aedes reports 'clientDisconnect' only for registered clients: one that fails between authentication and
    // CONNACK would stay counted (and, as a service account, keep every downstream line mirrored). The socket's
    // close ends the session in every case; `disconnected` runs once.
    clientStream(client)?.once?.('close', () => this.disconnected(client));
    const replaced = this.sessions.open(client, session);
    replaced?.close();
    if (session.role === 'device') this.availability.connected(session.deviceId);
    this.emit('clients', this.clientCounts());
  }

  private disconnected(client: Client): void {
    const s = this.sessions.get(client);
    if (!this.sessions.close(client)) return;
    // A connection replaced by a newer one of the same device does not make the device DISCONNECTED.
    if (s?.role === 'device' && !this.sessions.client(s.deviceId)) this.availability.disconnected(s.deviceId, endedBy(client, this.willSent.has(client)));
    if (!this.closing) this.emit('clients', this.clientCounts());
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Availability

  /** A valid record of a device or child: a message for its required interval; `117` sets the interval. */
  private heard(e: EndpointRecord): void {
    const target = e.child ?? e.device;
    if (e.record.messageId === 117) {
      const minutes = Number(e.record.values?.interval);
      const inventory = this.options.inventory;
      try {
        // Created here as routing would create it after the records (the interval must have a place to live).
        if (e.child !== undefined) inventory.ensureChild(e.device, e.child);
        else inventory.ensureDevice(e.device);
        inventory.setFragments(target, { c8y_RequiredAvailability: { responseInterval: Number.isFinite(minutes) ? minutes : 0 } });
        // Only devices the inventory holds are tracked, so its bounds bound the tracker too.
        this.availability.requiredInterval(target, minutes);
      } catch (err) {
        // Inventory bound reached: routing refuses the publish with 41 and the interval is not tracked.
        if (!(err instanceof InventoryLimitError)) throw err;
      }
    }
    this.availability.message(target);
  }

  private availabilityChanged(c: AvailabilityChange): void {
    const inventory = this.options.inventory;
    if (c.state === 'AVAILABLE' || c.state === 'UNAVAILABLE') {
      inventory.setFragments(c.device, { c8y_Availability: { status: c.state, lastMessage: this.availability.lastMessage(c.device) ?? c.time } });
    }
    else inventory.setFragments(c.device, { c8y_Connection: { status: c.state } });
    this.emit('availability', c);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Downstream and registration (for the nodes)

  /** Send a payload to a device's connection on `topic`, if connected and subscribed. True when written. */
  send(deviceId: string, topic: string, payload: string | Buffer, qos = 1): boolean {
    return this.delivery.send(deviceId, topic, payload, qos);
  }

  /**
   * Create operations for a device (or its child) and deliver them at once when the device is connected and
   * subscribed; otherwise they wait (PENDING) for its next subscription or `500`.
   */
  sendOperation(request: OperationRequest): Operation[] {
    return this.delivery.sendOperation(request);
  }

  /** Registration nodes add a predicate; a new request any predicate accepts is accepted at once. */
  addAcceptor(fn: (req: RegistrationRequest) => boolean): () => void {
    return this.registration.addAcceptor(fn);
  }

  registrationRequests(): RegistrationRequest[] {
    return this.registration.list();
  }

  /** Accept a device's registration (also before it first polls). */
  accept(deviceId: string): RegistrationRequest {
    return this.registration.accept(deviceId);
  }

  reject(deviceId: string): RegistrationRequest {
    return this.registration.reject(deviceId);
  }

  /** Allow one re-registration of a registered device (its credentials are replaced when new ones are issued). */
  reset(deviceId: string): { deviceId: string; registered: boolean } {
    return this.registration.reset(deviceId);
  }
}

export type { AedesPublishPacket };
