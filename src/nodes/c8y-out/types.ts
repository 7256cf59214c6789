import type { NodeDef } from 'node-red';
import type { OperationRef, OperationResult } from '../../c8y/operations';
import type { ProcessingMode, RecordInput } from '../../smartrest/types';

/** Editor configuration of `c8y-out`. */
export interface C8yOutConfig extends NodeDef {
  device: string;
  qos: '0' | '1' | 0 | 1;
  mode: ProcessingMode;
}

/** Message contract of `c8y-out`: data. */
export interface C8yOutInput {
  /** Anything `smartrest-encode` accepts (record, array of fields, array of records) or ready SmartREST CSV. */
  payload: RecordInput | RecordInput[] | string;
  /** Child device external id: published on `s/us/<child>`. */
  device?: string;
  /** Processing mode s/t/q/c (default the node's). */
  mode?: ProcessingMode;
  /** An upstream Cumulocity topic (e.g. `s/ut/<X-ID>` from smartrest-encode) is used as is for CSV payloads. */
  topic?: string;
  /** `request-token`: publish an empty `s/uat`; the `71,<JWT>` answer comes out of c8y-in (topic `s/dat`). */
  action?: 'request-token';
}

/** Message contract of `c8y-out`: an operation result (the c8y-in message coming back). */
export interface C8yOutResult {
  operation: OperationRef;
  payload: OperationResult;
}
