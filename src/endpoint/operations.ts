/**
 * Operations per device, as the platform keeps them (reference §4.5, §10): PENDING → EXECUTING →
 * SUCCESSFUL / FAILED. `501`–`503` act on the oldest operation with the fragment (501: PENDING, 502/503:
 * EXECUTING), `504`–`506` on an id that must belong to the device, `507` fails every EXECUTING one.
 * Open operations (PENDING, EXECUTING) and the id sequence are written through an EndpointStore and restored on
 * start (`restore`), so they survive a full deploy and a restart of Node-RED; finished ones are kept in memory only
 * (the last FINISHED_KEPT per device, for 504–506 lookups). Ids are time-ordered and never repeat (IdSequence).
 */
import { parse, serializeRecord } from '../smartrest/codec';
import { findTemplate } from '../smartrest/catalogue';
import { recordList } from '../smartrest/message';
import { recordToFields, SmartRestRecordError } from '../smartrest/records';
import type { RecordInput } from '../smartrest/types';
import { responseSpec, type TemplateCollection } from '../smartrest/custom';
import { compareIds, IdSequence, type EndpointStore, type StoreChange } from './store';

export type OperationStatus = 'PENDING' | 'EXECUTING' | 'SUCCESSFUL' | 'FAILED';

export interface Operation {
  /** Numeric text, unique per endpoint forever (time-ordered, see IdSequence). */
  id: string;
  /** Root device whose connection receives it (on s/ds or s/dc/<X-ID>). */
  deviceId: string;
  /** External id of the device or child that executes it (field 1 of static operation lines). */
  target: string;
  /** Operation fragment, e.g. `c8y_Restart` (empty when unknown, e.g. custom lines without msg.fragment). */
  fragment: string;
  messageId: number | string;
  /** Downstream topic: `s/ds` or `s/dc/<X-ID>`. */
  topic: string;
  /** The SmartREST line sent to the device. */
  line: string;
  status: OperationStatus;
  created: string;
  updated: string;
  failureReason?: string;
  /** Extra parameters of 503/506 (e.g. the result of c8y_Command). */
  parameters?: string[];
  /** Id of the node that created it (`c8y-endpoint-out`): that node reports its changes, also after a restart. */
  source?: string;
}

/** Finished operations kept per device (for 504–506 lookups and inspection). */
const FINISHED_KEPT = 100;
/** Open (PENDING/EXECUTING) operations allowed per device. */
export const OPEN_LIMIT = 1000;
/** Open operations allowed on the whole endpoint, by count and by the bytes of their lines (what is stored). */
export const OPEN_TOTAL_LIMIT = 100_000;
export const OPEN_BYTES_LIMIT = 64 * 1024 * 1024;

export class OperationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OperationError';
  }
}

export interface EncodedOperation {
  line: string;
  fragment: string;
  messageId: number | string;
  target: string;
}

/**
 * Encode operation records (any form smartrest-encode accepts) for `target`. Static lines must be downstream
 * operations (510–531); named records get `device` = target when they have none; raw/array records carry the
 * target as their first field and it must be `target`. With `xid`, records are custom lines sent unchecked.
 */
/**
 * Operation lines for `s/ds` (static templates 510–531, checked), or for `s/dc/<X-ID>` with `xid`: when the
 * collection is known (registered by a device on `s/ut`), a named record `{messageId, values}` is rendered with its
 * response template (`<id>,<target>,<value of each pattern…>`, the fragment from the template's base) and a raw
 * record is checked against it; without a collection (or for ids it does not define) lines go unchecked.
 */
export function encodeOperations(payload: unknown, target: string, options: { xid?: string; fragment?: string; collection?: TemplateCollection } = {}): EncodedOperation[] {
  const inputs: RecordInput[] = typeof payload === 'string' ? parse(payload).map((r) => r as RecordInput) : recordList(payload);
  return inputs.map((input, i) => {
    if (options.xid !== undefined) {
      const coll = options.collection;
      const id = Array.isArray(input) ? String(input[0]) : String((input as { messageId?: unknown }).messageId ?? '');
      const t = coll?.responses.find((r) => r.messageId === id);
      // A target is always written: these are operations for one device (patterns + 1 fields forces it).
      const spec = t ? responseSpec(coll!.xid, t, t.patterns.length + 1) : undefined;
      let rec = input;
      if (spec && !Array.isArray(rec) && rec && typeof rec === 'object' && 'values' in rec && rec.device === undefined) rec = { ...rec, device: target };
      const fields = recordToFields(rec, { index: i + 1, allowUnknown: true, ...(spec ? { lookup: (m: string) => (m === id ? spec : undefined) } : {}) });
      return { line: serializeRecord(fields), fragment: options.fragment ?? spec?.operation ?? '', messageId: fields[0], target };
    }
    let rec = input;
    if (!Array.isArray(rec) && rec && typeof rec === 'object' && 'values' in rec && rec.device === undefined) rec = { ...rec, device: target };
    const fields = recordToFields(rec, { index: i + 1 });
    const spec = findTemplate(fields[0]);
    if (!spec || spec.category !== 'operation' || !spec.operation) {
      throw new SmartRestRecordError(`message ID ${fields[0]} is not a downstream operation template (510–531)`, { record: i + 1 });
    }
    if (fields[1] !== target) {
      throw new SmartRestRecordError(`the operation targets ${JSON.stringify(fields[1] ?? '')}, but the message addresses ${JSON.stringify(target)} (msg.child, else msg.device)`, { record: i + 1, template: String(spec.id), field: 'device' });
    }
    return { line: serializeRecord(fields), fragment: spec.operation, messageId: spec.id, target };
  });
}

const isOpen = (o: Operation) => o.status === 'PENDING' || o.status === 'EXECUTING';

export class OperationStore {
  private readonly byDevice = new Map<string, Operation[]>();
  private readonly byId = new Map<string, Operation>();
  private readonly ids: IdSequence;
  private openCount = 0;
  private openBytes = 0;
  private store: EndpointStore | undefined;
  /** Called when a write to the store fails (the operation stays in memory; the next change writes again). */
  onStoreError: (err: Error) => void = () => {};

  constructor(options: { now?: () => number } = {}) {
    this.ids = new IdSequence(0, options.now);
  }

  /**
   * Load the open operations of `store` and write every later change to it. Operations of a device `known` does
   * not know any more, and those beyond the bounds (newest first), are dropped: returned FAILED with the reason,
   * for the flow to hear of them.
   */
  async restore(store: EndpointStore, known: (deviceId: string) => boolean = () => true): Promise<Operation[]> {
    const [stored, sequences] = await Promise.all([store.load<Operation>('operations'), store.load<number>('sequences')]);
    this.ids.observe(sequences.get('operations') ?? 0);
    const dropped: Operation[] = [];
    const removed: StoreChange[] = [];
    const list = [...stored.values()].filter((o) => o && typeof o.id === 'string' && typeof o.deviceId === 'string').sort((a, b) => compareIds(a.id, b.id));
    for (const o of list) {
      this.ids.observe(o.id);
      if (this.byId.has(o.id)) continue;
      const beyond = isOpen(o) && known(o.deviceId) ? this.refusal(o.deviceId, Buffer.byteLength(o.line ?? '')) : undefined;
      const reason = !isOpen(o) ? undefined : !known(o.deviceId) ? `dropped: device ${o.deviceId} was removed` : beyond && `dropped: ${beyond}`;
      if (reason) {
        removed.push({ key: o.id });
        const failed = { ...o, status: 'FAILED' as const, failureReason: reason, updated: new Date().toISOString() };
        this.add(failed);
        dropped.push({ ...failed });
        continue;
      }
      if (isOpen(o)) this.add({ ...o });
      else removed.push({ key: o.id });
    }
    this.store = store;
    if (removed.length) this.persist(removed);
    for (const o of dropped) this.trim(o.deviceId);
    return dropped;
  }

  create(op: Pick<Operation, 'deviceId' | 'target' | 'fragment' | 'messageId' | 'topic' | 'line' | 'source'>): Operation {
    const refusal = this.refusal(op.deviceId, Buffer.byteLength(op.line));
    if (refusal) throw new OperationError(refusal);
    const now = new Date().toISOString();
    const o: Operation = { ...op, id: this.ids.next(), status: 'PENDING', created: now, updated: now };
    if (o.source === undefined) delete o.source;
    this.add(o);
    this.persist([{ key: o.id, value: o }]);
    return o;
  }

  /** Why one more open operation of `lineBytes` for the device is refused, if it is. */
  private refusal(deviceId: string, lineBytes: number): string | undefined {
    const open = (this.byDevice.get(deviceId) ?? []).reduce((n, o) => n + (isOpen(o) ? 1 : 0), 0);
    if (open >= OPEN_LIMIT) return `device ${deviceId} already has ${open} open operations (limit ${OPEN_LIMIT})`;
    if (this.openCount >= OPEN_TOTAL_LIMIT) return `the endpoint already holds ${this.openCount} open operations (limit ${OPEN_TOTAL_LIMIT})`;
    if (this.openBytes + lineBytes > OPEN_BYTES_LIMIT) return `the open operations of the endpoint would exceed ${OPEN_BYTES_LIMIT} bytes`;
    return undefined;
  }

  private add(o: Operation): void {
    this.list(o.deviceId).push(o);
    this.byId.set(o.id, o);
    if (isOpen(o)) this.count(o, 1);
  }

  private count(o: Operation, sign: 1 | -1): void {
    this.openCount += sign;
    this.openBytes += sign * Buffer.byteLength(o.line ?? '');
  }

  private persist(changes: StoreChange[]): void {
    if (!this.store) return;
    this.store.write('sequences', [{ key: 'operations', value: this.ids.value }]).catch((err: Error) => this.onStoreError(err));
    this.store.write('operations', changes).catch((err: Error) => this.onStoreError(err));
  }

  /** Open operations on the whole endpoint. */
  get openTotal(): number {
    return this.openCount;
  }

  get(id: string): Operation | undefined {
    return this.byId.get(id);
  }
  /** PENDING operations of a device, oldest first. */
  pending(deviceId: string): Operation[] {
    return (this.byDevice.get(deviceId) ?? []).filter((o) => o.status === 'PENDING');
  }

  all(deviceId?: string): Operation[] {
    return deviceId !== undefined ? (this.byDevice.get(deviceId) ?? []).slice() : [...this.byId.values()];
  }

  /** 501 / 502 / 503. `target` is the device or child the status line was published for. */
  setByFragment(deviceId: string, target: string, fragment: string, to: 'EXECUTING' | 'FAILED' | 'SUCCESSFUL', extra: { failureReason?: string; parameters?: string[] } = {}): Operation {
    const from: OperationStatus = to === 'EXECUTING' ? 'PENDING' : 'EXECUTING';
    const op = (this.byDevice.get(deviceId) ?? []).find((o) => o.status === from && o.fragment === fragment && o.target === target);
    if (!op) throw new OperationError(`no ${from} operation with fragment ${fragment} for device ${target}`);
    return this.move(op, to, extra);
  }

  /** 504 / 505 / 506: the operation must belong to the device (or one of its children). */
  setById(deviceId: string, id: string, to: 'EXECUTING' | 'FAILED' | 'SUCCESSFUL', extra: { failureReason?: string; parameters?: string[] } = {}): Operation {
    const op = this.byId.get(id);
    if (!op || op.deviceId !== deviceId) throw new OperationError(`operation with id ${id} for device ${deviceId} not found`);
    const ok = to === 'EXECUTING' ? op.status === 'PENDING' || op.status === 'EXECUTING' : op.status === 'PENDING' || op.status === 'EXECUTING';
    if (!ok) throw new OperationError(`operation ${id} is already ${op.status}`);
    if (op.status === to) return op;
    return this.move(op, to, extra);
  }

  /** 507: fail every EXECUTING operation (of `fragment`, when given) of the device or child. */
  failExecuting(deviceId: string, target: string, fragment: string | undefined, reason: string | undefined): Operation[] {
    const ops = (this.byDevice.get(deviceId) ?? []).filter((o) => o.status === 'EXECUTING' && o.target === target && (!fragment || o.fragment === fragment));
    return ops.map((o) => this.move(o, 'FAILED', { failureReason: reason }));
  }

  private move(op: Operation, to: OperationStatus, extra: { failureReason?: string; parameters?: string[] }): Operation {
    const wasOpen = isOpen(op);
    op.status = to;
    op.updated = new Date().toISOString();
    if (to === 'FAILED' && extra.failureReason !== undefined) op.failureReason = extra.failureReason;
    if (to === 'SUCCESSFUL' && extra.parameters?.length) op.parameters = extra.parameters;
    if (wasOpen && !isOpen(op)) this.count(op, -1);
    this.persist([isOpen(op) ? { key: op.id, value: op } : { key: op.id }]);
    if (to === 'SUCCESSFUL' || to === 'FAILED') this.trim(op.deviceId);
    return { ...op };
  }

  private list(deviceId: string): Operation[] {
    let list = this.byDevice.get(deviceId);
    if (!list) this.byDevice.set(deviceId, (list = []));
    return list;
  }

  /** Drop the oldest finished operations beyond FINISHED_KEPT. */
  private trim(deviceId: string): void {
    const list = this.byDevice.get(deviceId);
    if (!list) return;
    let finished = list.reduce((n, o) => n + (o.status === 'SUCCESSFUL' || o.status === 'FAILED' ? 1 : 0), 0);
    if (finished <= FINISHED_KEPT) return;
    const keep: Operation[] = [];
    for (const o of list) {
      if (finished > FINISHED_KEPT && (o.status === 'SUCCESSFUL' || o.status === 'FAILED')) {
        finished--;
        this.byId.delete(o.id);
      } else keep.push(o);
    }
    this.byDevice.set(deviceId, keep);
  }
}
