/**
 * Routing of what clients publish and subscribe: ACL decisions, then the device's records decoded, answered and
 * emitted for the flow.
 *
 * - A device's upstream publish is processed synchronously in `authorizePublish` (decoded, answered, emitted)
 *   and then re-published under `devices/<deviceId>/<topic>`, which only the service account can subscribe to.
 * - Refused publishes are dropped (re-routed to a `$`-topic nobody can subscribe to) with an `s/e` line; the
 *   connection stays open, so a device sees why (aedes would otherwise close the connection).
 * - A device acts only on itself and the children it created (and their children): a publish for another
 *   device's child, or a `101` naming another root device, a registered device or another device's child, is
 *   refused with `41`. A child announced through any of its own lines is created under the device that announced
 *   it (through `s/us/<child>`) or under the device or child whose `101` named it.
 * - A record with a control character (other than TAB, CR, LF) gets its own `45` line; the publish's other
 *   records are processed.
 */
import type { Client, PublishPacket, Subscription } from 'aedes' with { 'resolution-mode': 'import' };
import { JSON_OPERATIONS_TOPIC, jsonToRecords } from '../c8y/json';
import { describeIssue, parseDetailed, serializeRecord } from '../smartrest/codec';
import { findTemplate } from '../smartrest/catalogue';
import { collectionLookups, type TemplateCollection } from '../smartrest/custom';
import { maxPayloadBytes } from '../smartrest/limits';
import { responseRecords } from '../smartrest/responses';
import { idProblem } from '../smartrest/ids';
import { describeRecord, SmartRestRecordError, type TemplateLookup } from '../smartrest/records';
import type { TopicInfo } from '../smartrest/topics';
import type { DecodedRecord, ProcessingMode, TemplateCategory } from '../smartrest/types';
import { devicePublish, deviceSubscribe, servicePublish, serviceSubscribe, serviceTopic } from './acl';
import { answerRecord, emptyAnswer } from './answers';
import type { Session } from './auth';
import type { Delivery, ProblemFormat } from './delivery';
import { escapeControls } from './delivery';
import { InventoryLimitError, type Inventory, type ManagedObject } from './inventory';
import type { Operation, OperationStore } from './operations';
import type { Registration } from './registration';
import type { Sessions } from './sessions';

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
  /** `json` when the device published to a JSON topic (the record is derived from it), else `smartrest`. */
  format: 'smartrest' | 'json';
  /** JSON topics: the body as published (fragments the record does not carry are here). */
  json?: Record<string, unknown>;
  /** Operation status records: the operations they changed. */
  operations?: Operation[];
  /** Set by the first listener that took `record` as it is; the others take a copy (flows must not share it). */
  claimed?: boolean;
}

/** Topic a refused publish is renamed to (nobody can subscribe to it). */
export const DROPPED_TOPIC = '$dropped';

export interface RoutingContext {
  tenant: string;
  platformVersion: string;
  /** Largest PUBLISH, header included. */
  maxPublish: number;
  sessions: Sessions;
  delivery: Delivery;
  registration: Registration;
  inventory: Inventory;
  operations: OperationStore;
  /** A signed token for `s/uat` (token.ts); undefined when the endpoint has no token secret. */
  issueToken?: (deviceId: string) => string;
  /** True for a device id with credentials (registry or the endpoint's *Devices*). */
  isRegistered(deviceId: string): boolean;
  emit(event: string, payload: unknown): void;
}

/** Control characters SmartREST cannot carry (TAB, CR and LF can). */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** A record as text for reports; never throws (serializeRecord refuses control characters). */
function recordText(r: readonly string[]): string {
  try {
    return serializeRecord(r);
  } catch {
    return escapeControls(r.join(','));
  }
}

/** Longest parent chain followed (the inventory has no cycles; this only bounds a damaged file). */
const MAX_DEPTH = 64;

/** The root device of an inventory object (itself when it has no parent). */
function rootOf(inventory: Inventory, id: string): string {
  let current = id;
  for (let i = 0; i < MAX_DEPTH; i++) {
    const parent = inventory.get(current)?.parent;
    if (parent === undefined) return current;
    current = parent;
  }
  return current;
}

/** Why device `deviceId` may not act on `target` (a child in its topic), else undefined. */
export function actProblem(inventory: Inventory, deviceId: string, target: string, isRegistered: (id: string) => boolean): string | undefined {
  if (target === deviceId) return undefined;
  // A registered device that has not published yet is not up for adoption either.
  if (!inventory.get(target)) return isRegistered(target) ? `device ${deviceId} may not act on ${target}: it is another device` : undefined;
  const root = rootOf(inventory, target);
  if (root === deviceId) return undefined;
  return root === target
    ? `device ${deviceId} may not act on ${target}: it is another device`
    : `device ${deviceId} may not act on ${target}: it is a child of another device`;
}

/** Why `parent` (acting for root device `deviceId`) may not have `child` as its child (`101`), else undefined. */
export function adoptProblem(inventory: Inventory, deviceId: string, parent: string, child: string, isRegistered: (id: string) => boolean): string | undefined {
  const bad = idProblem(child, 'child');
  if (bad) return bad;
  const mo = inventory.get(child);
  if (mo) {
    if (mo.parent === parent) return undefined;
    return mo.parent === undefined ? `${child} is another root device, not a child of ${parent}` : `${child} is already a child of another device`;
  }
  if (child === deviceId || isRegistered(child)) return `${child} is a registered device, not a child of ${parent}`;
  return undefined;
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

export class Router {
  private readonly lookups = new WeakMap<TemplateCollection, TemplateLookup>();

  constructor(private readonly ctx: RoutingContext) {}

  // ---------------------------------------------------------------------------------------------------------------
  // Subscriptions

  authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const s = this.ctx.sessions.get(client);
    if (!s) return null;
    const reason = s.role === 'service' ? serviceSubscribe(sub.topic) : deviceSubscribe(s.role, sub.topic);
    if (reason) {
      this.ctx.emit('refused-subscription', { device: s.deviceId, topic: sub.topic, reason });
      return null; // SUBACK 0x80
    }
    // Granted as asked: aedes answers the SUBACK with the requested QoS whatever is returned here, so delivery
    // (delivery.ts) honours it: a QoS 2 subscription gets its lines at QoS 2.
    return sub;
  }

  subscribed(subs: Subscription[], client: Client): void {
    const s = this.ctx.sessions.get(client);
    if (!s || s.role === 'service') return;
    for (const sub of subs) {
      if ((sub.qos as number) === 128) continue;
      if (s.role === 'bootstrap' && sub.topic === 's/dcr') this.ctx.registration.listening(client, s);
      else if (s.role === 'device' && (sub.topic === 's/ds' || sub.topic.startsWith('s/dc/'))) {
        this.ctx.delivery.subscribed(s.deviceId, sub.topic);
      } else if (s.role === 'device' && sub.topic === JSON_OPERATIONS_TOPIC) {
        this.ctx.delivery.subscribedJson(s.deviceId);
      } else if (s.role === 'device' && sub.topic === 's/dd' && s.xid) {
        this.ctx.delivery.subscribed(s.deviceId, `s/dc/${s.xid}`, 's/dd');
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Publishing

  drop(packet: PublishPacket): void {
    packet.topic = DROPPED_TOPIC;
    packet.retain = false;
  }

  authorizePublish(client: Client | null, packet: PublishPacket): void {
    const s = client ? this.ctx.sessions.get(client) : undefined;
    if (!client || !s) {
      this.drop(packet);
      return;
    }
    packet.retain = false; // the platform ignores the retain flag
    if (s.role === 'service') {
      const d = servicePublish(packet.topic);
      if (!d.allow) {
        this.ctx.emit('refused-publish', { topic: packet.topic, reason: d.reason });
        this.drop(packet);
        return;
      }
      // Pass through as is; the topic stays in the namespace so other service clients see it.
      this.ctx.delivery.writeTo(this.ctx.sessions.client(d.deviceId), d.topic, packet.payload as Buffer, packet.qos);
      return;
    }
    const topic = packet.topic;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : (packet.payload as Buffer);
    if (payload.length > maxPayloadBytes(topic, packet.qos, this.ctx.maxPublish)) {
      this.refuse(client, s, 41, '', `message of ${payload.length} bytes on ${showTopic(topic)} exceeds the limit of ${this.ctx.maxPublish} bytes per MQTT message`, topic, undefined, 'both');
      this.drop(packet);
      return;
    }
    const d = devicePublish(s.role === 'bootstrap' ? 'bootstrap' : 'device', topic);
    if (!d.allow) {
      this.refuse(client, s, 41, '', d.reason, topic, payload, 'both');
      this.drop(packet);
      return;
    }
    this.handle(client, s, d.info, topic, payload);
    // Routed on only when a service account can see it (the broker skips the rest).
    packet.topic = this.ctx.sessions.serviceConnected ? serviceTopic(s.deviceId, topic) : DROPPED_TOPIC;
  }

  private handle(client: Client, s: Session, info: TopicInfo, topic: string, payload: Buffer): void {
    switch (info.kind) {
      case 'credentials':
        if (s.role === 'bootstrap') this.ctx.registration.poll(client, s);
        return;
      case 'token':
        // Decision: every device gets one (password or certificate login alike), see token.ts for its use.
        if (this.ctx.issueToken) this.ctx.delivery.send(s.deviceId, 's/dat', serializeRecord(['71', this.ctx.issueToken(s.deviceId)]));
        else this.refuse(client, s, 41, '', 'MqttAuth: this endpoint does not issue device access tokens', topic);
        return;
      case 'template':
        this.template(client, s, info.xid!, payload.toString('utf8'), topic);
        return;
      case 'static':
      case 'custom':
      case 'default':
        this.records(client, s, info, topic, payload.toString('utf8'));
        return;
      case 'json':
        this.json(client, s, info, topic, payload);
        return;
      default:
        return;
    }
  }

  private records(client: Client, s: Session, info: TopicInfo, topic: string, text: string): void {
    const deviceId = s.deviceId;
    const child = info.child;
    const target = child ?? deviceId;
    const { inventory, delivery } = this.ctx;

    let lookup: TemplateLookup | undefined;
    let collection: TemplateCollection | undefined;
    if (info.kind !== 'static') {
      const xid = info.kind === 'default' ? s.xid : info.xid;
      if (!xid) {
        this.refuse(client, s, 41, '', `${topic} needs a default template collection: connect with ClientId d:<deviceId>:<X-ID>`, topic, text);
        return;
      }
      const coll = inventory.collection(xid);
      if (!coll) {
        this.refuse(client, s, 41, '', `Template collection ${xid} not found`, topic, text);
        return;
      }
      collection = coll.parsed;
      lookup = this.lookups.get(coll.parsed);
      if (!lookup) {
        lookup = collectionLookups(coll.parsed).request;
        this.lookups.set(coll.parsed, lookup);
      }
    }

    if (child !== undefined) {
      // Only the device's own children (the topic grammar already keeps "/" out of a topic level).
      const refused = idProblem(child, 'child') ?? actProblem(inventory, deviceId, child, this.ctx.isRegistered);
      if (refused) {
        this.refuse(client, s, 41, '', refused, topic, text);
        return;
      }
    }

    const { records, errors } = parseDetailed(text);
    for (const issue of errors) this.refuse(client, s, 45, '', `malformed SmartREST: ${describeIssue(issue)}`, topic, issue.text);
    // Answers to GET request templates go where the device's operations of that collection go.
    const answerTopic = info.kind === 'default' ? 's/dd' : info.kind === 'custom' ? `s/dc/${info.xid}` : undefined;
    this.process(client, s, { child, mode: info.mode, topic, lookup, collection, answerTopic, format: 'smartrest' }, records);
  }

  /**
   * A publish to a JSON topic: the same ACL (an update names the device itself or one of its children) and the
   * same records as SmartREST (see `jsonToRecords`), problems reported on `error` as JSON.
   */
  private json(client: Client, s: Session, info: TopicInfo, topic: string, payload: Buffer): void {
    const t = info.json!;
    const { inventory } = this.ctx;
    const child = t.id !== undefined && t.id !== s.deviceId ? t.id : undefined;
    if (child !== undefined) {
      const refused = idProblem(child, 'child') ?? actProblem(inventory, s.deviceId, child, this.ctx.isRegistered);
      if (refused) return this.refuse(client, s, 41, '', refused, topic, payload, 'json');
    }
    const read = jsonToRecords(t, payload);
    if (read.error) return this.refuse(client, s, 45, '', read.error, topic, payload, 'json');
    // An update without a mapped fragment is still a record for the flow (its body is in `json`).
    const records = read.records;
    this.process(client, s, { child, mode: info.mode, topic, format: 'json', json: read.body }, records);
    if (!records.length) {
      const event: EndpointRecord = {
        record: { messageId: t.resource + '/' + t.action, fields: [], values: read.body, ...(child !== undefined ? { device: child } : {}) },
        kind: 'inventory', device: s.deviceId, mode: info.mode, tenant: this.ctx.tenant, topic, format: 'json', json: read.body,
      };
      if (child !== undefined) event.child = child;
      this.ctx.emit('record', event);
    }
  }

  /** Records of one publish (SmartREST lines, or those a JSON publish stands for): answered and emitted. */
  private process(
    client: Client,
    s: Session,
    p: {
      child?: string;
      mode: ProcessingMode;
      topic: string;
      lookup?: TemplateLookup;
      collection?: TemplateCollection;
      answerTopic?: string;
      format: 'smartrest' | 'json';
      json?: Record<string, unknown>;
    },
    records: string[][],
  ): void {
    const deviceId = s.deviceId;
    const { child, topic, lookup, format } = p;
    const target = child ?? deviceId;
    const { inventory, delivery } = this.ctx;
    const answer = emptyAnswer();
    const ctx = {
      deviceId,
      target,
      inventory,
      operations: this.ctx.operations,
      platformVersion: this.ctx.platformVersion,
      adoptProblem: (parent: string, c: string) => adoptProblem(inventory, deviceId, parent, c, this.ctx.isRegistered),
    };
    const mode = p.mode;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      const id = r[0];
      const control = r.findIndex((f) => FORBIDDEN_CONTROL.test(f));
      if (control >= 0) {
        this.refuse(client, s, 45, id, `field ${control + 1}: control characters are not allowed (only TAB, CR and LF)`, topic, recordText(r), format);
        continue;
      }
      const custom = lookup?.(id);
      const spec = custom ?? findTemplate(id);
      if (!spec || spec.direction !== 'up') {
        this.refuse(client, s, 40, id, lookup ? 'No template for this message id' : 'No static template for this message id', topic, recordText(r), format);
        continue;
      }
      let rec: DecodedRecord;
      try {
        rec = describeRecord(r, { strict: true, lookup, preferLookup: custom !== undefined, index: i + 1 });
      } catch (err) {
        if (!(err instanceof SmartRestRecordError)) throw err;
        this.refuse(client, s, 45, id, err.field ? `${err.field}: ${err.reason}` : err.reason, topic, recordText(r), format);
        continue;
      }
      if (child !== undefined) rec.device = child;
      const before = answer.changed.length;
      const errorsBefore = answer.errors.length;
      if (child !== undefined && !inventory.get(child) && (custom || rec.messageId !== 100)) {
        // A child's first line (other than its own `100`, which names it) creates it under the announcing device.
        if (!this.ensureChild(client, s, deviceId, child, topic, format)) continue;
      }
      if (!custom) answerRecord(ctx, rec, answer);
      else if (p.collection && p.answerTopic) this.answerGet(client, s, p.collection, p.answerTopic, rec, topic, recordText(r));
      for (let k = errorsBefore; k < answer.errors.length; k++) {
        const e = answer.errors[k];
        this.refuse(client, s, e.code, e.id, e.text, topic, recordText(r), format);
      }
      const event: EndpointRecord = { record: rec, kind: kindOf(spec.category, custom !== undefined), device: deviceId, mode, tenant: this.ctx.tenant, topic, format };
      if (p.json) event.json = p.json;
      if (child !== undefined) event.child = child;
      if (answer.changed.length > before) event.operations = answer.changed.slice(before);
      this.ctx.emit('record', event);
    }
    // Data for an unknown device or child creates it, as on the platform (after the records, so that a `100` in
    // the same payload names it).
    try {
      if (child !== undefined) {
        if (!inventory.get(child)) inventory.ensureChild(deviceId, child);
      } else if (!inventory.get(deviceId)) inventory.ensureDevice(deviceId);
    } catch (err) {
      if (!(err instanceof InventoryLimitError)) throw err;
      this.refuse(client, s, 41, '', err.message, topic, undefined, format);
    }
    for (const op of answer.changed) this.ctx.emit('operation', op);
    if (answer.replies.length) delivery.sendLines(deviceId, 's/ds', answer.replies);
    if (answer.redeliver) delivery.redeliver(deviceId);
  }

  private template(client: Client, s: Session, xid: string, text: string, topic: string): void {
    const { inventory, delivery } = this.ctx;
    if (text.trim() === '') {
      // Empty publish: does the collection exist?
      const c = inventory.collection(xid);
      delivery.send(s.deviceId, 's/dt', c ? serializeRecord(['20', xid, c.id]) : serializeRecord(['41', xid]));
      return;
    }
    if (inventory.collection(xid)) {
      this.refuse(client, s, 41, '', `Template collection ${xid} already exists and cannot be modified over MQTT`, topic);
      return;
    }
    try {
      const c = inventory.addCollection(xid, text)!;
      delivery.send(s.deviceId, 's/dt', serializeRecord(['20', xid, c.id]));
      this.ctx.emit('template', { device: s.deviceId, xid, collection: c.parsed });
    } catch (err) {
      this.refuse(client, s, 41, '', `Template creation error: ${(err as Error).message}`, topic, text);
    }
  }

  /**
   * A request template marked GET (`response=true`, the default for GET): the managed object it names, as the REST
   * API shows it, through every response template of the collection, on the collection's downstream topic.
   */
  private answerGet(client: Client, s: Session, collection: TemplateCollection, answerTopic: string, rec: DecodedRecord, topic: string, text: string): void {
    const t = collection.requests.find((r) => r.messageId === String(rec.messageId));
    if (!t || t.method !== 'GET' || t.response.toLowerCase() === 'false') return;
    const v = rec.values ?? {};
    const { inventory } = this.ctx;
    const mo = v.id !== undefined ? inventory.list().find((o) => o.id === String(v.id)) : inventory.get(String(v.externalId ?? ''));
    const what = v.id !== undefined ? `id ${String(v.id)}` : `external id ${String(v.externalId ?? '')}`;
    if (!mo) return this.refuse(client, s, 41, String(rec.messageId), `Managed object with ${what} not found`, topic, text);
    const refused = actProblem(inventory, s.deviceId, mo.externalId, this.ctx.isRegistered);
    if (refused) return this.refuse(client, s, 41, String(rec.messageId), refused, topic, text);
    const lines = responseRecords(collection.responses, managedObjectJson(mo)).map((r) => recordText(r));
    if (lines.length) this.ctx.delivery.sendLines(s.deviceId, answerTopic, lines);
  }

  /** Create a child under the device that announced it; false (refused with `41`) at an inventory bound. */
  private ensureChild(client: Client, s: Session, deviceId: string, child: string, topic: string, format: ProblemFormat): boolean {
    try {
      this.ctx.inventory.ensureChild(deviceId, child);
      return true;
    } catch (err) {
      if (!(err instanceof InventoryLimitError)) throw err;
      this.refuse(client, s, 41, '', err.message, topic, undefined, format);
      return false;
    }
  }

  /** Report a refused or invalid input: `s/e` line to the device (if it subscribed) and a 'problem' event. */
  private refuse(client: Client, s: Session, code: number, id: string, text: string, topic?: string, payload?: string | Buffer, format?: ProblemFormat): void {
    this.ctx.delivery.problem({ code, id, text }, s, client, undefined, topic, payload, format);
  }
}

/** A managed object as the REST API shows it (the fragments this endpoint keeps). */
export function managedObjectJson(mo: ManagedObject): Record<string, unknown> {
  return {
    id: mo.id,
    name: mo.name,
    type: mo.type,
    creationTime: mo.created,
    externalIds: [{ externalId: mo.externalId, type: 'c8y_Serial' }],
    ...(mo.isDevice ? { c8y_IsDevice: {} } : {}),
    c8y_SupportedOperations: mo.supportedOperations,
    childDevices: { references: mo.children.map((c) => ({ managedObject: { externalId: c } })) },
    ...(mo.c8y_RequiredAvailability ? { c8y_RequiredAvailability: mo.c8y_RequiredAvailability } : {}),
    ...(mo.c8y_Availability ? { c8y_Availability: mo.c8y_Availability } : {}),
    ...(mo.c8y_Connection ? { c8y_Connection: mo.c8y_Connection } : {}),
  };
}

/** A topic for a message: long ones shortened (the line must fit its own size limit). */
function showTopic(topic: string): string {
  return topic.length > 200 ? `${topic.slice(0, 200)}… (${Buffer.byteLength(topic)} bytes)` : topic;
}
