/**
 * Cumulocity's JSON via MQTT (reference §2.4), pure: the topic grammar (`[<mode>/]<api>/<resource>/<action>[/<id>]`),
 * records (the same inputs `c8y-out` takes for SmartREST) mapped to the REST API's JSON bodies, operations read from
 * `devicecontrol/notifications`, and errors read from `error`. No Node-RED, no sockets: the device nodes use it, and
 * the endpoint side can reuse it.
 *
 * Decisions: the persistent mode has no prefix (`measurement/measurements/create`), the others prefix the topic
 * (`t/…`, `q/…`, `c/…`); `time` is filled with the current time when a record has none (the REST API requires it);
 * `source` is never sent (the platform fills it from the ClientId and overrides anything else); inventory updates
 * go to `inventory/managedObjects/update/<external id>` as thin-edge does. Records without a JSON counterpart here
 * are refused with a message that says so (send them as SmartREST).
 */
import { recordToFields } from '../smartrest/records';
import type { ProcessingMode, RecordInput } from '../smartrest/types';

export const JSON_OPERATIONS_TOPIC = 'devicecontrol/notifications';
export const JSON_ERROR_TOPIC = 'error';

/** The upstream JSON topics a device may publish to (create/update/delete with an optional id). */
const UPSTREAM = /^(?:([tqc])\/)?(measurement\/measurements|event\/events|alarm\/alarms|inventory\/managedObjects)\/(create|createBulk|update|delete)(?:\/([^/+#]+))?$/;

export interface JsonTopic {
  mode: ProcessingMode;
  /** `measurement/measurements`, `event/events`, `alarm/alarms`, `inventory/managedObjects`. */
  resource: string;
  action: 'create' | 'createBulk' | 'update' | 'delete';
  id?: string;
}

/** Parse an upstream JSON topic, or undefined when it is not one. */
export function parseJsonTopic(topic: string): JsonTopic | undefined {
  const m = UPSTREAM.exec(topic);
  if (!m) return undefined;
  const action = m[3] as JsonTopic['action'];
  // update and delete need an id, create(Bulk) takes none
  if ((action === 'update' || action === 'delete') !== !!m[4]) return undefined;
  return { mode: (m[1] as ProcessingMode | undefined) ?? 's', resource: m[2], action, ...(m[4] ? { id: m[4] } : {}) };
}

/** `measurement/measurements/create`, `t/event/events/create`, `inventory/managedObjects/update/<id>`. */
export function jsonTopic(resource: string, action: JsonTopic['action'], mode: ProcessingMode = 's', id?: string): string {
  return `${mode === 's' ? '' : `${mode}/`}${resource}/${action}${id ? `/${id}` : ''}`;
}

/** One JSON publish. */
export interface JsonMessage {
  topic: string;
  body: Record<string, unknown>;
}

const SEVERITY: Record<string, string> = { '301': 'CRITICAL', '302': 'MAJOR', '303': 'MINOR', '304': 'WARNING' };

export interface JsonRecordOptions {
  mode?: ProcessingMode;
  /** External id of the device (for inventory updates). */
  deviceId: string;
  /** Current time as ISO 8601 (tests pass a fixed one). */
  now?: () => string;
}

function num(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`${what} must be a number; got ${JSON.stringify(text)}`);
  return n;
}

/** The record ids mapped to JSON here. */
export const JSON_RECORD_IDS = [100, 110, 114, 200, 301, 302, 303, 304, 400] as const;

/**
 * A SmartREST record (any form `smartrest-encode` takes, checked against its template) as the REST API's JSON:
 * 200 → measurement, 400 → event, 301–304 → alarm with its severity, 100 → managed object create,
 * 110 / 114 → update of the device's managed object (c8y_Hardware / c8y_SupportedOperations).
 */
export function recordToJson(input: RecordInput, options: JsonRecordOptions): JsonMessage {
  const [id, ...f] = recordToFields(input);
  const mode = options.mode ?? 's';
  const time = (t: string | undefined) => (t && t.trim() ? t : (options.now ?? (() => new Date().toISOString()))());
  const inventoryMode = () => {
    if (mode === 'q' || mode === 'c') throw new Error(`processing mode ${mode} applies to measurements and events only, not to ${id}`);
  };
  switch (id) {
    case '200': {
      const [fragment, series, value, unit, t] = f;
      return { topic: jsonTopic('measurement/measurements', 'create', mode), body: { type: fragment, time: time(t), [fragment]: { [series]: { value: num(value, 'value'), ...(unit ? { unit } : {}) } } } };
    }
    case '400': {
      const [type, text, t] = f;
      return { topic: jsonTopic('event/events', 'create', mode), body: { type, text, time: time(t) } };
    }
    case '301':
    case '302':
    case '303':
    case '304': {
      if (mode === 'q' || mode === 'c') throw new Error(`processing mode ${mode} applies to measurements and events only, not to alarms`);
      const [type, text, t] = f;
      return { topic: jsonTopic('alarm/alarms', 'create', mode), body: { type, text: text || type, severity: SEVERITY[id], time: time(t) } };
    }
    case '100': {
      inventoryMode();
      const [name, type] = f;
      return { topic: jsonTopic('inventory/managedObjects', 'create', mode), body: { name, type: type || 'c8y_Device', c8y_IsDevice: {} } };
    }
    case '110': {
      inventoryMode();
      const [serialNumber, model, revision] = f;
      const hw = { ...(serialNumber ? { serialNumber } : {}), ...(model ? { model } : {}), ...(revision ? { revision } : {}) };
      return { topic: jsonTopic('inventory/managedObjects', 'update', mode, options.deviceId), body: { c8y_Hardware: hw } };
    }
    case '114': {
      inventoryMode();
      return { topic: jsonTopic('inventory/managedObjects', 'update', mode, options.deviceId), body: { c8y_SupportedOperations: f.filter(Boolean) } };
    }
    default:
      throw new Error(`record ${id} has no JSON mapping (JSON covers ${JSON_RECORD_IDS.join(', ')}): send it as SmartREST, or send a REST body with msg.topic set to a JSON topic`);
  }
}

/** Keys of an operation that are not its fragment (REST API, devicecontrol). */
const OPERATION_KEYS = new Set(['id', 'self', 'deviceId', 'deviceName', 'status', 'description', 'creationTime', 'externalSource', 'delivery', 'bulkOperationId', 'failureReason', 'agentId']);

/** An operation as `devicecontrol/notifications` delivers it. */
export interface JsonOperation {
  /** Operation id (for 504/505/506). */
  id: string;
  /** The operation fragment, e.g. `c8y_Restart`. */
  fragment: string;
  /** External id of the target (from `externalSource`), or the numeric `deviceId` when there is none. */
  device: string;
  /** The whole operation as received. */
  body: Record<string, unknown>;
}

/** Problems of one notification payload, kept apart from the operations that could be read. */
export interface JsonOperationsResult {
  operations: JsonOperation[];
  issues: string[];
}

/**
 * Read a `devicecontrol/notifications` payload: one operation object, or an array of them (several operations in one
 * message, thin-edge #3301). Operations without id or fragment are reported, not guessed.
 */
export function parseOperations(payload: Buffer | string): JsonOperationsResult {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch (err) {
    return { operations: [], issues: [`not JSON: ${(err as Error).message}`] };
  }
  const items = Array.isArray(value) ? value : [value];
  const out: JsonOperationsResult = { operations: [], issues: [] };
  items.forEach((item, i) => {
    if (!item || typeof item !== 'object' || Array.isArray(item)) return void out.issues.push(`item ${i + 1} is not an operation object`);
    const body = item as Record<string, unknown>;
    const id = typeof body.id === 'string' || typeof body.id === 'number' ? String(body.id) : '';
    if (!id) return void out.issues.push(`operation ${i + 1} has no id`);
    const fragment = Object.keys(body).find((k) => !OPERATION_KEYS.has(k) && /^[A-Za-z][\w.-]*_[\w.-]+$/.test(k));
    if (!fragment) return void out.issues.push(`operation ${id} has no operation fragment (e.g. c8y_Restart)`);
    const ext = body.externalSource as { externalId?: unknown } | undefined;
    const device = typeof ext?.externalId === 'string' ? ext.externalId : String(body.deviceId ?? '');
    if (!device) return void out.issues.push(`operation ${id} names no target (externalSource or deviceId)`);
    out.operations.push({ id, fragment, device, body });
  });
  return out;
}

/** An error from the `error` topic: `{error, message, messageId}` as the platform sends it. */
export interface JsonError {
  error: string;
  message: string;
  messageId?: string;
  /** The payload as received when it was not that shape. */
  raw?: string;
}

export function parseJsonError(payload: Buffer | string): JsonError {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return { error: String(v.error ?? ''), message: String(v.message ?? ''), ...(v.messageId !== undefined ? { messageId: String(v.messageId) } : {}) };
    }
  } catch {
    /* below */
  }
  return { error: '', message: text, raw: text };
}

// ---------------------------------------------------------------------------------------------------------------
// The endpoint's side: upstream JSON read back into SmartREST records, operations written as JSON.

/** What a device's JSON publish means as SmartREST records (the inverse of `recordToJson`). */
export interface JsonRecords {
  records: string[][];
  /** Why the payload cannot be taken (then `records` is empty). */
  error?: string;
  /** The body as published (parsed). */
  body?: Record<string, unknown>;
}

const SEVERITY_ID: Record<string, string> = { CRITICAL: '301', MAJOR: '302', MINOR: '303', WARNING: '304' };

function text(v: unknown): string {
  return v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function fail(error: string, body?: Record<string, unknown>): JsonRecords {
  return { records: [], error, ...(body ? { body } : {}) };
}

/**
 * Read an upstream JSON publish as the SmartREST records it stands for: a measurement → one `200` per series, an
 * event → `400`, an alarm → `301`–`304` by severity, a managed object create → `100`, an update → `110`
 * (c8y_Hardware) and `114` (c8y_SupportedOperations). An update with neither yields no record (the caller still
 * has the body). Processing modes `q`/`c` apply to measurements and events only. `createBulk` and `delete` are
 * refused (this endpoint keeps no measurements or events to delete).
 */
export function jsonToRecords(t: JsonTopic, payload: Buffer | string): JsonRecords {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch (err) {
    return fail(`not JSON: ${(err as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return fail('the payload must be one JSON object');
  const body = value as Record<string, unknown>;
  if (t.action === 'createBulk' || t.action === 'delete') return fail(`${t.resource}/${t.action} is not supported by this endpoint`, body);
  const inventory = t.resource === 'inventory/managedObjects';
  if ((t.resource === 'alarm/alarms' || inventory) && (t.mode === 'q' || t.mode === 'c')) {
    return fail(`processing mode ${t.mode} applies to measurements and events only, not to ${t.resource}`, body);
  }
  const time = text(body.time);
  const type = text(body.type);
  switch (t.resource) {
    case 'measurement/measurements': {
      const records: string[][] = [];
      for (const [fragment, series] of Object.entries(body)) {
        if (!series || typeof series !== 'object' || Array.isArray(series)) continue;
        for (const [name, v] of Object.entries(series as Record<string, unknown>)) {
          const m = v as { value?: unknown; unit?: unknown } | null;
          if (!m || typeof m !== 'object' || m.value === undefined) continue;
          if (typeof m.value !== 'number' || !Number.isFinite(m.value)) return fail(`${fragment}.${name}.value must be a number`, body);
          records.push(['200', fragment, name, String(m.value), text(m.unit), time]);
        }
      }
      return records.length ? { records, body } : fail('a measurement needs at least one fragment with a series value ({"c8y_Temperature":{"T":{"value":21.5,"unit":"C"}}})', body);
    }
    case 'event/events':
      if (!type) return fail('an event needs a type', body);
      return { records: [['400', type, text(body.text), time]], body };
    case 'alarm/alarms': {
      if (!type) return fail('an alarm needs a type', body);
      const id = SEVERITY_ID[text(body.severity).toUpperCase()];
      if (!id) return fail(`alarm severity must be CRITICAL, MAJOR, MINOR or WARNING; got ${JSON.stringify(body.severity ?? null)}`, body);
      return { records: [[id, type, text(body.text), time]], body };
    }
    default: {
      if (t.action === 'create') return { records: [['100', text(body.name), type]], body };
      const records: string[][] = [];
      const hw = body.c8y_Hardware as Record<string, unknown> | undefined;
      if (hw && typeof hw === 'object') records.push(['110', text(hw.serialNumber), text(hw.model), text(hw.revision)]);
      const ops = body.c8y_SupportedOperations;
      if (ops !== undefined) {
        if (!Array.isArray(ops)) return fail('c8y_SupportedOperations must be an array of fragment names', body);
        records.push(['114', ...ops.map(text)]);
      }
      return { records, body };
    }
  }
}

/** What an operation needs to be written as JSON. */
export interface OperationForJson {
  id: string;
  /** External id of the device or child that executes it. */
  target: string;
  fragment: string;
  status: string;
  created: string;
  /** The operation's parameters (the decoded SmartREST values), the fragment's content. */
  values?: Record<string, unknown>;
}

/** SmartREST field names that the REST fragment names differently (`511,<id>,ls` is `c8y_Command: {text: "ls"}`). */
const REST_NAMES: Record<string, Record<string, string>> = { c8y_Command: { command: 'text' }, c8y_Configuration: { configuration: 'config' } };

/**
 * An operation as `devicecontrol/notifications` carries it (REST API shape, `externalSource` names the target); the
 * fragment holds the SmartREST values, named as the REST API names them where they differ.
 */
export function operationToJson(op: OperationForJson): Record<string, unknown> {
  const fragment = op.fragment || 'c8y_Operation';
  const rename = REST_NAMES[fragment] ?? {};
  const values = Object.fromEntries(Object.entries(op.values ?? {}).map(([k, v]) => [rename[k] ?? k, v]));
  return {
    id: op.id,
    status: op.status,
    creationTime: op.created,
    externalSource: { externalId: op.target, type: 'c8y_Serial' },
    [fragment]: values,
  };
}

/** An error for the `error` topic, as `parseJsonError` reads it. */
export function jsonErrorBody(code: number, message: string, messageId?: string): string {
  return JSON.stringify({ error: String(code), message, ...(messageId ? { messageId } : {}) });
}
