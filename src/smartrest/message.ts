/**
 * Message-level SmartREST: what `smartrest-encode` and `smartrest-decode` (and later the Cumulocity nodes)
 * do with a whole `msg.payload`, without Node-RED. Encoding turns any accepted record form into CSV
 * payloads grouped by topic and packed to the size limit; decoding is topic-aware.
 */
import { parseDetailed, parseFreeTextLines, SmartRestEncodeError, type ParseIssue } from './codec';
import { collectionLookups, type TemplateCollection } from './custom';
import { maxPayloadBytes, MAX_PUBLISH_BYTES, packRecords } from './limits';
import { describeRecord, recordToFields, SmartRestRecordError, type TemplateLookup } from './records';
import { findTemplate } from './catalogue';
import { parseTopic, upstreamTopic } from './topics';
import type { DecodedRecord, ProcessingMode, QuoteStyle, RecordInput, TemplateSpec } from './types';

export interface EncodeOptions {
  mode?: ProcessingMode;
  /** Child device external id: publish on `…/us/<child>`. */
  child?: string;
  quote?: QuoteStyle;
  /** Custom templates that named/raw records may refer to (by `xid`, or by message ID). */
  collection?: TemplateCollection;
  /** Limit of one PUBLISH in bytes, header and topic included (default 16184). */
  maxPublishBytes?: number;
  /** Shorten the free-text field of a record that cannot fit on its own, instead of failing. */
  truncate?: boolean;
  /** Let raw and array records with message IDs that no template knows pass unchecked. */
  allowUnknown?: boolean;
}

export interface EncodedPayload {
  topic: string;
  payload: string;
  /** 0-based indexes of the input records in this payload. */
  records: number[];
  /** Input records whose free text was shortened to fit. */
  truncated: number[];
}

/** Normalise `msg.payload` into a list of records: one record, or an array of them. */
export function recordList(payload: unknown): RecordInput[] {
  if (Array.isArray(payload)) {
    if (payload.length === 0) throw new SmartRestRecordError('the payload is an empty array: nothing to encode');
    // An array of scalars is one record (`["200","c8y_Temperature",…]`); otherwise each element is a record.
    const first = payload[0];
    if (typeof first === 'string' || typeof first === 'number') return [payload as RecordInput];
    return payload as RecordInput[];
  }
  if (payload && typeof payload === 'object') return [payload as RecordInput];
  throw new SmartRestRecordError(
    `expected a record ({messageId, fields} or {messageId, values}), an array of fields, or an array of records; got ${payload === null ? 'null' : typeof payload}`,
  );
}

/** Encode records into publish-ready payloads: grouped by topic in order, each within the size limit. */
export function encodeRecords(inputs: RecordInput[], options: EncodeOptions = {}): EncodedPayload[] {
  const lookups = options.collection && collectionLookups(options.collection);
  const lookup: TemplateLookup | undefined = lookups?.request;
  const groups: { topic: string; records: string[][]; index: number[]; specs: (TemplateSpec | undefined)[] }[] = [];
  inputs.forEach((input, i) => {
    const xid = customXid(input, options.collection);
    const fields = recordToFields(input, { index: i + 1, lookup, allowUnknown: options.allowUnknown });
    const topic = upstreamTopic({ mode: options.mode, child: options.child, xid });
    let group = groups[groups.length - 1];
    if (!group || group.topic !== topic) {
      group = { topic, records: [], index: [], specs: [] };
      groups.push(group);
    }
    group.records.push(fields);
    group.index.push(i);
    group.specs.push(xid !== undefined ? lookup?.(fields[0]) : findTemplate(fields[0]));
  });
  const out: EncodedPayload[] = [];
  for (const g of groups) {
    const textField = options.truncate ? (_r: readonly string[], k: number) => textIndex(g.specs[k]) : undefined;
    let packed;
    try {
      packed = packRecords(g.records, { quote: options.quote, maxBytes: maxPayloadBytes(g.topic, 1, options.maxPublishBytes ?? MAX_PUBLISH_BYTES), textField });
    } catch (err) {
      // Report the record number of the whole input, not of the topic group.
      const e = err as Error & { record?: number };
      if (typeof e.record === 'number' && g.index[e.record - 1] !== undefined && e.record !== g.index[e.record - 1] + 1) {
        e.message = e.message.replace(`record ${e.record}`, `record ${g.index[e.record - 1] + 1}`);
      }
      throw err;
    }
    for (const p of packed) {
      out.push({ topic: g.topic, payload: p.payload, records: p.records.map((k) => g.index[k]), truncated: p.truncated.map((k) => g.index[k]) });
    }
  }
  return out;
}

/** The collection a record belongs to: an explicit `xid`, or a message ID the configured collection defines. */
function customXid(input: RecordInput, collection: TemplateCollection | undefined): string | undefined {
  if (Array.isArray(input)) return collection && isCustomId(String(input[0]), collection) ? collection.xid : undefined;
  const xid = (input as { xid?: unknown }).xid;
  if (typeof xid === 'string' && xid) {
    if (collection && xid !== collection.xid) {
      throw new SmartRestRecordError(`record refers to template collection ${JSON.stringify(xid)}, but the node defines ${JSON.stringify(collection.xid)}`);
    }
    if (!collection && 'values' in input) throw new SmartRestRecordError(`record refers to template collection ${JSON.stringify(xid)}, which is not defined in the node`);
    return xid;
  }
  return collection && isCustomId(String(input.messageId), collection) ? collection.xid : undefined;
}

function isCustomId(id: string, collection: TemplateCollection): boolean {
  return collection.requests.some((t) => t.messageId === id) && !findTemplate(id);
}

/** Index within the record (message ID = 0) of the template's free-text field. */
function textIndex(spec: TemplateSpec | undefined): number | undefined {
  if (!spec) return undefined;
  const k = spec.fields.findIndex((f) => f.text);
  if (k < 0) return undefined;
  return k + 1 + (spec.target ? 1 : 0);
}

export interface DecodeOptions {
  quote?: QuoteStyle;
  collection?: TemplateCollection;
  /** Add `name` and `values` from the templates (default true). */
  named?: boolean;
}

export interface DecodeResult {
  records: DecodedRecord[];
  issues: ParseIssue[];
}

/**
 * Decode a payload received on `topic` (optional). `s/e` lines keep their free text unsplit; `s/dc/<X-ID>`
 * and `s/uc/<X-ID>` use the custom templates of the collection; a child id in an upstream topic becomes
 * `device` of every record.
 */
export function decodePayload(payload: string | Buffer, topic?: string, options: DecodeOptions = {}): DecodeResult {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  const info = topic ? parseTopic(topic) : undefined;
  const named = options.named !== false;
  if (info?.kind === 'error') {
    const records = parseFreeTextLines(text, 2).map((r) => (named ? describeRecord(r) : raw(r)));
    return { records, issues: [] };
  }
  const { records, errors } = parseDetailed(text, { quote: options.quote });
  const lookups = options.collection && (!info?.xid || info.xid === options.collection.xid) ? collectionLookups(options.collection) : undefined;
  const custom = info?.kind === 'custom' || info?.kind === 'default';
  const out: DecodedRecord[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    let rec: DecodedRecord;
    if (!named) rec = raw(r);
    else if (custom && lookups) {
      const lookup: TemplateLookup = info.direction === 'down' ? (id) => lookups.response(id, r.length - 1) : lookups.request;
      rec = describeRecord(r, { lookup, preferLookup: true });
    } else rec = describeRecord(r);
    if (info?.child !== undefined) rec.device = info.child;
    out[i] = rec;
  }
  return { records: out, issues: errors };
}

function raw(r: string[]): DecodedRecord {
  const id = r[0];
  return { messageId: /^\d+$/.test(id) ? Number(id) : id, fields: r.slice(1) };
}

export { SmartRestEncodeError, SmartRestRecordError };
