/**
 * Downstream delivery: lines to one device's connection (answers, operations, `s/e`), packed into as few
 * payloads as the size limit allows, `500` re-delivery of PENDING operations, and the copy the service account
 * sees under `devices/<deviceId>/<topic>`.
 *
 * Downstream lines are written to the one connection of the device (aedes `client.publish`), never through the
 * shared topic tree, and only when that connection subscribed to the topic, as on the platform.
 *
 * Fairness (one device cannot hold the endpoint's memory or event loop):
 * - Each connection's outbound queue is bounded in bytes (`queueBytes`): bytes handed to the connection whose write
 *   has not completed. A line that would exceed it is not written: operations stay PENDING (the next `500` or
 *   reconnect brings them), answers and `s/e` lines are dropped and counted ('overflow' event).
 * - A connection that leaves QoS 1/2 deliveries unacknowledged for `drainTimeoutMs` (it does not read) is closed.
 * - `500` re-sends only the PENDING operations the connection has not received since its last `500` (the first
 *   `500` of a connection re-sends all, as the platform does), and at most once per `redeliverIntervalMs`; `500`s
 *   in between are ignored.
 */
import type { Aedes, Client, PublishPacket } from 'aedes' with { 'resolution-mode': 'import' };
import { JSON_ERROR_TOPIC, JSON_OPERATIONS_TOPIC, jsonErrorBody, operationToJson } from '../c8y/json';
import { parse } from '../smartrest/codec';
import { maxPayloadBytes } from '../smartrest/limits';
import { describeRecord } from '../smartrest/records';
import { idProblem } from '../smartrest/ids';
import { clientSubscriptions, dropClient, queuedBytes } from './aedes-internals';
import { serviceTopic } from './acl';
import type { Session } from './auth';
import { checkDeviceId } from './clientid';
import type { Inventory } from './inventory';
import { encodeOperations, type Operation, type OperationStore } from './operations';
import type { Sessions } from './sessions';

export interface EndpointProblem {
  /** s/e code: 40 unknown template, 41 refused, 45 invalid arguments. */
  code: number;
  /** Related message id (may be empty). */
  id: string;
  text: string;
  /** The line sent on `s/e` (cut to the size limit). */
  line: string;
  device?: string;
  topic?: string;
  /** The offending input, cut to PROBLEM_PAYLOAD_CHARS characters. */
  payload?: string;
}

/**
 * Where a problem is told: `s/e` (SmartREST input), `error` as JSON (input on a JSON topic), or both (a refused
 * topic that is neither); each only when the connection subscribed to it.
 */
export type ProblemFormat = 'smartrest' | 'json' | 'both';

export interface OperationRequest {
  device: string;
  child?: string;
  payload: unknown;
  xid?: string;
  fragment?: string;
  /** Id of the node that creates it (reports its changes, also after a restart). */
  source?: string;
}

export interface DeliveryLimits {
  /** Bytes one connection may have in its outbound queue (default 1 MiB). */
  queueBytes: number;
  /** A connection that acknowledges no QoS 1 delivery for this long while some are open is closed (default 10 s). */
  drainTimeoutMs: number;
  /** `500` is honoured at most once per this interval per connection (default 5 s). */
  redeliverIntervalMs: number;
}

export const DEFAULT_DELIVERY_LIMITS: DeliveryLimits = { queueBytes: 1 << 20, drainTimeoutMs: 10_000, redeliverIntervalMs: 5_000 };

/** Characters of the offending input a 'problem' event carries. */
export const PROBLEM_PAYLOAD_CHARS = 1000;

export interface DeliveryContext {
  sessions: Sessions;
  operations: OperationStore;
  inventory: Inventory;
  /** Largest PUBLISH, header included. */
  maxPublish: number;
  limits: DeliveryLimits;
  emit(event: 'operation', op: Operation): void;
  emit(event: 'problem', problem: EndpointProblem): void;
  emit(event: 'overflow', info: { device: string; topic: string; bytes: number; reason: string }): void;
}

/** What delivery keeps per connection. */
interface Outbound {
  /** Bytes handed to the connection whose write has not completed. */
  inFlight: number;
  /** QoS 1 deliveries not acknowledged yet, and when the last acknowledgement (or the first delivery) was. */
  unacked: number;
  progressAt: number;
  timer?: NodeJS.Timeout;
  /** Operation ids written since the last honoured `500` (none before the first). */
  delivered?: Set<string>;
  last500?: number;
}

function noop(): void {}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g;

/** Control characters as `\uXXXX` text, so that a line stays one printable line. */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** The longest prefix of `text` that has at most `maxBytes` UTF-8 bytes (never splits a character). */
export function cutUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    bytes += n;
    end += ch.length;
  }
  return text.slice(0, end);
}

export class Delivery {
  private broker: Aedes | undefined;
  private readonly outbound = new WeakMap<Client, Outbound>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly ctx: DeliveryContext) {}

  /** The broker that carries the service account's copies; its acknowledgements feed the drain check. */
  attach(broker: Aedes): void {
    this.broker = broker;
    broker.on('ack', (_packet, client) => {
      const o = client && this.outbound.get(client);
      if (!o || o.unacked === 0) return;
      o.unacked--;
      o.progressAt = Date.now();
    });
  }

  /** Send a payload to a device's connection on `topic`, if connected and subscribed. True when written. */
  send(deviceId: string, topic: string, payload: string | Buffer, qos = 2): boolean {
    const ok = this.writeTo(this.ctx.sessions.client(deviceId), topic, payload, qos);
    if (ok) this.mirror(deviceId, topic, payload);
    return ok;
  }

  private mirror(deviceId: string, topic: string, payload: string | Buffer): void {
    if (this.ctx.sessions.serviceConnected && this.broker) {
      this.broker.publish({ cmd: 'publish', topic: serviceTopic(deviceId, topic), payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, noop);
    }
  }

  /**
   * Write to one connection when it subscribed to `topic` and its outbound queue has room; no copy for the
   * service account (e.g. credentials, meant for the device alone). True when written.
   */
  writeTo(client: Client | undefined, topic: string, payload: string | Buffer, qos: number): boolean {
    if (!client || client.closed || !client.connected) return false;
    const sub = clientSubscriptions(client)[topic];
    if (!sub) return false;
    const body = Buffer.from(payload);
    const o = this.state(client);
    const bytes = body.length + Buffer.byteLength(topic) + 8;
    if (o.inFlight + queuedBytes(client) + bytes > this.ctx.limits.queueBytes) {
      const s = this.ctx.sessions.get(client);
      this.ctx.emit('overflow', { device: s?.deviceId ?? '', topic, bytes: body.length, reason: `outbound queue of ${this.ctx.limits.queueBytes} bytes full` });
      return false;
    }
    // At the QoS the device subscribed with (QoS 2 subscriptions get QoS 2: the SUBACK grants what was asked).
    const q = Math.min(qos, sub.qos) as 0 | 1 | 2;
    o.inFlight += bytes;
    if (q >= 1) {
      if (o.unacked === 0) o.progressAt = Date.now();
      o.unacked++;
      this.watch(client, o);
    }
    const packet = { cmd: 'publish', topic, payload: body, qos: q, retain: false, dup: false } as PublishPacket;
    client.publish(packet, () => void (o.inFlight -= bytes));
    return true;
  }

  private state(client: Client): Outbound {
    let o = this.outbound.get(client);
    if (!o) this.outbound.set(client, (o = { inFlight: 0, unacked: 0, progressAt: 0 }));
    return o;
  }

  /** Close a connection that acknowledges nothing for the drain timeout while deliveries are open. */
  private watch(client: Client, o: Outbound): void {
    if (o.timer) return;
    const check = () => {
      if (o.timer) this.timers.delete(o.timer);
      o.timer = undefined;
      if (client.closed || o.unacked === 0) return;
      const idle = Date.now() - o.progressAt;
      if (idle >= this.ctx.limits.drainTimeoutMs) {
        const s = this.ctx.sessions.get(client);
        this.ctx.emit('overflow', { device: s?.deviceId ?? '', topic: '', bytes: o.inFlight, reason: `no acknowledgement for ${this.ctx.limits.drainTimeoutMs} ms: connection closed` });
        dropClient(client);
        return;
      }
      o.timer = setTimeout(check, this.ctx.limits.drainTimeoutMs - idle);
      o.timer.unref?.();
      this.timers.add(o.timer);
    };
    o.timer = setTimeout(check, this.ctx.limits.drainTimeoutMs);
    o.timer.unref?.();
    this.timers.add(o.timer);
  }

  /** Lines joined into as few payloads as fit the size limit. True when every payload was written. */
  sendLines(deviceId: string, topic: string, lines: string[], deliverAs = topic): boolean {
    let sent = true;
    for (const chunk of this.chunks(lines, deliverAs)) sent = this.send(deviceId, deliverAs, chunk.map((i) => lines[i]).join('\n')) && sent;
    return sent;
  }

  /** Indexes of `lines` grouped into payloads that fit the size limit of `topic`. */
  private chunks(lines: string[], topic: string): number[][] {
    const max = maxPayloadBytes(topic, 1, this.ctx.maxPublish);
    const out: number[][] = [];
    let chunk: number[] = [];
    let size = 0;
    lines.forEach((line, i) => {
      const n = Buffer.byteLength(line);
      if (chunk.length && size + 1 + n > max) {
        out.push(chunk);
        chunk = [];
        size = 0;
      }
      size += chunk.length ? 1 + n : n;
      chunk.push(i);
    });
    if (chunk.length) out.push(chunk);
    return out;
  }

  /** Write operations to the device's connection; those written count as received (for `500`). */
  private deliverOperations(deviceId: string, ops: Operation[], deliverAs?: string): void {
    const client = this.ctx.sessions.client(deviceId);
    const o = client && this.state(client);
    const byTopic = new Map<string, Operation[]>();
    for (const op of ops) {
      let list = byTopic.get(op.topic);
      if (!list) byTopic.set(op.topic, (list = []));
      list.push(op);
    }
    const session = client && this.ctx.sessions.get(client);
    for (const [t, list] of deliverAs === JSON_OPERATIONS_TOPIC ? [] : byTopic) {
      const lines = list.map((op) => op.line);
      const targets = deliverAs ? [deliverAs] : [t];
      // Operations for the default collection also reach a device that subscribed to s/dd.
      if (!deliverAs && session?.xid && t === `s/dc/${session.xid}`) targets.push('s/dd');
      for (const topic of targets) {
        for (const chunk of this.chunks(lines, topic)) {
          if (this.send(deviceId, topic, chunk.map((i) => lines[i]).join('\n')) && o?.delivered) for (const i of chunk) o.delivered.add(list[i].id);
        }
      }
    }
    // Every operation also reaches a device that subscribed to the JSON topic, one JSON object per message.
    if (client && clientSubscriptions(client)[JSON_OPERATIONS_TOPIC]) {
      for (const op of ops) {
        if (this.send(deviceId, JSON_OPERATIONS_TOPIC, JSON.stringify(this.operationJson(op))) && o?.delivered) o.delivered.add(op.id);
      }
    }
  }

  /** An operation as JSON: its fragment holds the values of its static line (as `smartrest-decode` reads them). */
  private operationJson(op: Operation): Record<string, unknown> {
    // Custom template lines (s/dc/<X-ID>) have no named values here: their fragment carries the line.
    let values: Record<string, unknown> | undefined;
    if (op.topic === 's/ds') {
      try {
        const [rec] = parse(op.line);
        values = rec ? describeRecord(rec).values : undefined;
      } catch {
        values = undefined;
      }
    }
    return operationToJson({ id: op.id, target: op.target, fragment: op.fragment, status: op.status, created: op.created, values: values ?? { line: op.line } });
  }

  /** A device subscribed to an operation topic: deliver its PENDING operations of that topic. */
  subscribed(deviceId: string, topic: string, deliverAs?: string): void {
    this.deliverOperations(deviceId, this.ctx.operations.pending(deviceId).filter((o) => o.topic === topic), deliverAs);
  }

  /** A device subscribed to `devicecontrol/notifications`: deliver all its PENDING operations there as JSON. */
  subscribedJson(deviceId: string): void {
    this.deliverOperations(deviceId, this.ctx.operations.pending(deviceId), JSON_OPERATIONS_TOPIC);
  }

  /**
   * `500`: the PENDING operations this connection has not received since its last honoured `500`, at most once per
   * interval. False when the request was ignored (too soon).
   */
  redeliver(deviceId: string): boolean {
    const client = this.ctx.sessions.client(deviceId);
    if (!client) return false;
    const o = this.state(client);
    const now = Date.now();
    if (o.last500 !== undefined && now - o.last500 < this.ctx.limits.redeliverIntervalMs) return false;
    o.last500 = now;
    const seen = o.delivered ?? new Set<string>();
    o.delivered = new Set();
    this.deliverOperations(deviceId, this.ctx.operations.pending(deviceId).filter((op) => !seen.has(op.id)));
    return true;
  }

  /**
   * Create operations for a device (or its child) and deliver them at once when the device is connected and
   * subscribed; otherwise they wait (PENDING) for its next subscription or `500`.
   */
  sendOperation(request: OperationRequest): Operation[] {
    const bad = checkDeviceId(request.device);
    if (bad) throw new Error(`msg.device: ${bad}`);
    const badChild = request.child !== undefined ? idProblem(request.child, 'child') : undefined;
    if (badChild) throw new Error(`msg.child: ${badChild}`);
    const badXid = request.xid !== undefined ? idProblem(request.xid, 'xid') : undefined;
    if (badXid) throw new Error(`msg.xid: ${badXid}`);
    const target = request.child ?? request.device;
    const topic = request.xid ? `s/dc/${request.xid}` : 's/ds';
    const collection = request.xid ? this.ctx.inventory.collection(request.xid)?.parsed : undefined;
    const encoded = encodeOperations(request.payload, target, { xid: request.xid, fragment: request.fragment, collection });
    const ops = encoded.map((e) =>
      this.ctx.operations.create({ deviceId: request.device, target, fragment: e.fragment, messageId: e.messageId, topic, line: e.line, source: request.source }),
    );
    for (const op of ops) this.ctx.emit('operation', { ...op });
    this.deliverOperations(request.device, ops, topic);
    return ops.map((o) => ({ ...o }));
  }

  /**
   * Report a refused or invalid input: `s/e` line to the connection (if it subscribed) and a 'problem' event. The
   * line is one printable line cut to the size limit; the event's payload is cut too.
   */
  problem(p: { code: number; id: string; text: string }, s: Session | undefined, client?: Client, packet?: PublishPacket, topic?: string, payload?: string | Buffer, format: ProblemFormat = 'smartrest'): void {
    const line = this.tell(p, s, client, format);
    const event: EndpointProblem = { ...p, text: cutUtf8(p.text, PROBLEM_PAYLOAD_CHARS * 4), line };
    if (s?.deviceId) event.device = s.deviceId;
    const t = topic ?? packet?.topic;
    if (t !== undefined) event.topic = t.length > PROBLEM_PAYLOAD_CHARS ? t.slice(0, PROBLEM_PAYLOAD_CHARS) + '…' : t;
    const pl = payload ?? (packet?.payload as Buffer | undefined);
    if (pl !== undefined) event.payload = (typeof pl === 'string' ? pl : pl.subarray(0, PROBLEM_PAYLOAD_CHARS * 4).toString('utf8')).slice(0, PROBLEM_PAYLOAD_CHARS);
    this.ctx.emit('problem', event);
  }

  /**
   * Only the `s/e` line (one printable line cut to the size limit), to the connection if it subscribed; no
   * 'problem' event. Returns the line.
   */
  tell(p: { code: number; id: string; text: string }, s: Session | undefined, client?: Client, format: ProblemFormat = 'smartrest'): string {
    // The s/e text is not CSV-escaped by the platform; keep it on one line.
    const line = cutUtf8(escapeControls(`${p.code},${p.id},${p.text.replace(/[\r\n]+/g, ' ')}`), maxPayloadBytes('s/e', 1, this.ctx.maxPublish));
    const json = format !== 'smartrest' ? jsonErrorBody(p.code, cutUtf8(p.text, maxPayloadBytes(JSON_ERROR_TOPIC, 1, this.ctx.maxPublish) - 200), p.id) : '';
    if (s && s.role !== 'service') {
      const say = (topic: string, payload: string) => {
        if (!client) this.send(s.deviceId, topic, payload);
        else if (this.writeTo(client, topic, payload, 2) && s.role === 'device') this.mirror(s.deviceId, topic, payload);
      };
      if (format !== 'json') say('s/e', line);
      if (json) say(JSON_ERROR_TOPIC, json);
    }
    return format === 'json' ? json : line;
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
