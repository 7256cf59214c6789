import type { NodeDef } from 'node-red';
import type { DatacakeTarget } from '../../datacake/topics';

/** Editor configuration of `datacake-mqtt-out`. */
export interface DatacakeOutConfig extends NodeDef {
  broker: string;
  /** Blank: taken from msg.datacake.productSlug or msg.topic. */
  productSlug: string;
  /** Blank: taken from msg.datacake.deviceId or msg.topic. */
  deviceId: string;
  /** Blank: msg.datacake.field / msg.topic, or one publish per key of an object payload. */
  field: string;
  qos: 0 | 1 | '0' | '1';
  /** Minimum seconds between two writes of one field (the latest value wins); 0 = no limit. Default 1. */
  rate: number | string;
  /** Write a field only when its value differs from the last value written. */
  changeOnly: boolean;
}

/** Message contract of `datacake-mqtt-out`: input. */
export interface DatacakeOutInput {
  /** One value (number, boolean, string, `{lat, lng}`) for one field, or `{ FIELD: value, … }` for several. */
  payload: unknown;
  /** Target, used for the slots the node leaves blank. */
  datacake?: Partial<DatacakeTarget>;
  /** `dtck-pub/<product>/<device>/<FIELD>` or `dtck/…` (the in-node's topic), used after msg.datacake. */
  topic?: string;
}

export type { PlannedWrite } from '../../datacake/writes';
