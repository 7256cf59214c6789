/**
 * Datacake values as text on the wire. Datacake documents no MQTT payload format; the rules below are the
 * superset of what public clients send and receive (see the README, *Typing rules*):
 * - received text is typed: number literal → number; `true`/`True`/`false`/`False` (any case) → boolean;
 *   `(lat,lng)` → `{lat, lng}`; JSON object/array/string that parses → that; anything else → the string;
 *   empty → null;
 * - values to write are serialized: finite numbers via String(n), booleans `true`/`false`, `{lat, lng}` as
 *   `(lat,lng)`, strings as they are; objects, arrays, null, NaN/Infinity are refused (one field, one value).
 */

export type DatacakeValue = number | boolean | string | null | { lat: number; lng: number } | unknown[] | Record<string, unknown>;

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const GEO_RE = /^\(\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*,\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)$/;

/** Types the text of a `dtck/` message. */
export function parseValue(raw: string): DatacakeValue {
  const text = raw.trim();
  if (text === '') return null;
  if (NUMBER_RE.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n)) return n;
  }
  const lower = text.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  const geo = GEO_RE.exec(text);
  if (geo) return { lat: Number(geo[1]), lng: Number(geo[2]) };
  const c = text[0];
  if (c === '{' || c === '[' || c === '"') {
    try {
      return JSON.parse(text) as DatacakeValue;
    } catch {
      /* not JSON: keep the text */
    }
  }
  return raw;
}

function isGeo(v: unknown): v is { lat: number; lng: number } {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  const o = v as Record<string, unknown>;
  return keys.length === 2 && typeof o.lat === 'number' && typeof o.lng === 'number' && Number.isFinite(o.lat) && Number.isFinite(o.lng);
}

/** Text to publish for one field; throws (for done(err)) on values Datacake cannot take as one field value. */
export function serializeValue(value: unknown, field = 'the field'): string {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`value for ${field} is ${value}, not a finite number`);
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return value;
    case 'bigint':
      return value.toString();
    case 'object':
      if (value === null) throw new Error(`value for ${field} is null`);
      if (isGeo(value)) return `(${value.lat},${value.lng})`;
      if (Buffer.isBuffer(value)) return value.toString('utf8');
      throw new Error(`value for ${field} is ${Array.isArray(value) ? 'an array' : 'an object'}: a Datacake field takes one number, boolean, string or {lat, lng}`);
    default:
      throw new Error(`value for ${field} is ${typeof value}`);
  }
}

/** Canonical text of a value for comparisons (echo window, change-only): `True` and `true` compare equal, `21.50` and `21.5` too. */
export function canonicalText(raw: string): string {
  const v = parseValue(raw);
  try {
    return v === null ? '' : serializeValue(v);
  } catch {
    return JSON.stringify(v);
  }
}

/** True for a plain object that is a set of fields (`{TEMPERATURE: 21.5, HUMIDITY: 40}`), not a `{lat, lng}` value. */
export function isFieldMap(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !isGeo(v);
}
