/**
 * One MQTT client owned by one config node and shared by the nodes that use it (the model is Node-RED core's
 * `10-mqtt.js`), without any Node-RED import so it can be tested on its own:
 * - users register/deregister and get every status change (fan-out), the current one on registration;
 * - our own reconnect loop (exponential backoff with jitter) instead of MQTT.js's fixed period, so that a
 *   refused CONNACK can be retried or stopped on purpose (MQTT.js stops after a refusal by default);
 * - subscriptions are kept here and replayed on every connect, one message listener dispatches them;
 * - publishes while offline wait in a bounded queue (overflow rejects at once, never silently), and a
 *   publish resolves only when the broker acknowledged it (QoS 1/2) or it was written (QoS 0); messages that
 *   were in flight when the connection dropped are sent again first after the reconnect (at least once);
 * - after a (re)connect the startup hook runs, then subscriptions are confirmed, then the queue drains;
 * - close ends the client in any state, with a forced end after a short grace, and clears every timer.
 * A fresh MQTT.js client is made for every connection attempt, and the old one's listeners are removed, so
 * nothing accumulates across reconnects or redeploys.
 */
import { EventEmitter } from 'node:events';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import mqtt from 'mqtt';
import type { IClientOptions, IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
import { effectiveFilter, topicMatches } from './topic-match';

export interface StatusLike {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

/** A node that uses the connection (only what the connection needs of it). */
export interface ConnectionUser {
  id: string;
  status(status: StatusLike): void;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** Share of the delay that is random (0–1): the delay lies in [d·(1−jitter), d]. */
  jitter?: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 60000, factor: 2, jitter: 0.5 };

/** Delay before reconnect attempt `attempt` (0-based). */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const d = Math.min(options.maxMs, options.initialMs * Math.pow(factor, Math.min(attempt, 30)));
  return Math.round(d * (1 - jitter) + d * jitter * random());
}

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'refused' | 'closed';

export interface ConnectionOptions {
  /** `mqtt://host:1883`, `mqtts://host:8883`, `ws://host/mqtt`, `wss://host:443/mqtt`. */
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  clean?: boolean;
  keepalive?: number;
  protocolVersion?: 3 | 4 | 5;
  tls?: TlsOptions;
  will?: { topic: string; payload: string | Buffer; qos?: 0 | 1 | 2; retain?: boolean };
  connectTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** After a refused CONNACK (3.1.1 return code or 5 reason code): retry with backoff (true) or stop until restart() (false). */
  retryRefused?: (code: number) => boolean;
  /** Text for a refusal code (status and log). */
  describeRefusal?: (code: number) => string;
  /**
   * After a refusal that is not retried: fail every queued publish at once and every new one until `restart()`
   * (`ConnectionRefusedError`), instead of keeping them for a restart that may never come. Off by default (a
   * device that re-registers and restarts wants its queue kept).
   */
  failWhenRefused?: boolean;
  /** Bound of the offline queue. */
  queueLimit?: { messages: number; bytes: number };
  /** Runs after every connect, before subscriptions are replayed and the queue drains (a startup phase). */
  onConnected?: (connection: MqttConnection) => Promise<void> | void;
  /** Extra MQTT.js options (e.g. MQTT 5 properties). */
  extra?: Partial<IClientOptions>;
  /**
   * Manual acknowledgement of incoming QoS 1 messages: handlers subscribed with `{ manualAck: true }` get an
   * `ack` function as 4th argument and the PUBACK goes out only when every such handler called it (e.g. a bridge
   * acknowledges the source only after the target acknowledged). Handlers without the flag count as acknowledged
   * when they return. See `deferAck` for how this is done with MQTT.js.
   */
  manualAcks?: boolean;
  /** Disable Nagle's algorithm on the TCP socket (small deferred acknowledgements go out at once). */
  noDelay?: boolean;
  /**
   * Batch the packets written in one turn of the event loop into one socket write (cork until `setImmediate`):
   * a bridge forwarding the messages of one incoming chunk then makes one syscall instead of one per message.
   */
  batchWrites?: boolean;
}

/** Acknowledges an incoming QoS 1 message (manual acknowledgement); calling it more than once does nothing. */
export type Ack = () => void;
export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket, ack?: Ack) => void;

/** Per-subscription options: manual acknowledgement and MQTT 5 subscription options. */
export interface SubscribeOptions {
  manualAck?: boolean;
  /** MQTT 5 No-Local: the broker does not send this client's own publishes back. */
  nl?: boolean;
  /** MQTT 5 Retain As Published. */
  rap?: boolean;
  /** MQTT 5 Retain Handling: 0 send retained on subscribe, 1 only for a new subscription, 2 never. */
  rh?: 0 | 1 | 2;
}

export interface PublishOptions {
  qos?: 0 | 1 | 2;
  retain?: boolean;
  properties?: IClientPublishOptions['properties'];
  /** Who published (a node id), so that `cancel(owner)` can take its waiting messages back. */
  owner?: string;
}

export class QueueFullError extends Error {
  constructor(limit: { messages: number; bytes: number }) {
    super(`offline queue full (${limit.messages} messages / ${limit.bytes} bytes): message dropped`);
    this.name = 'QueueFullError';
  }
}

export class ConnectionRefusedError extends Error {
  constructor(reason: string) {
    super(`not sent: ${reason} (not retried until the connection is restarted)`);
    this.name = 'ConnectionRefusedError';
  }
}

export class ConnectionClosedError extends Error {
  constructor() {
    super('the connection was closed before the message could be sent');
    this.name = 'ConnectionClosedError';
  }
}

/** Completion of a callback-style publish: `ctx` is what the caller passed (no closure per message needed). */
export type PublishDone<C> = (ctx: C, err?: Error) => void;

interface Pending {
  topic: string;
  payload: string | Buffer;
  options: PublishOptions;
  bytes: number;
  done: PublishDone<any>;
  ctx: unknown;
  /** Client the message was handed to; acks from other (old) clients are ignored. */
  sentOn?: MqttClient;
}

interface Subscription {
  filter: string;
  match: string;
  qos: 0 | 1 | 2;
  handlers: Set<MessageHandler>;
  /** Handlers that acknowledge manually. */
  manual: Set<MessageHandler>;
  options: SubscribeOptions;
}

/** Returned by our `handleMessage` override to MQTT.js: "do not send the PUBACK now, it is sent later". */
const DEFERRED = new Error('acknowledgement deferred');

interface AckTracker {
  client: MqttClient;
  messageId: number;
  pending: number;
  sent: boolean;
  /** True while MQTT.js is still inside its own publish handling (then MQTT.js sends the PUBACK itself). */
  sync: boolean;
}

const MQTT3_REFUSALS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client id rejected',
  3: 'server unavailable',
  4: 'bad username or password',
  5: 'not authorized',
};

const MQTTJS_DEBUG = /mqttjs|\*/.test(process.env.DEBUG ?? '');
function noLog(): void {}

function settle(ctx: { resolve: () => void; reject: (err: Error) => void }, err?: Error): void {
  if (err) ctx.reject(err);
  else ctx.resolve();
}

/**
 * Status texts as plain words, not i18n keys (`node-red:common.status.connected`): the editor would translate a key,
 * but a Status node's message carries the text as it is, and flows that read it must see words.
 */
export const STATUS_TEXT = { connecting: 'connecting', connected: 'connected', disconnected: 'disconnected' } as const;

export function describeConnack(code: number): string {
  return MQTT3_REFUSALS[code] ?? `refused with code ${code}`;
}

export class MqttConnection extends EventEmitter {
  state: ConnectionState = 'idle';
  /** Last refusal or error, for status and diagnostics. */
  lastError?: string;
  refusedCode?: number;
  private options: ConnectionOptions;
  private client?: MqttClient;
  private readonly users = new Map<string, ConnectionUser>();
  private readonly subs = new Map<string, Subscription>();
  private queue: Pending[] = [];
  private queueBytes = 0;
  private readonly inflight = new Set<Pending>();
  private attempt = 0;
  private timer?: NodeJS.Timeout;
  private connackCode?: number;
  private currentStatus: StatusLike = { fill: 'grey', shape: 'ring', text: 'idle' };
  private dropped = 0;

  constructor(options: ConnectionOptions) {
    super();
    this.options = options;
  }

  /** Messages dropped because the offline queue was full, since start. */
  get droppedCount(): number {
    return this.dropped;
  }

  get queued(): number {
    return this.queue.length;
  }

  /**
   * Stop reading from the socket (TCP back-pressure: the broker keeps the backlog) until `resumeIncoming()`.
   * Used by a bridge whose outbox is full with the `stop-consuming` policy. Applies to the current client only: a
   * reconnect starts reading again (the CONNACK must be read), and the caller pauses again when still full.
   *
   * Holding the reader also holds every other packet of this connection (PUBACK, SUBACK, PINGRESP), so it is
   * only held while nothing of ours is in flight on it: a publish or subscribe on this connection releases it
   * (no deadlock when the same connection is also a target, e.g. a bidirectional bridge), and reading then goes
   * on, the outbox beyond its limit being the caller's safety net. While held, PINGREQs keep the session alive
   * (the broker's keepalive) and MQTT.js's own PINGRESP check is postponed, so a long pause does not end the
   * connection (with a clean session the broker would discard the backlog it holds for us).
   */
  pauseIncoming(): void {
    this.incomingPaused = true;
  }

  resumeIncoming(): void {
    this.incomingPaused = false;
    this.releaseHeld();
  }
  private incomingPaused = false;
  /** MQTT.js's packet pump, held while incoming is paused (needs `manualAcks`, whose hook is used). */
  private heldPump?: () => void;
  private holdTimer?: NodeJS.Timeout;
  private corked = false;

  /** Whether the reader of this connection is held now (stop-consuming). */
  get incomingHeld(): boolean {
    return !!this.heldPump;
  }

  private hold(client: MqttClient, resume: () => void): void {
    this.heldPump = resume;
    const keepaliveMs = (this.options.keepalive ?? 60) * 1000;
    if (!keepaliveMs) return;
    const c = client as unknown as { sendPing?: () => void; keepaliveManager?: { reschedule(): void } | null };
    this.holdTimer = setInterval(() => {
      if (client !== this.client || !client.connected) return this.forgetHeld();
      c.sendPing?.();
      c.keepaliveManager?.reschedule();
    }, Math.max(250, keepaliveMs / 2));
  }

  private releaseHeld(): void {
    clearInterval(this.holdTimer);
    this.holdTimer = undefined;
    const held = this.heldPump;
    this.heldPump = undefined;
    held?.();
  }

  /** The client that was held is gone: drop its pump (never resume a dead client). */
  private forgetHeld(): void {
    clearInterval(this.holdTimer);
    this.holdTimer = undefined;
    this.heldPump = undefined;
    this.incomingPaused = false;
  }

  get protocolVersion(): 3 | 4 | 5 {
    return this.options.protocolVersion ?? 4;
  }

  /** Add a user; the first one starts the connection. */
  register(user: ConnectionUser): void {
    this.users.set(user.id, user);
    user.status(this.currentStatus);
    if (this.state === 'idle') this.connect();
  }

  deregister(user: ConnectionUser): void {
    if (this.users.delete(user.id)) user.status({});
  }

  get userCount(): number {
    return this.users.size;
  }

  /** Start over with new options (e.g. new credentials after a refusal): the backoff resets. */
  restart(options?: Partial<ConnectionOptions>): void {
    if (this.state === 'closed') return;
    if (options) this.options = { ...this.options, ...options };
    this.teardown();
    this.attempt = 0;
    this.refusedCode = undefined;
    this.connect();
  }

  /**
   * Stop connecting until `restart()`: the client ends (in-flight publishes go back to the queue, which keeps
   * accepting up to its bound) and no reconnect is scheduled. Users see `status`.
   */
  suspend(status: StatusLike): void {
    if (this.state === 'closed') return;
    this.teardown();
    this.state = 'disconnected';
    this.setStatus(status);
  }

  private setStatus(status: StatusLike): void {
    this.currentStatus = status;
    for (const user of this.users.values()) user.status(status);
    this.emit('status', status);
  }

  private connect(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.forgetHeld();
    this.state = 'connecting';
    this.setStatus({ fill: 'yellow', shape: 'ring', text: STATUS_TEXT.connecting });
    const o = this.options;
    const client = mqtt.connect(o.url, {
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      clean: o.clean ?? true,
      keepalive: o.keepalive ?? 60,
      protocolVersion: o.protocolVersion ?? 4,
      reconnectPeriod: 0, // our own loop, with backoff and jitter
      connectTimeout: o.connectTimeoutMs ?? 15000,
      resubscribe: false, // replayed by us after the startup hook
      ...(o.will ? { will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: o.will.qos ?? 1, retain: o.will.retain ?? false } } : {}),
      // MQTT.js formats a debug line for every packet step; unless DEBUG asks for them, they cost ~5 % of a
      // bridge's CPU for nothing.
      ...(MQTTJS_DEBUG ? {} : { log: noLog }),
      ...(o.tls ?? {}),
      ...(o.extra ?? {}),
    } as IClientOptions);
    client.setMaxListeners(0);
    if (o.manualAcks) this.deferAck(client);
    this.client = client;
    this.connackCode = undefined;
    client.on('connect', (connack) => {
      // Synchronous, before MQTT.js handles the next packet (a persistent session's redeliveries follow at once).
      this.emit('session', !!connack?.sessionPresent);
      if (o.noDelay) (client as unknown as { stream?: { setNoDelay?: (v: boolean) => void } }).stream?.setNoDelay?.(true);
      void this.onConnect(client);
    });
    client.on('message', (topic, payload, packet) => this.dispatch(topic, payload, packet));
    client.on('packetreceive', (packet) => {
      // MQTT.js counts only acknowledgements and PINGRESP as signs of life. A subscriber reading a long backlog
      // (a bridge draining a persistent session) gets its PINGRESP only behind every PUBLISH the broker queued
      // before it, and MQTT.js would end a connection that is delivering all the time. Incoming PUBLISHes count
      // too: the ping timer goes back one step, so PINGREQs still go out (the broker's keepalive) but no timeout.
      if (packet.cmd === 'publish') {
        const k = (client as unknown as { keepaliveManager?: { counter: number } | null }).keepaliveManager;
        if (k && k.counter > 1) k.counter = 1;
      }
      // A second CONNACK with a refusal on an open connection (Cumulocity does that) arrives as a protocol
      // error in MQTT.js; keep the platform's code from the raw packet.
      if (packet.cmd === 'connack' && packet.returnCode) this.connackCode = packet.returnCode;
      else if (packet.cmd === 'connack' && 'reasonCode' in packet && packet.reasonCode && packet.reasonCode >= 128) this.connackCode = packet.reasonCode;
    });
    client.on('error', (err: Error & { code?: unknown }) => {
      if (typeof err.code === 'number' && this.connackCode === undefined && /refused|connack/i.test(err.message)) this.connackCode = err.code;
      this.lastError = err.message;
      this.emit('client-error', err);
    });
    client.on('close', () => this.onClose(client));
  }

  private async onConnect(client: MqttClient): Promise<void> {
    if (client !== this.client) return;
    this.attempt = 0;
    this.refusedCode = undefined;
    try {
      await this.options.onConnected?.(this);
      if (client !== this.client || !client.connected) return;
      await Promise.all([...this.subs.values()].map((s) => this.brokerSubscribe(s)));
    } catch (err) {
      this.emit('client-error', err);
    }
    if (client !== this.client || !client.connected) return;
    this.state = 'connected';
    this.lastError = undefined;
    this.setStatus({ fill: 'green', shape: 'dot', text: STATUS_TEXT.connected });
    this.emit('connected');
    this.drain();
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    this.forgetHeld();
    this.requeueInflight();
    if (this.state === 'closed') return;
    const code = this.connackCode;
    client.removeAllListeners();
    client.on('error', () => undefined); // late socket errors of a dead client must not crash the runtime
    client.end(true);
    this.client = undefined;
    if (code) {
      this.refusedCode = code;
      this.lastError = `connection refused: ${(this.options.describeRefusal ?? describeConnack)(code)}`;
      this.emit('refused', code);
      if (!(this.options.retryRefused?.(code) ?? false)) {
        this.state = 'refused';
        this.setStatus({ fill: 'red', shape: 'ring', text: this.lastError });
        if (this.options.failWhenRefused) this.failQueue(new ConnectionRefusedError(this.lastError));
        return;
      }
    }
    this.state = 'disconnected';
    const delay = backoffDelay(this.attempt++, this.options.backoff ?? DEFAULT_BACKOFF);
    this.setStatus({ fill: 'red', shape: 'ring', text: code ? `${this.lastError}; retry in ${Math.ceil(delay / 1000)} s` : STATUS_TEXT.disconnected });
    this.emit('disconnected', delay);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Messages handed to the old client but not acknowledged go first in the queue, in order. */
  private requeueInflight(): void {
    if (!this.inflight.size) return;
    const again = [...this.inflight];
    this.inflight.clear();
    for (const p of again) {
      p.sentOn = undefined;
      this.queueBytes += p.bytes;
    }
    this.queue = again.concat(this.queue);
    this.emit('requeued', again.length);
  }

  private tracker?: AckTracker;

  /**
   * Manual acknowledgement with MQTT.js 5. Its `customHandleAcks` hook runs BEFORE the message is emitted and its
   * callback gates MQTT.js's packet pump (the next packet is parsed only after it is called), so deferring there
   * would allow one message per target round trip. Instead the pump keeps running: our `handleMessage` override
   * (MQTT.js calls it after emitting, and sends the PUBACK from its callback) passes a sentinel error when an
   * acknowledgement is still outstanding, which makes MQTT.js skip its PUBACK, and the PUBACK is written later
   * with the client's own packet writer, on the same client only (after a reconnect the broker redelivers).
   * Acknowledgements may thus leave in a different order than the PUBLISHes came (brokers match by packet id).
   */
  private deferAck(client: MqttClient): void {
    const c = client as MqttClient & { handleMessage: (packet: IPublishPacket, cb: (err?: Error) => void) => void };
    c.handleMessage = (packet, done) => {
      const t = this.tracker;
      this.tracker = undefined;
      let err: Error | undefined;
      if (t && packet.qos === 1 && t.messageId === packet.messageId) {
        t.sync = false;
        if (t.pending === 0) t.sent = true;
        else err = DEFERRED;
      }
      // Paused (pauseIncoming): MQTT.js parses the next packet only after this callback, so holding it stops
      // reading; TCP back-pressure then leaves the backlog with the broker. Only while nothing of ours is in
      // flight here (its acknowledgement would be held too).
      if (this.incomingPaused && client === this.client && !this.inflight.size) this.hold(client, () => done(err));
      else done(err);
    };
  }

  private ackFor(t: AckTracker): Ack {
    let called = false;
    return () => {
      if (called) return;
      called = true;
      if (--t.pending > 0 || t.sync || t.sent) return;
      t.sent = true;
      const client = t.client;
      if (client !== this.client || !client.connected) return; // the broker redelivers on the next session
      (client as unknown as { _sendPacket(p: object, cb: () => void): void })._sendPacket({ cmd: 'puback', messageId: t.messageId, reasonCode: 0 }, () => undefined);
    };
  }

  private dispatch(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const t: AckTracker | undefined =
      this.options.manualAcks && packet.qos === 1 && this.client ? { client: this.client, messageId: packet.messageId!, pending: 0, sent: false, sync: true } : undefined;
    this.tracker = t;
    for (const s of this.subs.values()) {
      if (!topicMatches(s.match, topic)) continue;
      for (const h of s.handlers) {
        const ack = t && s.manual.has(h) ? (t.pending++, this.ackFor(t)) : undefined;
        try {
          h(topic, payload, packet, ack);
        } catch (err) {
          // A handler that threw will not acknowledge: do it for it, or the PUBACK would never be sent.
          ack?.();
          this.emit('client-error', err);
        }
      }
    }
  }

  private brokerSubscribe(s: Subscription): Promise<void> {
    const client = this.client;
    if (!client || !client.connected) return Promise.resolve();
    this.releaseHeld(); // the SUBACK must be read
    return new Promise((resolve, reject) => {
      const v5 = this.protocolVersion === 5;
      const o = s.options;
      const opts = v5 ? { qos: s.qos, ...(o.nl !== undefined ? { nl: o.nl } : {}), ...(o.rap !== undefined ? { rap: o.rap } : {}), ...(o.rh !== undefined ? { rh: o.rh } : {}) } : { qos: s.qos };
      client.subscribe(s.filter, opts, (err, granted) => {
        if (err) return reject(err);
        const g = granted?.[0];
        if (g && (g.qos as number) >= 128) {
          const e = new Error(`subscription to ${s.filter} refused by the broker (code ${g.qos})`);
          this.emit('subscribe-refused', s.filter, g.qos);
          return reject(e);
        }
        resolve();
      });
    });
  }

  /**
   * Subscribe a handler; resolves when the broker confirmed (or at once while offline: the subscription is
   * made on the next connect). Returns the function that removes this handler again.
   */
  async subscribe(filter: string, qos: 0 | 1 | 2, handler: MessageHandler, options: SubscribeOptions = {}): Promise<() => Promise<void>> {
    let s = this.subs.get(filter);
    const fresh = !s;
    if (!s) {
      s = { filter, match: effectiveFilter(filter), qos, handlers: new Set(), manual: new Set(), options };
      this.subs.set(filter, s);
    }
    s.handlers.add(handler);
    if (options.manualAck) s.manual.add(handler);
    const sub = s;
    // A second user asking for a higher QoS raises the subscription's (QoS 1 end to end must not become QoS 0
    // because another node subscribed first); other options stay those of the first user.
    const upgrade = !fresh && qos > s.qos;
    if (upgrade) s.qos = qos;
    if ((fresh || upgrade) && this.state === 'connected') {
      try {
        await this.brokerSubscribe(sub);
      } catch (err) {
        sub.handlers.delete(handler);
        if (!sub.handlers.size) this.subs.delete(filter);
        throw err;
      }
    }
    return async () => {
      sub.manual.delete(handler);
      if (!sub.handlers.delete(handler) || sub.handlers.size) return;
      this.subs.delete(filter);
      const client = this.client;
      if (!client?.connected) return;
      // Bounded: a close must not hang on a broker that does not answer.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        client.unsubscribe(filter, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    };
  }

  /** Publish; resolves after PUBACK (QoS ≥ 1) or the write (QoS 0). Waits in the bounded queue while offline. */
  publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new ConnectionClosedError());
    return new Promise((resolve, reject) => this.publishCb(topic, payload, options, settle, { resolve, reject }));
  }

  /**
   * `publish` without a Promise, for hot paths (the bridge): `done(ctx, err?)` is called after PUBACK (QoS ≥ 1)
   * or the write (QoS 0), never synchronously. `options` is passed to MQTT.js as it is (may be shared).
   */
  publishCb<C>(topic: string, payload: string | Buffer, options: PublishOptions, done: PublishDone<C>, ctx: C): void {
    if (this.state === 'closed') return void process.nextTick(done, ctx, new ConnectionClosedError());
    if (this.state === 'refused' && this.options.failWhenRefused) return void process.nextTick(done, ctx, new ConnectionRefusedError(this.lastError ?? 'connection refused'));
    const p: Pending = { topic, payload, options, bytes: typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length, done, ctx };
    if (this.state === 'connected' && !this.queue.length) return this.send(p);
    const limit = this.options.queueLimit ?? { messages: 1000, bytes: 10 * 1024 * 1024 };
    if (this.queue.length >= limit.messages || this.queueBytes + p.bytes > limit.bytes) {
      this.dropped++;
      this.emit('overflow', topic);
      return void process.nextTick(done, ctx, new QueueFullError(limit));
    }
    this.queue.push(p);
    this.queueBytes += p.bytes;
  }

  /**
   * Take back the messages of one owner that still wait in the offline queue (a node that stops while the
   * connection stays, e.g. a redeploy of that node alone): they complete with ConnectionClosedError and are not
   * sent. Returns how many.
   */
  cancel(owner: string): number {
    const gone = this.queue.filter((p) => p.options.owner === owner);
    if (!gone.length) return 0;
    this.queue = this.queue.filter((p) => p.options.owner !== owner);
    for (const p of gone) {
      this.queueBytes -= p.bytes;
      p.done(p.ctx, new ConnectionClosedError());
    }
    return gone.length;
  }

  /** Complete every queued publish with `err` (nothing of it is sent). */
  private failQueue(err: Error): void {
    const gone = this.queue;
    this.queue = [];
    this.queueBytes = 0;
    for (const p of gone) p.done(p.ctx, err);
  }

  /** Publish without the queue, for a startup hook that runs before the connection counts as connected. */
  publishNow(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => client.publish(topic, payload, { qos: options.qos ?? 0, retain: options.retain ?? false }, (err) => (err ? reject(err) : resolve())));
  }

  private send(p: Pending): void {
    const client = this.client!;
    p.sentOn = client;
    if (this.heldPump) this.releaseHeld(); // its PUBACK must be read (see pauseIncoming)
    if (this.options.batchWrites && !this.corked) this.cork(client);
    this.inflight.add(p);
    // MQTT.js fills in its defaults (qos 0, retain false); our options hold only qos, retain, properties.
    client.publish(p.topic, p.payload, p.options as IClientPublishOptions, (err) => {
      if (p.sentOn !== client || !this.inflight.delete(p)) return; // re-queued after a disconnect
      p.done(p.ctx, err ?? undefined);
    });
  }

  private cork(client: MqttClient): void {
    const stream = (client as unknown as { stream?: { cork?: () => void; uncork?: () => void } }).stream;
    if (!stream?.cork || !stream.uncork) return;
    stream.cork();
    this.corked = true;
    setImmediate(() => {
      this.corked = false;
      stream.uncork!();
    });
  }

  private drain(): void {
    while (this.queue.length && this.state === 'connected' && this.client?.connected) {
      const p = this.queue.shift()!;
      this.queueBytes -= p.bytes;
      this.send(p);
    }
  }

  private teardown(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.forgetHeld();
    const client = this.client;
    this.client = undefined;
    if (client) {
      this.requeueInflight();
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      clearTimeout((client as unknown as { connackTimer?: NodeJS.Timeout }).connackTimer);
    }
  }

  /** End the client in whatever state it is in; pending publishes are rejected. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.forgetHeld();
    const client = this.client;
    this.client = undefined;
    if (client) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          client.end(true);
          resolve();
        }, 2000);
        // A client still connecting has nothing to flush: end it at once, and also drop the socket, because
        // MQTT.js would otherwise complete the CONNECT later and leave a live session at the broker.
        if (!client.connected) {
          client.end(true, {}, () => {
            clearTimeout(force);
            resolve();
          });
          (client as unknown as { stream?: { destroy?: () => void } }).stream?.destroy?.();
          return;
        }
        client.end(false, {}, () => {
          clearTimeout(force);
          resolve();
        });
      });
      client.removeAllListeners();
      client.on('error', () => undefined);
      // MQTT.js clears its CONNACK timer in its own 'close' listener, which removeAllListeners just took away.
      clearTimeout((client as unknown as { connackTimer?: NodeJS.Timeout }).connackTimer);
    }
    const pending = [...this.inflight, ...this.queue];
    this.inflight.clear();
    this.queue = [];
    this.queueBytes = 0;
    for (const p of pending) p.done(p.ctx, new ConnectionClosedError());
    for (const user of this.users.values()) user.status({});
    this.users.clear();
    this.subs.clear();
    this.emit('closed');
    this.removeAllListeners();
  }
}
