/**
 * Downstream delivery: lines to one device's connection (answers, operations, `s/e`), packed into as few
 * payloads as the size limit allows, `500` re-delivery of PENDING operations, and the copy the service account
 * sees under `devices/<deviceId>/<topic>`.
 *
 * Downstream lines are written to the one connection of the device (aedes `client.publish`), never through the
 * shared topic tree, and only when that connection subscribed to the topic, as on the platform.
 */
import type { Aedes, PublishPacket } from 'aedes' with { 'resolution-mode': 'import' };
import { maxPayloadBytes } from '../smartrest/limits';
import { clientSubscriptions } from './aedes-internals';
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
  /** The line sent on `s/e`. */
  line: string;
  device?: string;
  topic?: string;
  payload?: string;
}

export interface OperationRequest {
  device: string;
  child?: string;
  payload: unknown;
  xid?: string;
  fragment?: string;
  /** Id of the node that creates it (reports its changes, also after a restart). */
  source?: string;
}

export interface DeliveryContext {
  sessions: Sessions;
  operations: OperationStore;
  inventory: Inventory;
  /** Largest PUBLISH, header included. */
  maxPublish: number;
  emit(event: 'operation', op: Operation): void;
  emit(event: 'problem', problem: EndpointProblem): void;
}

function noop(): void {}

export class Delivery {
  private broker: Aedes | undefined;

  constructor(private readonly ctx: DeliveryContext) {}

  /** The broker that carries the service account's copies. */
  attach(broker: Aedes): void {
    this.broker = broker;
  }

  /** Send a payload to a device's connection on `topic`, if connected and subscribed. True when written. */
  send(deviceId: string, topic: string, payload: string | Buffer, qos = 1): boolean {
    const ok = this.sendRaw(deviceId, topic, payload, qos);
    if (ok && this.ctx.sessions.serviceConnected && this.broker) {
      this.broker.publish({ cmd: 'publish', topic: serviceTopic(deviceId, topic), payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, noop);
    }
    return ok;
  }

  /** As `send`, without the service account's copy (e.g. credentials, meant for the device alone). */
  sendRaw(deviceId: string, topic: string, payload: string | Buffer, qos: number): boolean {
    const client = this.ctx.sessions.client(deviceId);
    if (!client || client.closed || !client.connected) return false;
    const sub = clientSubscriptions(client)[topic];
    if (!sub) return false;
    const packet = { cmd: 'publish', topic, payload: Buffer.from(payload), qos: Math.min(qos, sub.qos) as 0 | 1, retain: false, dup: false } as PublishPacket;
    client.publish(packet, noop);
    return true;
  }

  /** Lines joined into as few payloads as fit the size limit. */
  sendLines(deviceId: string, topic: string, lines: string[], deliverAs = topic): boolean {
    const max = maxPayloadBytes(deliverAs, 1, this.ctx.maxPublish);
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
  redeliver(deviceId: string, topic?: string, deliverAs?: string): void {
    const pending = this.ctx.operations.pending(deviceId).filter((o) => topic === undefined || o.topic === topic);
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
        const c = this.ctx.sessions.client(deviceId);
        const session = c && this.ctx.sessions.get(c);
        if (session?.xid && t === `s/dc/${session.xid}`) this.sendLines(deviceId, t, lines, 's/dd');
      }
    }
  }

  /**
   * Create operations for a device (or its child) and deliver them at once when the device is connected and
   * subscribed; otherwise they wait (PENDING) for its next subscription or `500`.
   */
  sendOperation(request: OperationRequest): Operation[] {
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
    const collection = request.xid ? this.ctx.inventory.collection(request.xid)?.parsed : undefined;
    const encoded = encodeOperations(request.payload, target, { xid: request.xid, fragment: request.fragment, collection });
    const ops = encoded.map((e) =>
      this.ctx.operations.create({ deviceId: request.device, target, fragment: e.fragment, messageId: e.messageId, topic, line: e.line, source: request.source }),
    );
    for (const op of ops) this.ctx.emit('operation', { ...op });
    this.sendLines(request.device, topic, ops.map((o) => o.line));
    return ops.map((o) => ({ ...o }));
  }

  /** Report a refused or invalid input: `s/e` line to the device (if it subscribed) and a 'problem' event. */
  problem(p: { code: number; id: string; text: string }, s: Session | undefined, packet?: PublishPacket, topic?: string, payload?: string | Buffer): void {
    // The s/e text is not CSV-escaped by the platform; keep it on one line.
    const line = `${p.code},${p.id},${p.text.replace(/[\r\n]+/g, ' ')}`;
    if (s && s.role !== 'service') this.send(s.deviceId, 's/e', line);
    const event: EndpointProblem = { ...p, line };
    if (s?.deviceId) event.device = s.deviceId;
    const t = topic ?? packet?.topic;
    if (t !== undefined) event.topic = t;
    const pl = payload ?? (packet?.payload as Buffer | undefined);
    if (pl !== undefined) event.payload = typeof pl === 'string' ? pl : pl.toString('utf8').slice(0, 1000);
    this.ctx.emit('problem', event);
  }
}
