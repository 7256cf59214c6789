/**
 * SmartREST CSV codec: text ⇄ records (`string[][]`, message ID first).
 *
 * Decoding is tolerant (reference §9.3): records split on LF outside quotes, CRLF tolerated, empty lines
 * skipped, inside quotes both `\"` and `""` mean a quote, any other backslash is literal (`\n` stays two
 * characters), real line feeds inside quotes are data, unquoted fields are verbatim, trailing commas give
 * empty fields. An unterminated quote makes that record an error; the other records are still returned.
 *
 * Encoding quotes only where needed and escapes quotes in one of two styles:
 * - `backslash` (default, as the Cumulocity MQTT documentation specifies): `"` → `\"`.
 *   Not expressible: a value that must be quoted and ends with a backslash (the final `\` would read as
 *   `\"`). Such a value is refused with an error that names it.
 * - `double` (RFC 4180, what thin-edge.io sends upstream): `"` → `""`. Every value is expressible; read it
 *   back with `parse(text, { quote: 'double' })`, which treats backslashes as ordinary characters.
 * Control characters other than TAB, CR and LF (C0, DEL, C1) are refused in both styles: SmartREST has no
 * way to carry them and the platform strips or rejects them.
 *
 * The hot paths avoid per-character work where they can: a line without quotes is split with the
 * engine's native `split`, and a field without special characters is emitted as is.
 */
import type { QuoteStyle } from './types';

const LF = 10;
const CR = 13;
const QUOTE = 34;
const COMMA = 44;
const BACKSLASH = 92;

export interface ParseOptions {
  /**
   * `backslash` (default): tolerant, accepts both `\"` and `""` inside quotes.
   * `double`: strict RFC 4180, only `""` is an escaped quote and backslashes are ordinary characters.
   */
  quote?: QuoteStyle;
}

/** One record that could not be decoded. */
export interface ParseIssue {
  /** 1-based number of the record in the payload (counting the records that were decoded too). */
  record: number;
  /** 1-based line of the payload where the problem starts. */
  line: number;
  /** 1-based character column (within that line) where the problem starts. */
  column: number;
  /** 1-based field number (the message ID is field 1). */
  field: number;
  message: string;
  /** The text of the bad record (up to the next line feed). */
  text: string;
}

export interface ParseResult {
  records: string[][];
  errors: ParseIssue[];
}

/** Thrown by `parse` when a record is malformed; carries the records that were decoded anyway. */
export class SmartRestParseError extends Error {
  readonly issues: ParseIssue[];
  readonly records: string[][];
  constructor(issues: ParseIssue[], records: string[][]) {
    super(issues.map(describeIssue).join('; '));
    this.name = 'SmartRestParseError';
    this.issues = issues;
    this.records = records;
  }
}

export function describeIssue(issue: ParseIssue): string {
  return `record ${issue.record} (line ${issue.line}, column ${issue.column}, field ${issue.field}): ${issue.message}: ${JSON.stringify(clip(issue.text))}`;
}

function clip(text: string, max = 80): string {
  return text.length > max ? text.slice(0, max) + '…' : text;
}

/** Decode a payload into records; throws SmartRestParseError (with the good records) if any record is bad. */
export function parse(text: string, options?: ParseOptions): string[][] {
  const result = parseDetailed(text, options);
  if (result.errors.length) throw new SmartRestParseError(result.errors, result.records);
  return result.records;
}

/** Decode a payload into records and a list of the records that could not be decoded. Never throws. */
export function parseDetailed(text: string, options?: ParseOptions): ParseResult {
  const records: string[][] = [];
  const errors: ParseIssue[] = [];
  const backslash = options?.quote !== 'double';
  const len = text.length;
  let pos = 0;
  let nextQuote = text.indexOf('"');
  if (nextQuote < 0) nextQuote = len;

  while (pos < len) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = len;
    if (nextQuote >= eol) {
      // Fast path: no quote on this line, so it is plain comma-separated text.
      let end = eol;
      if (end > pos && text.charCodeAt(end - 1) === CR) end--;
      if (end > pos) records.push(text.slice(pos, end).split(','));
      pos = eol + 1;
      continue;
    }
    const start = pos;
    const fields: string[] = [];
    let failure: { at: number; message: string } | undefined;
    // Slow path: scan field by field; `pos` always sits at the start of a field here.
    for (;;) {
      if (pos < len && text.charCodeAt(pos) === QUOTE) {
        const openAt = pos;
        let value = '';
        let chunk = pos + 1;
        let i = chunk;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) {
            failure = { at: openAt, message: 'unterminated quote' };
            break;
          }
          if (backslash && q > chunk && text.charCodeAt(q - 1) === BACKSLASH) {
            value += text.slice(chunk, q - 1) + '"';
            chunk = i = q + 1;
          } else if (q + 1 < len && text.charCodeAt(q + 1) === QUOTE) {
            value += text.slice(chunk, q + 1);
            chunk = i = q + 2;
          } else {
            value += text.slice(chunk, q);
            pos = q + 1;
            break;
          }
        }
        if (failure) break;
        // Lenient: characters between the closing quote and the next delimiter are kept (`"ab"cd` → `abcd`).
        if (pos < len) {
          let c = text.charCodeAt(pos);
          if (c === CR && (pos + 1 === len || text.charCodeAt(pos + 1) === LF)) c = text.charCodeAt(++pos); // CRLF record end
          if (pos < len && c !== COMMA && c !== LF) {
            // …unless the quoted part ran over line feeds: then the opening quote was most likely never closed
            // and the quote that "closed" it belongs to a later record; report this record, keep the later ones.
            const lf = text.indexOf('\n', openAt);
            if (lf >= 0 && lf < pos) {
              failure = { at: openAt, message: 'unterminated quote' };
              break;
            }
            const tailEnd = findDelimiter(text, pos, len);
            value += stripCr(text, pos, tailEnd);
            pos = tailEnd;
          }
        }
        fields.push(value);
      } else {
        const end = findDelimiter(text, pos, len);
        fields.push(stripCr(text, pos, end));
        pos = end;
      }
      if (pos < len && text.charCodeAt(pos) === COMMA) {
        pos++;
        continue;
      }
      pos++; // past the LF (or beyond the end)
      break;
    }
    if (failure) {
      // Skip the bad record up to the end of its line so the records after it are still decoded.
      let skipTo = text.indexOf('\n', failure.at);
      if (skipTo < 0) skipTo = len;
      const lineStart = text.lastIndexOf('\n', failure.at - 1) + 1;
      errors.push({
        record: records.length + errors.length + 1,
        line: lineOf(text, failure.at),
        column: failure.at - lineStart + 1,
        field: fields.length + 1,
        message: failure.message,
        text: stripCr(text, start, skipTo),
      });
      pos = skipTo + 1;
    } else {
      records.push(fields);
    }
    nextQuote = pos < len ? text.indexOf('"', pos) : len;
    if (nextQuote < 0) nextQuote = len;
  }
  return { records, errors };
}

function findDelimiter(text: string, from: number, len: number): number {
  for (let i = from; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c === COMMA || c === LF) return i;
  }
  return len;
}

/** Slice [from, to) without a CR right before a record-ending LF. */
function stripCr(text: string, from: number, to: number): string {
  if (to > from && text.charCodeAt(to - 1) === CR && (to === text.length || text.charCodeAt(to) === LF)) to--;
  return text.slice(from, to);
}

/** 1-based line number of position `at` (only computed for errors). */
function lineOf(text: string, at: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Split lines whose last field is unescaped free text (the `s/e` topic: `<code>,<msgId>,<text>`):
 * the first `fixed` fields are split on commas, the remainder of the line is kept verbatim.
 */
export function parseFreeTextLines(text: string, fixed = 2): string[][] {
  const records: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!line) continue;
    const fields: string[] = [];
    let from = 0;
    while (fields.length < fixed) {
      const comma = line.indexOf(',', from);
      if (comma < 0) break;
      fields.push(line.slice(from, comma));
      from = comma + 1;
    }
    fields.push(line.slice(from));
    records.push(fields);
  }
  return records;
}

export interface SerializeOptions {
  /** How to escape a quote inside a quoted field: `backslash` (default, documented) or `double` (RFC 4180). */
  quote?: QuoteStyle;
}

/** Thrown when a value cannot be written as SmartREST; names the value, record and field. */
export class SmartRestEncodeError extends Error {
  readonly value: string;
  readonly record?: number;
  readonly field?: number;
  constructor(reason: string, value: string, record?: number, field?: number) {
    const where = record !== undefined ? `record ${record}${field !== undefined ? `, field ${field}` : ''}: ` : '';
    super(`${where}cannot encode ${JSON.stringify(clip(value))}: ${reason}`);
    this.name = 'SmartRestEncodeError';
    this.value = value;
    this.record = record;
    this.field = field;
  }
}

// Anything that may need quoting or is not allowed: C0 controls, quote, comma, DEL and C1 controls.
const SPECIAL = /[\x00-\x1f",\x7f-\x9f]/;
const FORBIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/;
const QUOTES = /"/g;
const NON_ASCII_SPACE = /\s/;

/** Encode records (message ID first) as one payload, records joined with LF. */
export function serialize(records: readonly (readonly string[])[], options?: SerializeOptions): string {
  const style = options?.quote ?? 'backslash';
  const n = records.length;
  if (n >= 32) {
    // Bulk: native joins give flat strings, which is where the time goes for large texts (string ropes and GC);
    // for MQTT-sized payloads the concatenation below is faster.
    const lines = new Array<string>(n);
    for (let r = 0; r < n; r++) lines[r] = plainRecord(records[r]) ?? serializeRecordAt(records[r], style, r + 1);
    return lines.join('\n');
  }
  let out = '';
  for (let r = 0; r < records.length; r++) {
    if (r > 0) out += '\n';
    out += serializeRecordAt(records[r], style, r + 1);
  }
  return out;
}

/** The record joined as is when no field needs quoting or checking, else undefined. */
function plainRecord(record: readonly string[]): string | undefined {
  const n = record.length;
  if (n === 0 || record[0] === '') return undefined;
  for (let f = 0; f < n; f++) {
    const v = record[f];
    if (typeof v !== 'string' || (v.length !== 0 && !isPlain(v))) return undefined;
  }
  return record.join(',');
}

/** A non-empty value that is written verbatim: nothing to quote, escape or refuse. */
function isPlain(value: string): boolean {
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  return (
    !SPECIAL.test(value) &&
    first > 32 &&
    last > 32 &&
    !(first > 127 && NON_ASCII_SPACE.test(value[0])) &&
    !(last > 127 && NON_ASCII_SPACE.test(value[value.length - 1]))
  );
}

/** Encode one record (without a line feed). */
export function serializeRecord(record: readonly string[], options?: SerializeOptions): string {
  return serializeRecordAt(record, options?.quote ?? 'backslash', undefined);
}

function serializeRecordAt(record: readonly string[], style: QuoteStyle, index: number | undefined): string {
  const n = record.length;
  if (n === 0 || record[0] === '') {
    throw new SmartRestEncodeError('a record needs a message ID as its first field', n ? record[0] : '', index, 1);
  }
  let line = encodeField(record[0], style, index, 1);
  for (let f = 1; f < n; f++) line += ',' + encodeField(record[f], style, index, f + 1);
  return line;
}

/** Encode one field value; quotes only where needed. */
export function serializeField(value: string, options?: SerializeOptions): string {
  return encodeField(value, options?.quote ?? 'backslash', undefined, undefined);
}

function encodeField(value: string, style: QuoteStyle, record: number | undefined, field: number | undefined): string {
  if (typeof value !== 'string') {
    throw new SmartRestEncodeError(`fields must be strings, got ${typeof value}`, String(value), record, field);
  }
  if (value.length === 0 || isPlain(value)) return value;
  const last = value.charCodeAt(value.length - 1);
  const bad = FORBIDDEN.exec(value);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw new SmartRestEncodeError(`control character U+${code} is not allowed (only TAB, CR and LF are)`, value, record, field);
  }
  if (style === 'double') return '"' + value.replace(QUOTES, '""') + '"';
  if (last === BACKSLASH) {
    throw new SmartRestEncodeError(
      'a quoted value ending in a backslash cannot be written with backslash escaping (its last `\\"` would read as an escaped quote); use quote style "double"',
      value,
      record,
      field,
    );
  }
  return '"' + value.replace(QUOTES, '\\"') + '"';
}

/** True when `serializeField` would throw for this value in this style. */
export function isExpressible(value: string, style: QuoteStyle = 'backslash'): boolean {
  try {
    encodeField(value, style, undefined, undefined);
    return true;
  } catch {
    return false;
  }
}
