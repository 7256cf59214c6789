/**
 * SmartREST 2.0 custom template collections (reference §8): a collection is identified by its X-ID and holds
 * request templates (`10`, device → platform on `s/uc/<X-ID>`) and response templates (`11`, platform →
 * device on `s/dc/<X-ID>`). The collection is written as its `10`/`11` lines, exactly the payload that
 * registers it on `s/ut/<X-ID>`; this module turns those lines into TemplateSpecs so that the generic record
 * code can encode and decode custom messages by name. Message IDs of custom templates are strings.
 */
import { parse, serialize } from './codec';
import type { TemplateLookup } from './records';
import type { FieldKind, FieldSpec, QuoteStyle, TemplateSpec } from './types';
import { checkXid } from './topics';

export type CustomApi = 'INVENTORY' | 'MEASUREMENT' | 'EVENT' | 'ALARM' | 'OPERATION';
export type CustomMethod = 'GET' | 'PUT' | 'POST';

export interface CustomValue {
  path: string;
  type: string; // STRING, DATE, NUMBER, INTEGER, UNSIGNED, FLAG, SEVERITY, ALARMSTATUS, OPERATIONSTATUS
  value: string;
}

export interface RequestTemplate {
  messageId: string;
  method: CustomMethod;
  api: CustomApi;
  response: string;
  /** Mandatory values in the order the API defines them, keyed by role (e.g. `type`, `time`). */
  mandatory: { name: string; value: string }[];
  custom: CustomValue[];
}

export interface ResponseTemplate {
  messageId: string;
  base: string;
  condition: string;
  patterns: string[];
}

export interface TemplateCollection {
  xid: string;
  requests: RequestTemplate[];
  responses: ResponseTemplate[];
}

/** Mandatory values per api + method, in definition order. */
const MANDATORY: Record<string, string[]> = {
  'INVENTORY GET': ['byId', 'externalIdType'],
  'INVENTORY POST': ['externalIdType'],
  'INVENTORY PUT': ['byId', 'externalIdType'],
  'MEASUREMENT POST': ['type', 'time'],
  'EVENT POST': ['type', 'text', 'time'],
  'ALARM POST': ['type', 'text', 'status', 'severity', 'time'],
  'ALARM PUT': ['type'],
  'OPERATION PUT': ['fragment'],
};

const VALUE_TYPES = new Set(['STRING', 'DATE', 'NUMBER', 'INTEGER', 'UNSIGNED', 'FLAG', 'SEVERITY', 'ALARMSTATUS', 'OPERATIONSTATUS']);

export class TemplateCollectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateCollectionError';
  }
}

/** Parse the `10`/`11` lines of a collection (as written in the node configuration). */
export function parseCollection(xid: string, text: string): TemplateCollection {
  const bad = checkXid(xid);
  if (bad) throw new TemplateCollectionError(bad);
  let records: string[][];
  try {
    records = parse(text);
  } catch (err) {
    throw new TemplateCollectionError(`template collection ${xid}: ${(err as Error).message}`);
  }
  const collection: TemplateCollection = { xid, requests: [], responses: [] };
  const seen = new Set<string>();
  records.forEach((r, i) => {
    const where = `template collection ${xid}, line ${i + 1}`;
    const id = r[1];
    if (r[0] !== '10' && r[0] !== '11') throw new TemplateCollectionError(`${where}: expected a 10 (request) or 11 (response) line, got ${JSON.stringify(r[0])}`);
    if (!id) throw new TemplateCollectionError(`${where}: the message ID is empty`);
    const key = r[0] + ':' + id;
    if (seen.has(key)) throw new TemplateCollectionError(`${where}: message ID ${id} is defined twice`);
    seen.add(key);
    if (r[0] === '11') {
      collection.responses.push({ messageId: id, base: r[2] ?? '', condition: r[3] ?? '', patterns: r.slice(4) });
      return;
    }
    const method = (r[2] ?? '').toUpperCase() as CustomMethod;
    const api = (r[3] ?? '').toUpperCase() as CustomApi;
    const names = MANDATORY[`${api} ${method}`];
    if (!names) throw new TemplateCollectionError(`${where}: ${method || '(no method)'} ${api || '(no api)'} is not a supported combination`);
    const mandatory = names.map((name, k) => ({ name, value: r[5 + k] ?? '' }));
    const rest = r.slice(5 + names.length);
    if (rest.length % 3 !== 0) throw new TemplateCollectionError(`${where}: custom values must come in path,type,value triples`);
    const custom: CustomValue[] = [];
    for (let k = 0; k < rest.length; k += 3) {
      const type = (rest[k + 1] || 'STRING').toUpperCase();
      if (!rest[k]) throw new TemplateCollectionError(`${where}: a custom value has no path`);
      if (!VALUE_TYPES.has(type)) throw new TemplateCollectionError(`${where}: unknown value type ${JSON.stringify(rest[k + 1])} for ${rest[k]}`);
      custom.push({ path: rest[k], type, value: rest[k + 2] });
    }
    collection.requests.push({ messageId: id, method, api, response: r[4] ?? '', mandatory, custom });
  });
  return collection;
}

/** The payload that registers the collection on `s/ut/<X-ID>` (all lines in one publish). */
export function registrationPayload(collection: TemplateCollection, quote?: QuoteStyle): string {
  const lines: string[][] = [];
  for (const t of collection.requests) {
    lines.push(['10', t.messageId, t.method, t.api, t.response, ...t.mandatory.map((m) => m.value), ...t.custom.flatMap((c) => [c.path, c.type, c.value])]);
  }
  for (const t of collection.responses) lines.push(['11', t.messageId, t.base, t.condition, ...t.patterns]);
  return serialize(lines, { quote });
}

function kindOf(type: string): FieldKind {
  switch (type) {
    case 'NUMBER':
      return 'number';
    case 'INTEGER':
    case 'UNSIGNED':
      return 'integer';
    case 'DATE':
      return 'date';
    default:
      return 'string';
  }
}

/**
 * The fields a device sends with a request template: the values left empty in the definition, mandatory
 * ones first, then custom ones, in definition order (FLAG values carry nothing).
 */
export function requestSpec(xid: string, t: RequestTemplate): TemplateSpec {
  const fields: FieldSpec[] = [];
  const byId = t.mandatory.find((m) => m.name === 'byId');
  const idType = t.mandatory.find((m) => m.name === 'externalIdType');
  if (t.api === 'INVENTORY') {
    // Usage starts with the object's id: numeric when byId=true, else an external id (and its type if unset).
    if (byId && byId.value.toLowerCase() === 'true') fields.push({ name: 'id', kind: 'string', mandatory: true });
    else if (idType && idType.value) fields.push({ name: 'externalId', kind: 'string', mandatory: t.method !== 'POST' });
    else if (t.method !== 'POST') fields.push({ name: 'externalIdType', kind: 'string', mandatory: true }, { name: 'externalId', kind: 'string', mandatory: true });
  } else {
    for (const m of t.mandatory) {
      if (m.value === '') fields.push({ name: m.name, kind: m.name === 'time' ? 'date' : 'string', ...(m.name === 'text' ? { text: true } : {}) });
    }
  }
  for (const c of t.custom) {
    if (c.type === 'FLAG' || c.value !== '') continue;
    fields.push({ name: c.path, kind: kindOf(c.type) });
  }
  return { id: 0, name: `${t.messageId} (${xid}: ${t.method} ${t.api})`, direction: 'up', category: categoryOf(t.api), fields };
}

function categoryOf(api: CustomApi): TemplateSpec['category'] {
  switch (api) {
    case 'MEASUREMENT':
      return 'measurement';
    case 'EVENT':
      return 'event';
    case 'ALARM':
      return 'alarm';
    case 'OPERATION':
      return 'operation-status';
    default:
      return 'inventory';
  }
}

/**
 * Decoding spec of a response line. Operation responses carry the target device's external id first
 * (`<msgId>,<device>,<values…>`), answers to GET requests do not. The line alone cannot say which, so:
 * a line with exactly one field per pattern is read without a target, anything longer with one.
 * A `[*]` pattern takes all the remaining values as an array.
 */
export function responseSpec(xid: string, t: ResponseTemplate, fieldCount: number): TemplateSpec {
  const spread = t.patterns.findIndex((p) => p.endsWith('[*]'));
  const target = spread >= 0 || fieldCount !== t.patterns.length;
  const name = (p: string) => (p.endsWith('[*]') ? p.slice(0, -3) : p);
  const fixed = spread >= 0 ? t.patterns.slice(0, spread) : t.patterns;
  const spec: TemplateSpec = {
    id: 0,
    name: `${t.messageId} (${xid}${t.base ? ': ' + t.base : ''})`,
    direction: 'down',
    category: 'operation',
    ...(t.base ? { operation: t.base.split('.')[0] } : {}),
    target,
    fields: fixed.map((p) => ({ name: name(p), kind: 'string' as const })),
  };
  if (spread >= 0) spec.repeat = { name: name(t.patterns[spread]), fields: [{ name: name(t.patterns[spread]), kind: 'string' }] };
  return spec;
}

/** Lookups for the generic record code: request templates for encoding, response templates for decoding. */
export function collectionLookups(collection: TemplateCollection): { request: TemplateLookup; response: (messageId: string, fieldCount: number) => TemplateSpec | undefined } {
  const requests = new Map(collection.requests.map((t) => [t.messageId, requestSpec(collection.xid, t)]));
  const responses = new Map(collection.responses.map((t) => [t.messageId, t]));
  return {
    request: (id) => requests.get(id),
    response: (id, n) => {
      const t = responses.get(id);
      return t && responseSpec(collection.xid, t, n);
    },
  };
}
