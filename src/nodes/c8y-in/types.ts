import type { NodeDef } from 'node-red';
import type { OperationRef } from '../../c8y/operations';
import type { DecodedRecord } from '../../smartrest/types';
import type { JsonError } from '../../c8y/json';

/** Editor configuration of `c8y-in`. */
export interface C8yInConfig extends NodeDef {
  device: string;
  /** Send `501` (EXECUTING) when an operation is handed to the flow. */
  executing: boolean;
  /** Second output with `s/e` error lines. */
  errors: boolean;
  outputs: number;
}

/** Message contract of `c8y-in`, output 1: one downstream line (an operation, or an answer like 106/601). */
export interface C8yInOutput {
  /** `s/ds`, `s/dc/<X-ID>`, or `devicecontrol/notifications` (c8y-device set to JSON operations). */
  topic: string;
  /** SmartREST: decoded as smartrest-decode does (name = operation fragment, values named). JSON: the operation as the platform sent it. */
  payload: DecodedRecord | Record<string, unknown>;
  format: 'smartrest' | 'json';
  /** The platform's operation id (JSON operations): its result is sent by id (504/505/506). */
  operationId?: string;
  /** Target device external id (the device itself or a child). */
  device?: string;
  /** For operations: send this message back to c8y-out with a result payload to finish it. */
  operation?: OperationRef;
}

/** Output 2 (optional): an `s/e` line `{messageId, fields: [msgId, text]}`, or a JSON error `{error, message, messageId}` from `error`. */
export interface C8yInErrorOutput {
  topic: 's/e' | 'error';
  payload: DecodedRecord | JsonError;
}
