/**
 * Pure conversions between codec records (`string[]`, `[messageId, ...fields]`) and the raw/named
 * forms used in flows, driven by any `TemplateSpec` (static catalogue or custom).
 *
 * No CSV escaping happens here (that is the codec's job).
 *
 * Decisions where the reference leaves room:
 * - Named operations (templates with `target`) take the target from `record.device`; `values` never holds it.
 * - Raw and array forms of known templates are type-checked by position like the named form
 *   (a Date in a `date` position becomes ISO text, `"abc"` in a `number` position is refused).
 * - Fields beyond what a template describes are passed through by the encoder and ignored by the decoder.
 * - Sections (527/531) are always encoded with every marker, fixed sections padded to their full
 *   width, so devices with positional parsers see the documented layout.
 * - Decoding: trailing empty fields are ignored (`116,a,1,u,` has one repetition); inside a
 *   single-field repeat group empty elements are kept as `''` (they may be positional, e.g. 503 parameters).
 *   Repeat groups are always present in `values` (possibly `[]`); sections only when their marker is present.
 * - `restIsText` (s/e lines): when decoding, the fields from the text position on are joined back with `,`
 *   because the text is not CSV-escaped by the platform.
 * - Paths in error messages index repetitions from 0 (`measurements[1].value` is the second measurement);
 *   records are counted from 1.
 */
import { findTemplate } from './catalogue.js';
import type { DecodedRecord, FieldKind, FieldSpec, RecordInput, RepeatSpec, SectionSpec, TemplateSpec } from './types.js';

/** A record could not be encoded (or, in strict mode, decoded). */
export class SmartRestRecordError extends Error {
  /** 1-based index of the record in the input, when known. */
  record?: number;
  /** Template label, e.g. `200 (Create custom measurement)`, or the bare message ID when unknown. */
  template?: string;
  /** Field name or path, e.g. `value`, `measurements[1].value`, `device`. */
  field?: string;
  /** The problem alone, without the location prefix. */
  readonly reason: string;

  constructor(reason: string, where: { record?: number; template?: string; field?: string } = {}) {
    const parts: string[] = [];
    if (where.record !== undefined) parts.push(`record ${where.record}`);
    if (where.template !== undefined) parts.push(`template ${where.template}`);
    if (where.field !== undefined) parts.push(`field "${where.field}"`);
    super(parts.length ? `${parts.join(', ')}: ${reason}` : reason);
    this.name = 'SmartRestRecordError';
    this.reason = reason;
    if (where.record !== undefined) this.record = where.record;
    if (where.template !== undefined) this.template = where.template;
    if (where.field !== undefined) this.field = where.field;
  }
}

/** Resolves a custom template by message ID (e.g. from a template collection / X-ID). */
export interface TemplateLookup {
  (messageId: string): TemplateSpec | undefined;
}

export interface RecordToFieldsOptions {
  /** 1-based index of the record, used in error messages. */
  index?: number;
  /** Resolver for custom templates. */
  lookup?: TemplateLookup;
  /** Let raw/array records with an unknown message ID through unchecked. */
  allowUnknown?: boolean;
}

export interface DescribeRecordOptions {
  lookup?: TemplateLookup;
  /** Throw SmartRestRecordError for missing mandatory fields and non-numeric numbers. */
  strict?: boolean;
  /** 1-based index of the record, used in strict-mode error messages. */
  index?: number;
  /** Try `lookup` before the static catalogue (e.g. for lines on `s/dc/<X-ID>`). Default false. */
  preferLookup?: boolean;
}

// ---------------------------------------------------------------------------
// Per-template precomputation (lazy, cached)

interface Compiled {
  spec: TemplateSpec;
  label: string;
  /** Fields before the fixed fields: 1 with a target, else 0. */
  offset: number;
  fixed: readonly FieldSpec[];
  repeat: RepeatSpec | undefined;
  sections: readonly SectionSpec[] | undefined;
  markers: Map<string, SectionSpec> | undefined;
  /** Names allowed as keys of `values`. */
  known: Set<string>;
  /** Display name: operation fragment or template name. */
  display: string;
  /** restIsText: the fixed fields before the free-text field, and the free-text field itself. */
  textHead: readonly FieldSpec[] | undefined;
  textField: readonly FieldSpec[] | undefined;
}

const compiledCache = new WeakMap<TemplateSpec, Compiled>();

function compile(spec: TemplateSpec): Compiled {
  let c = compiledCache.get(spec);
  if (c !== undefined) return c;
  const known = new Set<string>();
  for (const f of spec.fields) known.add(f.name);
  if (spec.repeat) known.add(spec.repeat.name);
  let markers: Map<string, SectionSpec> | undefined;
  if (spec.sections && spec.sections.length > 0) {
    markers = new Map();
    for (const s of spec.sections) {
      markers.set(s.marker, s);
      known.add(s.name);
    }
  }
  c = {
    spec,
    label: spec.id ? `${spec.id} (${spec.name})` : spec.name, // custom templates (id 0) carry their message ID in the name
    offset: spec.target ? 1 : 0,
    fixed: spec.fields,
    repeat: spec.repeat && spec.repeat.fields.length > 0 ? spec.repeat : undefined,
    sections: markers ? spec.sections : undefined,
    markers,
    known,
    display: spec.operation ?? spec.name,
    textHead: spec.restIsText && spec.fields.length > 0 ? spec.fields.slice(0, -1) : undefined,
    textField: spec.restIsText && spec.fields.length > 0 ? spec.fields.slice(-1) : undefined,
  };
  compiledCache.set(spec, c);
  return c;
}

function resolve(id: string, lookup: TemplateLookup | undefined, lookupFirst: boolean): TemplateSpec | undefined {
  if (lookup === undefined) return findTemplate(id);
  if (lookupFirst) return lookup(id) ?? findTemplate(id);
  return findTemplate(id) ?? lookup(id);
}

// ---------------------------------------------------------------------------
// Text forms

const DIGITS = /^[0-9]+$/;
const NUMBER_TEXT = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const INTEGER_TEXT = /^[+-]?[0-9]+$/;

function isNumberText(s: string): boolean {
  return NUMBER_TEXT.test(s) && Number.isFinite(Number(s));
}

function show(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'an invalid Date' : 'a Date';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

const EXPECT: Record<FieldKind, string> = {
  string: 'must be a string, number or boolean',
  number: 'must be a finite number',
  integer: 'must be an integer',
  boolean: 'must be true or false',
  date: 'must be a Date, epoch milliseconds or an ISO-8601 string',
};

/** One value → field text by kind, or undefined when the value does not fit the kind. */
function toText(kind: FieldKind, v: unknown): string | undefined {
  if (v === null || v === undefined) return '';
  switch (typeof v) {
    case 'string':
      switch (kind) {
        case 'number':
          return v === '' || isNumberText(v) ? v : undefined;
        case 'integer':
          return v === '' || INTEGER_TEXT.test(v) ? v : undefined;
        case 'boolean':
          return v === '' || v === 'true' || v === 'false' ? v : undefined;
        default:
          return v;
      }
    case 'number':
      if (!Number.isFinite(v)) return undefined;
      switch (kind) {
        case 'integer':
          return Number.isInteger(v) ? String(v) : undefined;
        case 'boolean':
          return undefined;
        case 'date': {
          const d = new Date(v);
          return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
        }
        default:
          return String(v);
      }
    case 'boolean':
      return kind === 'string' || kind === 'boolean' ? String(v) : undefined;
    case 'bigint':
      return kind === 'string' || kind === 'number' || kind === 'integer' ? String(v) : undefined;
    default:
      if (kind === 'date' && v instanceof Date && !Number.isNaN(v.getTime())) return v.toISOString();
      return undefined;
  }
}

/** Field text → typed value (decoding). Non-numeric numbers stay strings unless strict (then `undefined`). */
function fromText(kind: FieldKind, s: string): unknown {
  switch (kind) {
    case 'number':
      return isNumberText(s) ? Number(s) : s;
    case 'integer':
      return INTEGER_TEXT.test(s) ? Number(s) : s;
    case 'boolean':
      return s === 'true' ? true : s === 'false' ? false : s;
    default:
      return s;
  }
}

function isNumeric(kind: FieldKind): boolean {
  return kind === 'number' || kind === 'integer';
}

function path(group: string | undefined, item: number, name: string, scalar: boolean): string {
  if (group === undefined) return name;
  return scalar ? `${group}[${item}]` : `${group}[${item}].${name}`;
}

// ---------------------------------------------------------------------------
// Structure walker shared by decoding and encode-time validation

interface Ctx {
  strict: boolean;
  index: number | undefined;
  label: string;
}

function fail(ctx: Ctx, field: string | undefined, reason: string): never {
  throw new SmartRestRecordError(reason, { record: ctx.index, template: ctx.label, field });
}

/** Decodes fixed fields src[from..) (missing positions count as empty) into `out` (if given). */
function walkFixed(
  fields: readonly FieldSpec[],
  src: readonly string[],
  from: number,
  end: number,
  out: Record<string, unknown> | undefined,
  ctx: Ctx,
  group: string | undefined,
  item: number,
): void {
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const p = from + i;
    const s = p < end ? src[p]! : '';
    if (s === '') {
      if (ctx.strict && f.mandatory) fail(ctx, path(group, item, f.name, false), 'mandatory field is missing or empty');
      continue;
    }
    const v = fromText(f.kind, s);
    if (ctx.strict && typeof v === 'string' && isNumeric(f.kind)) {
      fail(ctx, path(group, item, f.name, false), `${EXPECT[f.kind]}, got ${JSON.stringify(s)}`);
    }
    if (out !== undefined) out[f.name] = v;
  }
}

/** Decodes src[from..end) as repetitions of `rep`. */
function walkRepeat(
  rep: RepeatSpec,
  name: string,
  src: readonly string[],
  from: number,
  end: number,
  build: boolean,
  ctx: Ctx,
): unknown[] | undefined {
  const width = rep.fields.length;
  const items: unknown[] | undefined = build ? [] : undefined;
  let count = 0;
  if (width === 1) {
    const f = rep.fields[0]!;
    for (let p = from; p < end; p++, count++) {
      const s = src[p]!;
      if (s === '') {
        if (ctx.strict && f.mandatory) fail(ctx, path(name, count, f.name, true), 'mandatory field is missing or empty');
        items?.push(s);
        continue;
      }
      const v = fromText(f.kind, s);
      if (ctx.strict && typeof v === 'string' && isNumeric(f.kind)) {
        fail(ctx, path(name, count, f.name, true), `${EXPECT[f.kind]}, got ${JSON.stringify(s)}`);
      }
      items?.push(v);
    }
  } else {
    for (let p = from; p < end; p += width, count++) {
      const obj: Record<string, unknown> | undefined = build ? {} : undefined;
      walkFixed(rep.fields, src, p, end, obj, ctx, name, count);
      items?.push(obj);
    }
  }
  if (ctx.strict && rep.min !== undefined && count < rep.min) {
    fail(ctx, name, `needs at least ${rep.min} repetition(s), got ${count}`);
  }
  return items;
}

/** Decodes marker-delimited sections in src[from..end). */
function walkSections(c: Compiled, src: readonly string[], from: number, end: number, out: Record<string, unknown> | undefined, ctx: Ctx): void {
  const markers = c.markers!;
  let p = from;
  // Fields before the first marker do not belong to any section and are ignored.
  while (p < end && !markers.has(src[p]!)) p++;
  while (p < end) {
    const section = markers.get(src[p]!)!;
    const start = p + 1;
    let stop = start;
    while (stop < end && !markers.has(src[stop]!)) stop++;
    if (section.fields) {
      const obj: Record<string, unknown> | undefined = out ? {} : undefined;
      walkFixed(section.fields, src, start, stop, obj, ctx, section.name, 0);
      if (out) out[section.name] = obj;
    } else if (section.repeat) {
      const items = walkRepeat(section.repeat, section.name, src, start, stop, out !== undefined, ctx);
      if (out) out[section.name] = items;
    }
    p = stop;
  }
}

/**
 * Walks a record `src` whose first field after the ID is at `from`; fills `out` (when given)
 * and returns the target (operations).
 */
function walk(c: Compiled, src: readonly string[], from: number, out: Record<string, unknown> | undefined, ctx: Ctx): string | undefined {
  let end = src.length;
  while (end > from && src[end - 1] === '') end--;
  let device: string | undefined;
  let p = from;
  if (c.offset === 1) {
    device = p < end ? src[p]! : '';
    if (device === '') {
      if (ctx.strict) fail(ctx, 'device', 'the target device (first field after the ID) is missing or empty');
      device = undefined;
    }
    p++;
  }
  if (c.textHead !== undefined && c.textField !== undefined) {
    walkFixed(c.textHead, src, p, end, out, ctx, undefined, 0);
    const tp = p + c.textHead.length;
    // Free text: re-join everything from the text position, trailing commas included.
    const text = tp < src.length ? (tp === src.length - 1 ? src[tp]! : src.slice(tp).join(',')) : '';
    walkFixed(c.textField, [text], 0, text === '' ? 0 : 1, out, ctx, undefined, 0);
    return device;
  }
  walkFixed(c.fixed, src, p, end, out, ctx, undefined, 0);
  p += c.fixed.length;
  if (c.repeat) {
    const items = walkRepeat(c.repeat, c.repeat.name, src, p, end, out !== undefined, ctx);
    if (out) out[c.repeat.name] = items;
  } else if (c.markers) {
    walkSections(c, src, p, end, out, ctx);
  }
  return device;
}

// ---------------------------------------------------------------------------
// Decoding

/**
 * Describes one codec record: message ID, raw fields and, for a known template, its name and typed values.
 * Operations: `name` is the operation fragment and `device` the target (not part of `values`).
 */
export function describeRecord(record: string[], options?: DescribeRecordOptions): DecodedRecord {
  const id = record.length > 0 ? record[0]! : '';
  const messageId: number | string = DIGITS.test(id) ? Number(id) : id;
  const fields = record.slice(1);
  const spec = resolve(id, options?.lookup, options?.preferLookup === true);
  if (spec === undefined) return { messageId, fields };
  const c = compile(spec);
  const values: Record<string, unknown> = {};
  const ctx: Ctx = { strict: options?.strict === true, index: options?.index, label: c.label };
  const device = walk(c, record, 1, values, ctx);
  const out: DecodedRecord = { messageId, fields, name: c.display, values };
  if (device !== undefined) out.device = device;
  return out;
}

// ---------------------------------------------------------------------------
// Encoding

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function textOf(ctx: Ctx, kind: FieldKind, v: unknown, field: string): string {
  const s = toText(kind, v);
  if (s === undefined) fail(ctx, field, `${EXPECT[kind]}, got ${show(v)}`);
  return s;
}

function messageIdText(v: unknown, index: number | undefined): string {
  let id: string | undefined;
  if (typeof v === 'string') id = v;
  else if (typeof v === 'number' && Number.isInteger(v) && v >= 0) id = String(v);
  if (id === undefined || id === '') {
    throw new SmartRestRecordError(`message ID must be a non-empty string or a non-negative integer, got ${show(v)}`, { record: index });
  }
  return id;
}

function checkKeys(ctx: Ctx, obj: Record<string, unknown>, known: ReadonlySet<string> | readonly FieldSpec[], where: string | undefined): void {
  for (const key of Object.keys(obj)) {
    const ok = known instanceof Set ? known.has(key) : (known as readonly FieldSpec[]).some((f) => f.name === key);
    if (!ok) {
      const names = known instanceof Set ? [...known] : (known as readonly FieldSpec[]).map((f) => f.name);
      const field = where === undefined ? key : `${where}.${key}`;
      const hint = where === undefined && key === 'device' ? ' (an operation target goes in `device` next to `values`)' : '';
      fail(ctx, field, `unknown field; known: ${names.length ? names.join(', ') : '(none)'}${hint}`);
    }
  }
}

/** `name` is the key in `values` (the repeat's own name, or its section's name). */
function pushRepeatNamed(out: string[], rep: RepeatSpec, name: string, v: unknown, ctx: Ctx): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) fail(ctx, name, `must be an array, got ${show(v)}`);
  const scalar = rep.fields.length === 1;
  for (let i = 0; i < v.length; i++) {
    const item: unknown = v[i];
    if (scalar) {
      out.push(textOf(ctx, rep.fields[0]!.kind, item, path(name, i, '', true)));
      continue;
    }
    if (!isPlainObject(item)) fail(ctx, `${name}[${i}]`, `must be an object, got ${show(item)}`);
    checkKeys(ctx, item, rep.fields, `${name}[${i}]`);
    for (const f of rep.fields) out.push(textOf(ctx, f.kind, item[f.name], path(name, i, f.name, false)));
  }
}

function namedToFields(c: Compiled, id: string, values: Record<string, unknown>, device: unknown, ctx: Ctx): string[] {
  checkKeys(ctx, values, c.known, undefined);
  const out: string[] = [id];
  if (c.offset === 1) out.push(textOf(ctx, 'string', device, 'device'));
  for (const f of c.fixed) out.push(textOf(ctx, f.kind, values[f.name], f.name));
  if (c.repeat) pushRepeatNamed(out, c.repeat, c.repeat.name, values[c.repeat.name], ctx);
  if (c.sections) {
    for (const s of c.sections) {
      out.push(s.marker);
      const v = values[s.name];
      if (s.fields) {
        if (v !== undefined && v !== null && !isPlainObject(v)) fail(ctx, s.name, `must be an object, got ${show(v)}`);
        const obj = (v ?? {}) as Record<string, unknown>;
        checkKeys(ctx, obj, s.fields, s.name);
        for (const f of s.fields) out.push(textOf(ctx, f.kind, obj[f.name], `${s.name}.${f.name}`));
      } else if (s.repeat) {
        pushRepeatNamed(out, s.repeat, s.name, v, ctx);
      }
    }
  }
  return out;
}

/** Raw/array form of a known template: each value converted by the kind of its position. */
function rawToFields(c: Compiled, id: string, src: readonly unknown[], from: number, ctx: Ctx): string[] {
  const out: string[] = [id];
  const n = src.length;
  let p = from;
  if (c.offset === 1 && p < n) out.push(textOf(ctx, 'string', src[p++], 'device'));
  for (let i = 0; i < c.fixed.length && p < n; i++, p++) {
    const f = c.fixed[i]!;
    out.push(textOf(ctx, f.kind, src[p], f.name));
  }
  const rep = c.repeat;
  if (rep) {
    const width = rep.fields.length;
    for (let j = 0; p < n; j++, p++) {
      const f = rep.fields[j % width]!;
      out.push(textOf(ctx, f.kind, src[p], path(rep.name, Math.floor(j / width), f.name, width === 1)));
    }
  } else if (c.markers) {
    let section: SectionSpec | undefined;
    let j = 0;
    for (; p < n; p++, j++) {
      const v = src[p];
      const marker = typeof v === 'string' ? c.markers.get(v) : undefined;
      if (marker) {
        section = marker;
        j = -1;
        out.push(v as string);
        continue;
      }
      let f: FieldSpec | undefined;
      let name = `#${p - from + 1}`;
      if (section?.fields) {
        f = section.fields[j];
        if (f) name = `${section.name}.${f.name}`;
      } else if (section?.repeat) {
        const width = section.repeat.fields.length;
        f = section.repeat.fields[j % width];
        if (f) name = path(section.name, Math.floor(j / width), f.name, width === 1);
      }
      out.push(textOf(ctx, f?.kind ?? 'string', v, name));
    }
  }
  // Fields beyond the template (and restIsText overflow) pass through as text.
  for (; p < n; p++) out.push(textOf(ctx, 'string', src[p], `#${p - from + 1}`));
  return out;
}

function trimTrailing(out: string[]): string[] {
  let end = out.length;
  while (end > 1 && out[end - 1] === '') end--;
  if (end < out.length) out.length = end;
  return out;
}

/**
 * Converts one record (raw `{messageId, fields}`, array `[id, ...fields]` or named `{messageId, values}`)
 * into codec fields `[messageId, ...fields]`, checked against its template.
 */
export function recordToFields(input: RecordInput, options?: RecordToFieldsOptions): string[] {
  const index = options?.index;
  const lookup = options?.lookup;
  let id: string;
  let src: readonly unknown[] | undefined;
  let from = 0;
  let named: Record<string, unknown> | undefined;
  let device: unknown;
  let lookupFirst = false;
  if (Array.isArray(input)) {
    if (input.length === 0) throw new SmartRestRecordError('empty record (no message ID)', { record: index });
    id = messageIdText(input[0], index);
    src = input;
    from = 1;
  } else if (isPlainObject(input)) {
    const rec = input as Record<string, unknown>;
    id = messageIdText(rec.messageId, index);
    if (Array.isArray(rec.fields)) {
      src = rec.fields as unknown[];
    } else if (isPlainObject(rec.values)) {
      named = rec.values;
      device = rec.device;
      lookupFirst = typeof rec.xid === 'string' && rec.xid !== '';
    } else {
      throw new SmartRestRecordError('a record needs `fields` (array) or `values` (object)', { record: index, template: id });
    }
  } else {
    throw new SmartRestRecordError(`a record must be an array or an object, got ${show(input)}`, { record: index });
  }

  const spec = resolve(id, lookup, lookupFirst);
  if (spec === undefined) {
    const ctx: Ctx = { strict: true, index, label: id };
    if (named !== undefined) fail(ctx, undefined, 'unknown message ID: named values need a static or custom template');
    if (!options?.allowUnknown) fail(ctx, undefined, 'unknown message ID (no static or custom template); set allowUnknown to pass it through');
    const out: string[] = [id];
    for (let p = from; p < src!.length; p++) out.push(textOf(ctx, 'string', src![p], `#${p - from + 1}`));
    return trimTrailing(out);
  }

  const c = compile(spec);
  const ctx: Ctx = { strict: true, index, label: c.label };
  const out = trimTrailing(named !== undefined ? namedToFields(c, id, named, device, ctx) : rawToFields(c, id, src!, from, ctx));
  // Structural check by position: mandatory fields, numeric text, repetition minimum.
  walk(c, out, 1, undefined, ctx);
  return out;
}
