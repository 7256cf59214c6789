import type { NodeDef } from 'node-red';
import type { OperationRef, OperationResult } from '../../c8y/operations';
import type { ProcessingMode, RecordInput } from '../../smartrest/types';

/** Editor configuration of `c8y-out`. */
export interface C8yOutConfig extends NodeDef {
  device: string;
  qos: '0' | '1' | 0 | 1;
  mode: ProcessingMode;
  /** `smartrest` (default): CSV on s/us; `json`: Cumulocity's JSON via MQTT (measurement/measurements/create, …). */
  format?: 'smartrest' | 'json';
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
  /**
   * `request-token`: publish an empty `s/uat`; the `71,<JWT>` answer comes out of c8y-in (topic `s/dat`).
   * `fail-executing`: `507` with `msg.payload = { fragment?, reason? }` (every EXECUTING operation of the fragment, or all).
   */
  action?: 'request-token' | 'fail-executing';
  /** `smartrest` or `json` (default: the node's setting). A JSON topic in msg.topic sends msg.payload as it is. */
  format?: 'smartrest' | 'json';
  /** With `payload: { status, result?, reason? }`: the result by operation id (504/505/506). */
  operationId?: string | number;
}

/** Message contract of `c8y-out`: an operation result (the c8y-in message coming back). */
export interface C8yOutResult {
  operation: OperationRef;
  payload: OperationResult;
}
