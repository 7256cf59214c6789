import type { NodeDef } from 'node-red';
import type { ProcessingMode, QuoteStyle, RecordInput } from '../../smartrest/types';

/** Editor configuration of `smartrest-encode`. */
export interface SmartRestEncodeConfig extends NodeDef {
  mode: ProcessingMode;
  device: string;
  quote: QuoteStyle;
  xid: string;
  templates: string;
  truncate: boolean;
  allowUnknown: boolean;
  maxBytes: number | string;
}

/** Message contract of `smartrest-encode`: input. */
export interface SmartRestEncodeInput {
  /** One record, an array of fields, an array of records, or ready SmartREST CSV text. */
  payload: RecordInput | RecordInput[] | string;
  /** Processing mode s/t/q/c, overrides the node's. */
  mode?: ProcessingMode;
  /** Child device external id, overrides the node's. */
  device?: string;
  /** `register-templates`: emit the node's custom template collection for `s/ut/<X-ID>`. */
  action?: 'register-templates';
}

/** Message contract of `smartrest-encode`: each output message (one per payload). */
export interface SmartRestEncodeOutput {
  /** SmartREST CSV, records joined with LF, at most 16184 bytes per publish. */
  payload: string;
  /** Upstream topic, e.g. `s/us`, `t/us/child1`, `s/uc/myTemplates`, or `s/ut/<X-ID>` for a registration. */
  topic: string;
  /** 0-based indexes of the input records carried by this message, and those whose free text was shortened. */
  smartrest: { records: number[]; truncated: number[] };
}
