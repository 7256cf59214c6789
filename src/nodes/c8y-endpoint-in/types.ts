import type { NodeDef } from 'node-red';
import type { Operation } from '../../endpoint/operations';
import type { AvailabilityChange } from '../../endpoint/availability';
import type { RecordKind } from '../../endpoint/server';
import type { DecodedRecord, ProcessingMode } from '../../smartrest/types';

/** What the filter of `c8y-endpoint-in` selects: records (`all` = every record) or availability changes. */
export type EndpointInFilter = 'all' | RecordKind | 'availability';

/** Editor configuration of `c8y-endpoint-in`. */
export interface C8yEndpointInConfig extends NodeDef {
  endpoint: string;
  filter: EndpointInFilter;
  /** Only this device's traffic (exact device id); empty = every device. */
  device: string;
  /** Raise refused device input as errors on this node (default true). */
  reportErrors?: boolean;
}

/** Message contract of `c8y-endpoint-in`: one message per record a device published. */
export interface C8yEndpointInOutput {
  /** Node-RED message id (set here, same shape as Node-RED's own). */
  _msgid: string;
  /** The decoded record, the same shape as `smartrest-decode` emits. */
  payload: DecodedRecord;
  /** Device id from the ClientId. */
  device: string;
  /** Child device id from the topic (`s/us/<child>`), if any. */
  child?: string;
  mode: ProcessingMode;
  tenant: string;
  /** Topic as the device published it (`s/us`, `t/us/child1`, `s/uc/<X-ID>`, …). */
  topic: string;
  /** Record kind (what the filter selects). */
  kind: RecordKind;
  /** `json` when the device published to a JSON topic (`measurement/measurements/create`, …), else `smartrest`. */
  format: 'smartrest' | 'json';
  /** JSON topics: the body as the device published it (fragments the record does not carry are here). */
  json?: Record<string, unknown>;
  /** Operation status records (501–507): the operations they changed, after the change. */
  operations?: Operation[];
}

/** What a Catch node receives when a device sent something the endpoint refused (also sent to it on `s/e`). */
export interface C8yEndpointInErrorMsg {
  /** The refused payload (or the bad record). */
  payload?: string;
  device?: string;
  topic?: string;
  /** The `s/e` line, e.g. `40,999,No static template for this message id`. */
  smartrestError: { code: number; id: string; text: string; line: string };
}

/** Message contract of `c8y-endpoint-in` with filter *availability*: one message per change of a device. */
export interface C8yEndpointInAvailabilityOutput {
  _msgid: string;
  /** `{device, state: AVAILABLE | UNAVAILABLE | CONNECTED | DISCONNECTED, reason, time}`. */
  payload: AvailabilityChange;
  /** The device (or child) whose availability changed. */
  device: string;
  /** `availability/<state>`. */
  topic: string;
  kind: 'availability';
  tenant: string;
}
