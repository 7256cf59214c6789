/**
 * What the edit dialogs check, with the runtime's own grammar: the bridge rules go through the runtime's
 * `compileRules`, device ids through the endpoint's and the device side's `checkDeviceId`, X-IDs and child ids
 * through the SmartREST topic grammar. Pure (no Node-RED, no DOM): unit-tested in Node.js, and bundled by
 * scripts/build.js into resources/device-protocols-editor.js, which every edit dialog loads.
 *
 * Number ranges: the runtime falls back to a default for a value it cannot use (a negative keepalive becomes 60);
 * the editor refuses such values instead, so that what the dialog shows is what runs. The ranges are in RANGES.
 */
import { compileRules, type LookupTables, type RuleConfig } from '../bridge/rules';
import { checkDeviceId as checkEndpointDeviceId } from '../endpoint/clientid';
import { checkDeviceId as deviceSideIdGrammar } from '../c8y/clientid';
import { checkChildId, checkXid } from '../smartrest/topics';
import { MAX_PUBLISH_BYTES } from '../smartrest/limits';
import { FIELD_INPUT_RE } from '../datacake/topics';
import { apiUrlProblem } from '../datacake/apiurl';

/** A Node-RED 3+ validator: `(value, opt)`, returns true or the reason shown in the editor. */
export type Validator = (value: unknown, opt?: unknown) => true | string;

export interface NumberRange {
  min: number;
  max?: number;
  /** Whole numbers only. */
  integer?: boolean;
  /** An empty field is allowed (the runtime then uses its default). */
  blank?: boolean;
}

/** The numeric settings of the package's dialogs. */
export const RANGES = {
  /**
   * A TCP port to connect to or listen on. The endpoint's runtime also takes 0 (any free port, used by tests that
   * deploy through the Admin API); the editor refuses it: devices could not find such an endpoint.
   */
  port: { min: 1, max: 65535, integer: true },
  /** Optional port (empty: the default of the transport). */
  portOrBlank: { min: 1, max: 65535, integer: true, blank: true },
  /** MQTT keepalive in seconds; 0 switches the ping off (MQTT 3.1.1 §3.1.2.10). */
  keepalive: { min: 0, max: 65535, integer: true },
  /** Cumulocity devices always ping (the runtime reads 0 as "use 60"). */
  deviceKeepalive: { min: 1, max: 65535, integer: true },
  /** MQTT 5 session expiry interval in seconds (four-byte integer). */
  sessionExpiry: { min: 0, max: 4294967295, integer: true },
  /** Reconnect back-off in seconds. */
  backoff: { min: 0.1, max: 86400 },
  /** Messages kept while offline. */
  queue: { min: 1, max: 1000000, integer: true },
  /** Registration poll interval in seconds (Cumulocity's bootstrap example polls every 5 s). */
  pollInterval: { min: 1, max: 3600 },
  /** Poll counts. */
  polls: { min: 1, max: 1000000, integer: true },
  pollLimit: { min: 0, max: 1000000, integer: true },
  /** 117 required interval in minutes (0: not sent). */
  requiredInterval: { min: 0, max: 525600, integer: true, blank: true },
  /** A duration in seconds where 0 means off. */
  secondsOrOff: { min: 0, max: 86400 },
  /** Datacake rate limit in seconds per field (0: no limit); empty uses the default. */
  rate: { min: 0, max: 86400, blank: true },
  /** Bridge outbox bounds. */
  outboxMessages: { min: 1, max: 10000000, integer: true },
  outboxKB: { min: 1, max: 16777216, integer: true },
  /** Messages per second (0: as fast as the target takes them). */
  drainRate: { min: 0, max: 1000000 },
  inflight: { min: 1, max: 65535, integer: true },
  /** Every n-th message (0: off). */
  sampleEvery: { min: 0, max: 1000000, integer: true },
  /** Bridge outbox time to live in seconds (0: forever). */
  ttl: { min: 0, max: 31536000 },
  /**
   * SmartREST publish limit in bytes: Cumulocity's 16184 at most; at least 64 so that a topic, a message id
   * and a value fit.
   */
  publishLimit: { min: 64, max: MAX_PUBLISH_BYTES, integer: true },
} satisfies Record<string, NumberRange>;

/** Why `value` is not a number in `range` (undefined when it is). */
export function checkNumber(value: unknown, range: NumberRange): string | undefined {
  const text = value === undefined || value === null ? '' : String(value).trim();
  if (text === '') return range.blank ? undefined : 'a number is required';
  const n = Number(text);
  const what = range.integer ? 'a whole number' : 'a number';
  const span = range.max === undefined ? `${range.min} or more` : `from ${range.min} to ${range.max}`;
  if (!Number.isFinite(n) || (range.integer && !Number.isInteger(n)) || n < range.min || (range.max !== undefined && n > range.max)) {
    return `must be ${what} ${span}`;
  }
  return undefined;
}

/** Lookup tables as the bridge dialog stores them (JSON text); undefined when they cannot be read. */
function readTables(tables: unknown): LookupTables | undefined {
  try {
    const t = typeof tables === 'string' ? (tables.trim() ? JSON.parse(tables) : {}) : (tables ?? {});
    return t && typeof t === 'object' && !Array.isArray(t) ? (t as LookupTables) : undefined;
  } catch {
    return undefined;
  }
}

/** Why the bridge would refuse these rules at deploy (the runtime's compiler's message), or undefined. */
export function checkRules(rules: unknown, tables?: unknown): string | undefined {
  if (!Array.isArray(rules) || rules.length === 0) return 'add at least one rule';
  // Tables that cannot be read are reported on the tables field; the rules are then checked without them.
  const t = readTables(tables) ?? {};
  try {
    const set = compileRules(rules as RuleConfig[], t);
    return set.count ? undefined : 'add at least one rule';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Why the lookup tables are not `{ table: { id: mapped } }`, or undefined. */
export function checkTables(tables: unknown): string | undefined {
  const t = readTables(tables);
  if (!t) return 'lookup tables must be a JSON object { "table": { "id": "mapped id" } }';
  for (const [name, table] of Object.entries(t)) {
    if (!table || typeof table !== 'object' || Array.isArray(table)) return `lookup table ${JSON.stringify(name)} must be an object of id → mapped id`;
  }
  return undefined;
}

/**
 * A device id (or a device filter) of the embedded endpoint: one MQTT topic level, no ":" (the ClientId
 * separator). Empty is allowed where the field is optional.
 */
export function checkEndpointDevice(value: unknown, optional = true): string | undefined {
  const v = typeof value === 'string' ? value.trim() : '';
  if (!v) return optional ? undefined : 'the device id is required';
  return checkEndpointDeviceId(v);
}

/** A device id of the device side (`c8y-device`): required, no ":" nor control characters. */
export function checkDeviceSideId(value: unknown, optional = false): string | undefined {
  const v = typeof value === 'string' ? value : '';
  if (!v) return optional ? undefined : 'the device id is required';
  return deviceSideIdGrammar(v);
}

/** A SmartREST child device id (one topic level below the device). */
export function checkChild(value: unknown): string | undefined {
  const v = typeof value === 'string' ? value : '';
  return v ? checkChildId(v) : undefined;
}

/** An X-ID (template collection id); empty is allowed (no custom templates). */
export function checkXidField(value: unknown): string | undefined {
  const v = typeof value === 'string' ? value : '';
  return v ? checkXid(v) : undefined;
}

/**
 * A Datacake field name as typed: the runtime's `[A-Za-z0-9_]+` (checked before upper-casing, so `straße` is refused
 * rather than turned into `STRASSE`). Empty is allowed (the message or the picker names it); `wildcard` also allows
 * `+` and `*` (every field, for the in-node).
 */
export function checkDatacakeField(value: unknown, wildcard = false): string | undefined {
  const v = typeof value === 'string' ? value.trim() : '';
  if (!v || (wildcard && (v === '+' || v === '*'))) return undefined;
  return FIELD_INPUT_RE.test(v) ? undefined : `field name ${JSON.stringify(v)} must be ASCII letters, digits and _ (a Datacake field identifier)`;
}

/** The Datacake API URL the broker node sends its token to (the runtime's rule); empty uses Datacake's. */
export function checkDatacakeApiUrl(value: unknown): string | undefined {
  const v = typeof value === 'string' ? value.trim() : '';
  return v ? apiUrlProblem(v) : undefined;
}

/** The c8y-out / c8y-device message format; unset (flows older than the option) means SmartREST. */
export const FORMATS = ['smartrest', 'json'] as const;

/** A validator for a select: `value` is one of `values` (undefined allowed: the runtime's default). */
export function oneOf(values: readonly string[], name: string): Validator {
  return validator((v) => (v === undefined || values.includes(String(v)) ? undefined : `${name} must be one of ${values.join(', ')}`));
}

/** Turns a check into a Node-RED 3+ validator (two parameters, so that its message is shown). */
export function validator(check: (value: unknown) => string | undefined): Validator {
  return function (value: unknown, _opt?: unknown) {
    return check(value) ?? true;
  };
}

/** A validator for a number in one of RANGES; `name` starts its message ("port must be …"). */
export function numberIn(range: NumberRange, name: string): Validator {
  return validator((v) => {
    const problem = checkNumber(v, range);
    return problem && `${name} ${problem}`;
  });
}
