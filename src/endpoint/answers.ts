/**
 * What the endpoint answers by itself to a device's static records, as the platform does (reference §4):
 * `100`/`101` create the device/child (idempotent), `105`→`106`, `114` supported operations, `123`→`124`,
 * `500` re-delivery of PENDING operations, `501`–`507` operation status, `600`→`601`, `602`→`603`.
 * Pure: acts on the inventory and the operation store and returns replies, errors and changes.
 */
import { serializeRecord } from '../smartrest/codec';
import { STATIC_TEMPLATES } from '../smartrest/catalogue';
import type { DecodedRecord } from '../smartrest/types';
import { InventoryLimitError, type Inventory } from './inventory';
import { OperationError, type Operation, type OperationStore } from './operations';

export interface AnswerContext {
  /** Root device of the connection. */
  deviceId: string;
  /** Device or child the record was published for (child id of `s/us/<child>`, else deviceId). */
  target: string;
  inventory: Inventory;
  operations: OperationStore;
  platformVersion: string;
  /** Why `parent` may not have `child` as its child (`101`), else undefined; without it every `101` is taken. */
  adoptProblem?: (parent: string, child: string) => string | undefined;
}

export interface Answer {
  /** Lines for `s/ds`. */
  replies: string[];
  /** `s/e` lines to send: code, related message id, text. */
  errors: { code: number; id: string; text: string }[];
  /** Operations whose status changed (snapshots after the change). */
  changed: Operation[];
  /** `500`: re-deliver the PENDING operations. */
  redeliver: boolean;
}

export function emptyAnswer(): Answer {
  return { replies: [], errors: [], changed: [], redeliver: false };
}

/** Upstream static template ids the endpoint accepts, for `603`. */
export const UPSTREAM_IDS: readonly number[] = STATIC_TEMPLATES.filter((t) => t.direction === 'up').map((t) => t.id);

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

type Values = Record<string, unknown>;
type Handler = (ctx: AnswerContext, v: Values, out: Answer) => void;

const list = (v: unknown) => ((v as unknown[]) ?? []).map(str);

/** One handler per static id the endpoint answers; records with other ids (measurements, alarms, …) need none. */
const HANDLERS: Record<number, Handler> = {
  100: ({ deviceId, target, inventory }, v) => {
    // Idempotent: an existing device or child (also a grandchild) keeps its name and its place.
    if (inventory.get(target)) return;
    if (target === deviceId) inventory.ensureDevice(deviceId, str(v.name), str(v.type));
    else inventory.ensureChild(deviceId, target, str(v.name), str(v.type));
  },
  101: ({ target, inventory, adoptProblem }, v, out) => {
    const child = str(v.uniqueChildId);
    const refused = adoptProblem?.(target, child);
    if (refused) return void out.errors.push({ code: 41, id: '101', text: refused });
    inventory.ensureChild(target, child, str(v.name), str(v.type), v.deviceMarker !== false);
  },
  105: ({ target, inventory }, _v, out) => void out.replies.push(serializeRecord(['106', ...inventory.children(target)])),
  114: ({ target, inventory }, v) => inventory.setSupportedOperations(target, list(v.operations)),
  123: ({ target, inventory }, _v, out) => void out.replies.push(serializeRecord(['124', inventory.ensureDevice(target).mo.id])),
  500: (_ctx, _v, out) => void (out.redeliver = true),
  501: ({ deviceId, target, operations }, v, out) => void out.changed.push(operations.setByFragment(deviceId, target, str(v.fragment), 'EXECUTING')),
  502: ({ deviceId, target, operations }, v, out) =>
    void out.changed.push(operations.setByFragment(deviceId, target, str(v.fragment), 'FAILED', { failureReason: str(v.failureReason) })),
  503: ({ deviceId, target, operations }, v, out) =>
    void out.changed.push(operations.setByFragment(deviceId, target, str(v.fragment), 'SUCCESSFUL', { parameters: list(v.parameters) })),
  504: ({ deviceId, operations }, v, out) => void out.changed.push(operations.setById(deviceId, str(v.operationId), 'EXECUTING')),
  505: ({ deviceId, operations }, v, out) => void out.changed.push(operations.setById(deviceId, str(v.operationId), 'FAILED', { failureReason: str(v.failureReason) })),
  506: ({ deviceId, operations }, v, out) => void out.changed.push(operations.setById(deviceId, str(v.operationId), 'SUCCESSFUL', { parameters: list(v.parameters) })),
  507: ({ deviceId, target, operations }, v, out) =>
    void out.changed.push(...operations.failExecuting(deviceId, target, str(v.fragment) || undefined, str(v.failureReason) || undefined)),
  600: (ctx, _v, out) => void out.replies.push(serializeRecord(['601', ctx.platformVersion])),
  602: (_ctx, _v, out) => void out.replies.push(serializeRecord(['603', ...UPSTREAM_IDS.map(String)])),
};

/** Static ids `answerRecord` acts on; for any other id it returns at once. */
export const ANSWERED_IDS: ReadonlySet<number | string> = new Set(Object.keys(HANDLERS).map(Number));

/** Apply one decoded record (already validated against its template). */
export function answerRecord(ctx: AnswerContext, rec: DecodedRecord, out: Answer): void {
  const handler = typeof rec.messageId === 'number' ? HANDLERS[rec.messageId] : undefined;
  if (!handler) return;
  try {
    handler(ctx, rec.values ?? {}, out);
  } catch (err) {
    // Operation not found / wrong state: refused, as the platform reports it on s/e.
    if (err instanceof OperationError || err instanceof InventoryLimitError) out.errors.push({ code: 41, id: String(rec.messageId), text: err.message });
    else throw err;
  }
}
