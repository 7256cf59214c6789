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

/** Static ids `answerRecord` acts on; records with other ids (measurements, alarms, …) need no answer. */
export const ANSWERED_IDS: ReadonlySet<number | string> = new Set([100, 101, 105, 114, 123, 500, 501, 502, 503, 504, 505, 506, 507, 600, 602]);

/** Apply one decoded record (already validated against its template). */
export function answerRecord(ctx: AnswerContext, rec: DecodedRecord, out: Answer): void {
  const v = rec.values ?? {};
  const id = String(rec.messageId);
  const { deviceId, target, inventory, operations } = ctx;
  try {
    switch (rec.messageId) {
      case 100:
        if (target === deviceId) inventory.ensureDevice(deviceId, str(v.name), str(v.type));
        else inventory.ensureChild(deviceId, target, str(v.name), str(v.type));
        break;
      case 101:
        inventory.ensureChild(target, str(v.uniqueChildId), str(v.name), str(v.type), v.deviceMarker !== false);
        break;
      case 105:
        out.replies.push(serializeRecord(['106', ...inventory.children(target)]));
        break;
      case 114:
        inventory.setSupportedOperations(target, ((v.operations as unknown[]) ?? []).map(str));
        break;
      case 123:
        out.replies.push(serializeRecord(['124', inventory.ensureDevice(target).mo.id]));
        break;
      case 500:
        out.redeliver = true;
        break;
      case 501:
        out.changed.push(operations.setByFragment(deviceId, target, str(v.fragment), 'EXECUTING'));
        break;
      case 502:
        out.changed.push(operations.setByFragment(deviceId, target, str(v.fragment), 'FAILED', { failureReason: str(v.failureReason) }));
        break;
      case 503:
        out.changed.push(operations.setByFragment(deviceId, target, str(v.fragment), 'SUCCESSFUL', { parameters: ((v.parameters as unknown[]) ?? []).map(str) }));
        break;
      case 504:
        out.changed.push(operations.setById(deviceId, str(v.operationId), 'EXECUTING'));
        break;
      case 505:
        out.changed.push(operations.setById(deviceId, str(v.operationId), 'FAILED', { failureReason: str(v.failureReason) }));
        break;
      case 506:
        out.changed.push(operations.setById(deviceId, str(v.operationId), 'SUCCESSFUL', { parameters: ((v.parameters as unknown[]) ?? []).map(str) }));
        break;
      case 507:
        out.changed.push(...operations.failExecuting(deviceId, target, str(v.fragment) || undefined, str(v.failureReason) || undefined));
        break;
      case 600:
        out.replies.push(serializeRecord(['601', ctx.platformVersion]));
        break;
      case 602:
        out.replies.push(serializeRecord(['603', ...UPSTREAM_IDS.map(String)]));
        break;
      default:
        break;
    }
  } catch (err) {
    // Operation not found / wrong state: refused, as the platform reports it on s/e.
    if (err instanceof OperationError || err instanceof InventoryLimitError) out.errors.push({ code: 41, id, text: err.message });
    else throw err;
  }
}
