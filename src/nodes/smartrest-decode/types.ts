import type { NodeDef } from 'node-red';
import type { ParseIssue } from '../../smartrest/codec';
import type { DecodedRecord, QuoteStyle } from '../../smartrest/types';

/** Editor configuration of `smartrest-decode`. */
export interface SmartRestDecodeConfig extends NodeDef {
  /** `record`: one message per record (default); `array`: one message with all records. */
  output: 'record' | 'array';
  quote: QuoteStyle;
  xid: string;
  templates: string;
}

/** Message contract of `smartrest-decode`: input. */
export interface SmartRestDecodeInput {
  /** SmartREST text (string or Buffer) with one or more records. */
  payload: string | Buffer;
  /** Optional Cumulocity topic (`s/ds`, `s/e`, `s/dcr`, `s/us/<child>`, `s/dc/<X-ID>`, …): decoding follows it. */
  topic?: string;
}

/** Message contract of `smartrest-decode`: output (`record` mode; `array` mode has `payload: DecodedRecord[]`). */
export interface SmartRestDecodeOutput {
  payload: DecodedRecord;
  topic?: string;
  /** 1-based number of the record in the input payload, and how many records it had. */
  smartrest: { record: number; of: number };
}

/** What a Catch node sees for records that could not be decoded (added to the input msg). */
export interface SmartRestDecodeErrorMsg {
  issues: ParseIssue[];
}
