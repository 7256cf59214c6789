/**
 * Payload adapters of bridge rules. Each turns one incoming payload into zero or more outgoing items
 * (payload + extra template variables). Pure functions.
 *
 * - `smartrest-to-fields`: SmartREST measurement lines (200, 201, 210, 211, 212; decoded by the shared
 *   `src/smartrest` codec) → one item per series value, `{field}` = a Datacake field identifier
 *   (`c8y_Temperature`/`T` → `TEMPERATURE_T`; 210 → `RSSI`, 211 → `TEMPERATURE`, 212 → `BATTERY`), the value as
 *   plain text (Datacake takes one plain value per message). Other lines are ignored (counted as `skipped` by
 *   the caller); malformed ones count as `error`.
 * - `json-path`: `a.b[0].c` extracts a value; objects/arrays are sent as JSON, everything else as text.
 */
import { decodePayload } from '../smartrest/message';
import { FIELD_RE } from '../datacake/topics';

export interface AdaptedItem {
  payload: Buffer;
  vars?: Record<string, string>;
}

export interface AdapterResult {
  items: AdaptedItem[];
  /** Lines or values that could not be used: malformed, missing (counted as `error`, with the first reason). */
  skipped: number;
  reason?: string;
  /** Lines the adapter does not forward by design (not measurements): counted as `skipped`, not logged. */
  ignored?: number;
}

/** Datacake field identifier from a fragment and series (`c8y_` prefix dropped, non-identifier characters → `_`). */
export function fieldName(fragment: string, series?: string): string {
  const base = fragment.replace(/^c8y_/i, '');
  const raw = series && series !== base ? `${base}_${series}` : base;
  const f = raw.toUpperCase().replace(/[^A-Z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  return FIELD_RE.test(f) ? f : 'VALUE';
}

const FIXED: Record<number, { field: string; fragment: string; series: string; key: string }> = {
  210: { field: 'RSSI', fragment: 'c8y_SignalStrength', series: 'rssi', key: 'rssi' },
  211: { field: 'TEMPERATURE', fragment: 'c8y_TemperatureMeasurement', series: 'T', key: 'value' },
  212: { field: 'BATTERY', fragment: 'c8y_Battery', series: 'level', key: 'value' },
};

function text(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

export function smartrestToFields(payload: Buffer | string, topic?: string): AdapterResult {
  let decoded;
  try {
    decoded = decodePayload(payload, topic && /^[stqc]\/u[sc]/.test(topic) ? topic : undefined);
  } catch (err) {
    return { items: [], skipped: 1, reason: err instanceof Error ? err.message : String(err) };
  }
  const items: AdaptedItem[] = [];
  let ignored = 0;
  let skipped = decoded.issues.length;
  let reason = decoded.issues.length ? String((decoded.issues[0] as { message?: string }).message ?? 'invalid line') : undefined;
  for (const rec of decoded.records) {
    const id = Number(rec.messageId);
    const values = (rec as { values?: Record<string, unknown> }).values;
    if (!values) {
      skipped++;
      reason ??= `line ${rec.messageId} could not be decoded`;
      continue;
    }
    if (id === 200) {
      const fragment = text(values.fragment);
      const series = text(values.series);
      items.push({ payload: Buffer.from(text(values.value)), vars: { field: fieldName(fragment, series), fragment, series } });
    } else if (id === 201) {
      for (const m of (values.measurements as { fragment: string; series: string; value: unknown }[]) ?? []) {
        items.push({ payload: Buffer.from(text(m.value)), vars: { field: fieldName(m.fragment, m.series), fragment: m.fragment, series: m.series } });
      }
    } else if (FIXED[id]) {
      const f = FIXED[id];
      const v = values[f.key];
      if (v === undefined || v === '') {
        skipped++;
        continue;
      }
      items.push({ payload: Buffer.from(text(v)), vars: { field: f.field, fragment: f.fragment, series: f.series } });
    } else {
      ignored++; // events, alarms, inventory, operation status: not Datacake fields
    }
  }
  return { items, skipped, reason, ignored };
}

/** Parses `a.b[0]["c d"]` into keys. */
export function parsePath(path: string): (string | number)[] {
  const keys: (string | number)[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]|\["([^"]*)"\]/g;
  for (const m of path.replace(/^\$\.?/, '').matchAll(re)) {
    if (m[1] !== undefined) keys.push(m[1]);
    else if (m[2] !== undefined) keys.push(Number(m[2]));
    else keys.push(m[3]);
  }
  return keys;
}

export function jsonPath(payload: Buffer | string, path: string | (string | number)[]): AdapterResult {
  let v: unknown;
  try {
    v = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { items: [], skipped: 1, reason: 'payload is not JSON' };
  }
  for (const k of typeof path === 'string' ? parsePath(path) : path) {
    if (v === null || typeof v !== 'object') return { items: [], skipped: 1, reason: `path ${JSON.stringify(path)} not found` };
    v = (v as Record<string | number, unknown>)[k];
  }
  if (v === undefined) return { items: [], skipped: 1, reason: `path ${JSON.stringify(path)} not found` };
  return { items: [{ payload: Buffer.from(typeof v === 'object' ? JSON.stringify(v) : String(v)) }], skipped: 0 };
}

/** Runs the adapter of a rule; `none` passes the payload through. */
export function adapt(adapter: string, arg: string, payload: Buffer, topic: string): AdapterResult {
  if (adapter === 'smartrest-to-fields') return smartrestToFields(payload, topic);
  if (adapter === 'json-path') return jsonPath(payload, arg);
  return { items: [{ payload }], skipped: 0 };
}
