import type { NodeDef } from 'node-red';
import type { Operation } from '../../endpoint/operations';
import type { RecordInput } from '../../smartrest/types';

/** Editor configuration of `c8y-endpoint-out`. */
export interface C8yEndpointOutConfig extends NodeDef {
  endpoint: string;
  /** Default device id when msg.device is missing. */
  device: string;
}

/** Message contract of `c8y-endpoint-out`: input. */
export interface C8yEndpointOutInput {
  /** Device id (from its ClientId); the node's setting is used when missing. */
  device?: string;
  /** Child device that executes the operation (its external id); the line goes to the parent's connection. */
  child?: string;
  /**
   * Operation record(s), any form `smartrest-encode` accepts: `{messageId: 510, values: {}}`,
   * `{messageId: 511, fields: ['dev1', 'ls']}`, `['510', 'dev1']`, an array of records, or SmartREST text.
   * Named records get the target (msg.child, else msg.device) when they name none.
   */
  payload: RecordInput | RecordInput[] | string;
  /** Send on `s/dc/<X-ID>` as custom lines (unchecked) instead of static operations on `s/ds`. */
  xid?: string;
  /** Fragment of custom operations (for 501–503 matching). */
  fragment?: string;
}

/** Message contract of `c8y-endpoint-out`: output, one message per operation and status change. */
export interface C8yEndpointOutOutput {
  /** The operation after the change (status PENDING when created, then EXECUTING, SUCCESSFUL or FAILED). */
  payload: Operation;
  /** `operation/<STATUS>`. */
  topic: string;
  device: string;
  child?: string;
  operationId: string;
}
