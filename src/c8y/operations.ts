/**
 * Operations on the device side (reference §4.5, §10). `501`–`503` act on the OLDEST operation with the
 * fragment, so operations of one fragment (per target device, since a child's status goes to its own topic)
 * are handed to the flow one at a time in arrival order: `FragmentQueues` holds the others until the result of
 * the current one was published. Results become `503`/`502` lines through the codec.
 */
import { encodeRecords, type EncodedPayload } from '../smartrest/message';
import type { DecodedRecord } from '../smartrest/types';

/** What identifies an operation in a result message (`msg.operation`, set by `c8y-in`). */
export interface OperationRef {
  /** Operation fragment, e.g. `c8y_Restart`. */
  fragment: string;
  /** External id of the target (the device itself or a child). */
  device: string;
  /** Message id of the line it came in with (e.g. 510). */
  messageId: number | string;
  /** Sequence number given on receipt (unique per device connection). */
  seq: number;
  /** Id of the `c8y-device` config node that received it. */
  connection: string;
  /**
   * Random per start of that config node: a result from before a redeploy (where `seq` starts again at 1) must
   * not complete an operation received after it.
   */
  instance?: string;
  /**
   * Platform id of the operation, when it came with one (JSON from `devicecontrol/notifications`): its result is
   * then sent by id (`504`/`505`/`506`), which does not depend on which operation of the fragment is the oldest.
   */
  operationId?: string;
}

/** Longest failure reason sent in a `502`, in UTF-8 bytes before escaping. */
export const MAX_REASON_BYTES = 500;

/** Cut a string to at most `max` UTF-8 bytes, on a code point boundary. */
export function truncateUtf8(text: string, max: number): string {
  if (Buffer.byteLength(text, 'utf8') <= max) return text;
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max) break;
    bytes += n;
    end += ch.length;
  }
  return text.slice(0, end);
}

export type OperationResult =
  | { status: 'SUCCESSFUL'; result?: unknown[] | string | number }
  | { status: 'FAILED'; reason?: string }
  | { status: 'EXECUTING' };

/** Operation fragment and target of a decoded downstream line, or undefined for a non-operation (106, 124, 601…). */
export function operationOf(record: DecodedRecord): { fragment: string; device: string } | undefined {
  if (!record.name || !/^[A-Za-z][\w.-]*$/.test(record.name) || record.device === undefined) return undefined;
  return { fragment: record.name, device: record.device };
}

export const queueKey = (op: { fragment: string; device: string }): string => `${op.device}\u0000${op.fragment}`;

/**
 * Per-key FIFO: the first item of each key is "released"; `done(key)` releases the next. At most `maxPerKey`
 * items per key (the one in progress included): `push` refuses more (returns -1), so a flow that never answers
 * cannot make the queue grow without bound.
 */
export class FragmentQueues<T> {
  private readonly queues = new Map<string, T[]>();
  constructor(
    private readonly keyOf: (item: T) => string,
    private readonly release: (item: T) => void,
    private readonly maxPerKey = 1000,
  ) {}

  /** Queue an item; released at once when nothing of its key is in progress. Returns the queue position (0 = released), -1 when the key's queue is full. */
  push(item: T): number {
    const key = this.keyOf(item);
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = []));
    if (q.length >= this.maxPerKey) return -1;
    q.push(item);
    if (q.length === 1) this.release(item);
    return q.length - 1;
  }

  /** The item in progress for a key. */
  current(key: string): T | undefined {
    return this.queues.get(key)?.[0];
  }

  /** Finish the item in progress (only if `match` accepts it); the next of the key is released. */
  done(key: string, match: (item: T) => boolean = () => true): boolean {
    const q = this.queues.get(key);
    if (!q?.length || !match(q[0])) return false;
    q.shift();
    if (q.length) this.release(q[0]);
    else this.queues.delete(key);
    return true;
  }

  /** The items in progress, one per key. */
  inProgress(): T[] {
    return [...this.queues.values()].map((q) => q[0]);
  }

  /** Items waiting or in progress, all keys. */
  get size(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** Drop the waiting items, keep the one in progress of each key (no release). Returns how many were dropped. */
  dropWaiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.splice(1).length;
    return n;
  }

  clear(): void {
    this.queues.clear();
  }
}

/** Normalise `msg.payload` of a result message; throws with a clear text when it is not one. */
export function readResult(payload: unknown): OperationResult {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new Error('an operation result needs msg.payload = { status: "SUCCESSFUL", result?: [...] } or { status: "FAILED", reason }');
  }
  const p = payload as { status?: unknown; result?: unknown; reason?: unknown };
  const status = typeof p.status === 'string' ? p.status.toUpperCase() : '';
  if (status === 'SUCCESSFUL') {
    if (p.result !== undefined && !Array.isArray(p.result) && typeof p.result !== 'string' && typeof p.result !== 'number') throw new Error('msg.payload.result must be an array of values, a string or a number');
    return { status, ...(p.result !== undefined ? { result: p.result as unknown[] } : {}) };
  }
  if (status === 'FAILED') return { status, reason: p.reason === undefined ? '' : String(p.reason) };
  if (status === 'EXECUTING') return { status };
  throw new Error(`msg.payload.status must be "SUCCESSFUL", "FAILED" or "EXECUTING"; got ${JSON.stringify(p.status)}`);
}

/**
 * `501`/`502`/`503` for an operation, on `s/us` for the device itself or `s/us/<child>` for a child.
 * Each result value is its own field (c8y_RelayArray needs that, thin-edge #2438); a long failure reason is
 * shortened to fit (an unterminated or oversize reason leaves the operation stuck, thin-edge #2567).
 */
export function statusLines(op: { fragment: string; device: string; operationId?: string }, result: OperationResult, rootId: string): EncodedPayload[] {
  const child = op.device && op.device !== rootId ? op.device : undefined;
  if (op.operationId) return statusLinesById(op.operationId, result, child);
  let fields: string[];
  let id: number;
  if (result.status === 'SUCCESSFUL') {
    id = 503;
    fields = [op.fragment, ...resultFields(result.result)];
  } else if (result.status === 'FAILED') {
    id = 502;
    fields = [op.fragment, truncateUtf8(result.reason ?? '', MAX_REASON_BYTES)];
  } else {
    id = 501;
    fields = [op.fragment];
  }
  return encodeRecords([{ messageId: id, fields }], { child, truncate: true });
}

/** Result values as fields: each value its own field, objects as JSON. */
function resultFields(r: unknown[] | string | number | undefined): string[] {
  const values = r === undefined ? [] : Array.isArray(r) ? r : [r];
  return values.map((v) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)));
}

/** Operation ids are platform ids (digits); anything else would make a 504-506 line the platform cannot match. */
export function checkOperationId(id: unknown): string {
  const text = typeof id === 'number' && Number.isInteger(id) && id > 0 ? String(id) : typeof id === 'string' ? id.trim() : '';
  if (!/^[0-9]{1,19}$/.test(text)) throw new Error(`msg.operationId must be the platform's operation id (digits); got ${JSON.stringify(id)}`);
  return text;
}

/**
 * `504`/`505`/`506` (EXECUTING / FAILED / SUCCESSFUL by operation id, Cumulocity 10.18+), on the topic of the device
 * that owns the operation (`s/us` or `s/us/<child>`: the platform reports "not found" otherwise, thin-edge #3788).
 */
export function statusLinesById(operationId: string, result: OperationResult, child?: string): EncodedPayload[] {
  const id = checkOperationId(operationId);
  const record =
    result.status === 'SUCCESSFUL'
      ? { messageId: 506, fields: [id, ...resultFields(result.result)] }
      : result.status === 'FAILED'
        ? { messageId: 505, fields: [id, truncateUtf8(result.reason ?? '', MAX_REASON_BYTES)] }
        : { messageId: 504, fields: [id] };
  return encodeRecords([record], { child, truncate: true });
}

/**
 * `507`: set every EXECUTING operation (of `fragment`, or all when empty) of the device or child to FAILED, e.g. when
 * an agent starts again after a crash and cannot finish what it had begun.
 */
export function failExecutingLines(fragment: string | undefined, reason: string | undefined, child?: string): EncodedPayload[] {
  const f = (fragment ?? '').trim();
  if (f && !/^[A-Za-z][\w.-]*$/.test(f)) throw new Error(`the fragment of a 507 must be an operation fragment like c8y_Restart; got ${JSON.stringify(fragment)}`);
  return encodeRecords([{ messageId: 507, fields: [f, truncateUtf8(reason ?? '', MAX_REASON_BYTES)] }], { child, truncate: true });
}
