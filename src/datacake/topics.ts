/**
 * Datacake topic grammar: Datacake publishes every field change on `dtck/<product>/<device>/<FIELD>` and records
 * what clients publish on `dtck-pub/<product>/<device>/<FIELD>`. Pure functions, no Node-RED, no sockets.
 */

export const SUBSCRIBE_PREFIX = 'dtck';
export const PUBLISH_PREFIX = 'dtck-pub';

/**
 * A field identifier as typed: ASCII letters, digits and `_` (Datacake's `fieldName`, never the display name).
 * Checked BEFORE upper-casing: `toUpperCase()` maps non-ASCII letters to other letters (`straße` → `STRASSE`,
 * `ﬁ` → `FI`), which would write to a different field.
 */
export const FIELD_INPUT_RE = /^[A-Za-z0-9_]+$/;

/** A field identifier as written on a topic (upper case). */
export const FIELD_RE = /^[A-Z0-9_]+$/;

export interface DatacakeTarget {
  productSlug: string;
  deviceId: string;
  field: string;
}

/** A level of a topic may not be empty nor contain `/`, `+`, `#` or NUL. */
function checkLevel(what: string, value: unknown, allowWildcard: boolean): string {
  if (typeof value !== 'string' || value === '') throw new Error(`${what} is missing`);
  if (allowWildcard && value === '+') return value;
  if (/[/+#\u0000]/.test(value)) throw new Error(`${what} ${JSON.stringify(value)} may not contain /, +, # or NUL`);
  return value;
}

/**
 * Checks a field name against `[A-Za-z0-9_]+` and upper-cases it (Datacake identifiers are UPPER_SNAKE_CASE; the
 * upper-casing of ASCII letters cannot turn one valid name into another). Throws with a clear reason.
 */
export function normalizeField(field: unknown): string {
  if (typeof field !== 'string' || field.trim() === '') throw new Error('field name is missing');
  const f = field.trim();
  if (!FIELD_INPUT_RE.test(f)) throw new Error(`field name ${JSON.stringify(field)} is not a Datacake field identifier (ASCII letters A-Z, digits and _ only)`);
  return f.toUpperCase();
}

/**
 * A device or field slot of a subscription as typed by a user. `*` is not an MQTT wildcard (it would match only a
 * level literally named `*`, i.e. nothing), so it is rewritten to `+`; `rewritten` tells the caller to warn.
 */
export function subscriptionSlot(value: string | undefined): { value: string; rewritten: boolean } {
  const v = (value ?? '').trim();
  if (v === '' || v === '+') return { value: '+', rewritten: false };
  if (v === '*') return { value: '+', rewritten: true };
  return { value: v, rewritten: false };
}

export interface SubscriptionSpec {
  filter: string;
  /** Slots that were `*` and became `+`. */
  rewritten: ('deviceId' | 'field')[];
}

/** `dtck/<product>/<device|+>/<FIELD|+>`; the product must be concrete (subscribe per product, never `dtck/#`). */
export function subscriptionFilter(productSlug: string, deviceId?: string, field?: string): SubscriptionSpec {
  const product = checkLevel('product slug', (productSlug ?? '').trim(), false);
  const d = subscriptionSlot(deviceId);
  const f = subscriptionSlot(field);
  const device = checkLevel('device id', d.value, true);
  const fieldLevel = f.value === '+' ? '+' : normalizeField(f.value);
  const rewritten: SubscriptionSpec['rewritten'] = [];
  if (d.rewritten) rewritten.push('deviceId');
  if (f.rewritten) rewritten.push('field');
  return { filter: `${SUBSCRIBE_PREFIX}/${product}/${device}/${fieldLevel}`, rewritten };
}

/** `dtck-pub/<product>/<device>/<FIELD>`, all concrete (no wildcards in a publish). */
export function publishTopic(target: DatacakeTarget): string {
  const product = checkLevel('product slug', target.productSlug, false);
  const device = checkLevel('device id', target.deviceId, false);
  return `${PUBLISH_PREFIX}/${product}/${device}/${normalizeField(target.field)}`;
}

/** `dtck/<product>/<device>/<FIELD>` for a concrete target (the echo topic of a write). */
export function fieldTopic(target: DatacakeTarget): string {
  return `${SUBSCRIBE_PREFIX}/${target.productSlug}/${target.deviceId}/${target.field}`;
}

/** Parses `dtck/…` or `dtck-pub/…` with exactly three levels after the prefix; undefined when it is not one. */
export function parseTopic(topic: string): (DatacakeTarget & { prefix: 'dtck' | 'dtck-pub' }) | undefined {
  if (typeof topic !== 'string') return undefined;
  const parts = topic.split('/');
  if (parts.length !== 4) return undefined;
  const [prefix, productSlug, deviceId, field] = parts;
  if (prefix !== SUBSCRIBE_PREFIX && prefix !== PUBLISH_PREFIX) return undefined;
  if (!productSlug || !deviceId || !field) return undefined;
  return { prefix, productSlug, deviceId, field };
}

/** Key of one device field, for echo windows, rate limits and change filters. */
export function targetKey(t: DatacakeTarget): string {
  return `${t.productSlug}/${t.deviceId}/${t.field}`;
}
