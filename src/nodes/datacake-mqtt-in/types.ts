import type { NodeDef } from 'node-red';
import type { DatacakeTarget } from '../../datacake/topics';
import type { DatacakeValue } from '../../datacake/values';

/** Editor configuration of `datacake-mqtt-in`. */
export interface DatacakeInConfig extends NodeDef {
  broker: string;
  productSlug: string;
  /** A device id, or `+` / blank for every device of the product (`*` is rewritten to `+`). */
  deviceId: string;
  /** A field identifier, or `+` / blank for every field. */
  field: string;
  qos: 0 | 1 | '0' | '1';
  /** Emit a value only when it differs from the last one of the same device+field. */
  changeOnly: boolean;
  /** msg.payload is the text as received (no typing: `"42"` stays `"42"`, empty stays `""`). Default off. */
  keepStrings?: boolean;
}

/** Message contract of `datacake-mqtt-in`: each output message (one per received value). */
export interface DatacakeInOutput {
  /**
   * Typed: number, boolean (`true`/`True`/`false`), `{lat, lng}` from `(lat,lng)`, parsed JSON, null for empty, else
   * the string; with `keepStrings` the text as received.
   */
  payload: DatacakeValue;
  /** The text as received. */
  raw: string;
  /** `dtck/<product>/<device>/<FIELD>` */
  topic: string;
  datacake: DatacakeTarget;
}
