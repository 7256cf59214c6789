/**
 * Shared types of the SmartREST protocol core. Pure data, no Node-RED import:
 * nodes, tests and other programs use the same contracts.
 */

/** How a field's text is typed when decoded into named values (and checked when encoded). */
export type FieldKind =
  | 'string' // kept as text
  | 'number' // finite decimal number (decoded to a JS number)
  | 'integer' // whole number (decoded to a JS number)
  | 'boolean' // `true`/`false` (decoded to a JS boolean)
  | 'date'; // ISO-8601 text; kept as string, a JS Date is accepted when encoding

export interface FieldSpec {
  /** Property name in `values` (camelCase, e.g. `fragment`, `series`, `failureReason`). */
  name: string;
  kind: FieldKind;
  /** The platform refuses the message without it. */
  mandatory?: boolean;
  /** Free text that may be truncated to fit the payload size limit (alarm/event text, failure reason, command). */
  text?: boolean;
}

/** A trailing group of fields that repeats (e.g. the software triples of 116). */
export interface RepeatSpec {
  /** Property name in `values` holding the array (e.g. `software`, `operations`). */
  name: string;
  /** Fields of one repetition. A group of exactly one field is an array of scalars, else an array of objects. */
  fields: FieldSpec[];
  /** Least number of repetitions the platform needs (default 0). */
  min?: number;
}

/**
 * A marker-delimited section of a downstream message (527/531 device profile:
 * `$FW`, name, version, … `$SW`, (…)* `$CONF`, (…)*).
 */
export interface SectionSpec {
  marker: string; // e.g. "$FW"
  name: string; // property name in `values`, e.g. "firmware"
  /** Either fixed fields (an object in `values`) … */
  fields?: FieldSpec[];
  /** … or a repeating group (an array in `values`). */
  repeat?: RepeatSpec;
}

export type TemplateDirection = 'up' | 'down';

export type TemplateCategory =
  | 'inventory'
  | 'measurement'
  | 'alarm'
  | 'event'
  | 'operation-status' // 500–507
  | 'capability' // 600/602 and answers 601/603
  | 'operation' // downstream operations 510–531
  | 'response' // downstream answers 106, 124
  | 'template' // 20 on s/dt
  | 'credentials' // 70, 71
  | 'error'; // 40–50 on s/e

/** One static SmartREST template, as data. */
export interface TemplateSpec {
  id: number;
  /** Human name from the Cumulocity documentation, e.g. "Create custom measurement". */
  name: string;
  direction: TemplateDirection;
  category: TemplateCategory;
  /** Downstream operations: the operation fragment, e.g. `c8y_Restart`. */
  operation?: string;
  /** Downstream operations: the first field after the message ID is the target device's external ID. */
  target?: boolean;
  /** Fixed fields in order, after the message ID (and after the target, for operations). */
  fields: FieldSpec[];
  /** Repeating group after the fixed fields. */
  repeat?: RepeatSpec;
  /** Marker-delimited sections after the fixed fields (527, 531). */
  sections?: SectionSpec[];
  /** The rest of the line after the fixed fields is one unsplit free-text field (`s/e` lines). */
  restIsText?: boolean;
}

/** A record as it travels in flows before/after the codec. */
export interface RawRecord {
  messageId: number | string;
  fields: string[];
}

/** Named form accepted by the encoder: values keyed by the catalogue's (or a custom template's) field names. */
export interface NamedRecord {
  messageId: number | string;
  values: Record<string, unknown>;
  /** For custom templates: the template collection (X-ID) the message ID belongs to. */
  xid?: string;
  /** Downstream operations (templates with `target`): the target device's external ID (first field after the ID). */
  device?: string;
}

/** Anything `smartrest-encode` accepts as one record. */
export type RecordInput = RawRecord | NamedRecord | Array<string | number | boolean>;

/** What `smartrest-decode` (and `c8y-endpoint-in`, `c8y-in`) emit for one record. */
export interface DecodedRecord {
  /** A number when the ID is all digits, else the string (custom templates). */
  messageId: number | string;
  /** Decoded field strings after the message ID. */
  fields: string[];
  /** Template name, or the operation fragment for operations. */
  name?: string;
  /** Named fields, typed as the template says. */
  values?: Record<string, unknown>;
  /** Target external ID of an operation, or the child ID taken from an upstream topic. */
  device?: string;
}

/** Processing modes of upstream topics. */
export type ProcessingMode = 's' | 't' | 'q' | 'c';

/** Escaping style for quotes inside quoted fields. */
export type QuoteStyle = 'backslash' | 'double';
