/**
 * Cumulocity's size limit: one MQTT PUBLISH may not exceed 16184 bytes, fixed header, topic and packet id
 * included (reference §1.7). Sizes are UTF-8 bytes measured after escaping.
 */
import { serializeRecord, SmartRestEncodeError } from './codec';
import type { QuoteStyle } from './types';

export const MAX_PUBLISH_BYTES = 16184;

function varintLength(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

/** Largest payload (bytes) that keeps a PUBLISH on `topic` within `limit`. */
export function maxPayloadBytes(topic: string, qos = 1, limit = MAX_PUBLISH_BYTES): number {
  const head = 2 + Buffer.byteLength(topic) + (qos > 0 ? 2 : 0);
  let payload = limit - 1 - head - varintLength(limit);
  while (payload > 0 && 1 + varintLength(head + payload) + head + payload > limit) payload--;
  return Math.max(0, payload);
}

export class SmartRestSizeError extends Error {
  readonly record: number;
  readonly bytes: number;
  readonly limit: number;
  constructor(record: number, bytes: number, limit: number, detail = '') {
    super(`record ${record} is ${bytes} bytes after escaping, more than the ${limit} bytes a payload may have${detail}`);
    this.name = 'SmartRestSizeError';
    this.record = record;
    this.bytes = bytes;
    this.limit = limit;
  }
}

export interface PackOptions {
  quote?: QuoteStyle;
  /** Payload budget in bytes (see maxPayloadBytes). */
  maxBytes: number;
  /**
   * For a record that does not fit on its own: the index (within the record, message ID = 0) of its
   * free-text field, which is then shortened to fit; undefined means the record is an error.
   */
  textField?: (record: readonly string[], index: number) => number | undefined;
}

/** A payload ready to publish, with the 0-based indexes of the input records it carries. */
export interface Packed {
  payload: string;
  records: number[];
  /** Indexes of records whose free text was shortened to fit. */
  truncated: number[];
}

/**
 * Encode records and pack them greedily, in order, into as few payloads as fit the budget.
 * A record that cannot fit alone is shortened when `textField` names its free text, else it is an error.
 */
export function packRecords(records: readonly (readonly string[])[], options: PackOptions): Packed[] {
  const out: Packed[] = [];
  let current: Packed | undefined;
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    let line = serializeRecordAt(records[i], options.quote, i);
    let size = Buffer.byteLength(line);
    let truncated = false;
    if (size > options.maxBytes) {
      const textIndex = options.textField?.(records[i], i);
      if (textIndex === undefined) throw new SmartRestSizeError(i + 1, size, options.maxBytes);
      line = truncateToFit(records[i], textIndex, options.maxBytes, options.quote, i);
      size = Buffer.byteLength(line);
      truncated = true;
    }
    if (current && bytes + 1 + size <= options.maxBytes) {
      current.payload += '\n' + line;
      current.records.push(i);
      bytes += 1 + size;
    } else {
      current = { payload: line, records: [i], truncated: [] };
      out.push(current);
      bytes = size;
    }
    if (truncated) current.truncated.push(i);
  }
  return out;
}

function serializeRecordAt(record: readonly string[], quote: QuoteStyle | undefined, index: number): string {
  try {
    return serializeRecord(record, { quote });
  } catch (err) {
    if (err instanceof SmartRestEncodeError) throw new SmartRestEncodeError(err.message.replace(/^cannot encode .*?: /, ''), err.value, index + 1);
    throw err;
  }
}

/**
 * Shorten field `textIndex` of a record so that the encoded record fits `maxBytes`. The value is cut on a
 * character boundary and re-encoded, so escapes are never split, quotes stay balanced and the bytes are
 * valid UTF-8; the size is measured after escaping.
 */
export function truncateToFit(record: readonly string[], textIndex: number, maxBytes: number, quote: QuoteStyle | undefined, index = 0): string {
  const value = record[textIndex];
  if (textIndex <= 0 || textIndex >= record.length || typeof value !== 'string') {
    throw new SmartRestSizeError(index + 1, Buffer.byteLength(serializeRecord(record, { quote })), maxBytes, ' and it has no free-text field to shorten');
  }
  const chars = Array.from(value); // code points: never split a surrogate pair
  const encode = (n: number): string | undefined => {
    const copy = record.slice();
    copy[textIndex] = chars.slice(0, n).join('');
    try {
      return serializeRecord(copy, { quote });
    } catch {
      return undefined; // e.g. a cut that ends in a backslash inside quotes; try a shorter one
    }
  };
  let lo = 0;
  let hi = chars.length;
  let best = encode(0);
  if (best === undefined || Buffer.byteLength(best) > maxBytes) {
    throw new SmartRestSizeError(index + 1, Buffer.byteLength(serializeRecord(record, { quote })), maxBytes, ' even with its free text removed');
  }
  // Binary search for the longest prefix whose encoding fits.
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    let line = encode(mid);
    let n = mid;
    while (line === undefined && n > lo) line = encode(--n);
    if (line !== undefined && n > lo && Buffer.byteLength(line) <= maxBytes) {
      best = line;
      lo = n;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}
