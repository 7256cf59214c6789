/**
 * Planning the field writes of one out-node message: the target slots come from the node first, then
 * `msg.datacake`, then `msg.topic` (`dtck-pub/…` or the in-node's `dtck/…`); the payload is one value for one
 * field, or `{ FIELD: value, … }` when no field is given. All-or-nothing: any bad part throws, nothing is written.
 */
import { normalizeField, parseTopic, publishTopic, type DatacakeTarget } from './topics';
import { canonicalText, isFieldMap, serializeValue } from './values';

export interface TargetSlots {
  productSlug?: string;
  deviceId?: string;
  field?: string;
}

export interface WriteInput {
  payload: unknown;
  datacake?: Partial<DatacakeTarget>;
  topic?: string;
}

/** One field write planned from an input message. */
export interface PlannedWrite {
  target: DatacakeTarget;
  topic: string;
  text: string;
  /** Canonical text for echo and change comparisons. */
  canonical: string;
}

/** The writes of one message; throws (nothing is written) when any part is invalid. */
export function planWrites(config: TargetSlots, msg: WriteInput): PlannedWrite[] {
  const fromMsg = msg.datacake && typeof msg.datacake === 'object' ? msg.datacake : {};
  const fromTopic = typeof msg.topic === 'string' ? parseTopic(msg.topic) : undefined;
  const pick = (own: string | undefined, m: unknown, t: string | undefined) => (own && own.trim()) || (typeof m === 'string' && m) || t || '';
  const productSlug = pick(config.productSlug, fromMsg.productSlug, fromTopic?.productSlug);
  const deviceId = pick(config.deviceId, fromMsg.deviceId, fromTopic?.deviceId);
  const field = pick(config.field, fromMsg.field, fromTopic?.field);
  if (!productSlug) throw new Error('no product slug: set it in the node, msg.datacake.productSlug or msg.topic');
  if (!deviceId) throw new Error('no device id: set it in the node, msg.datacake.deviceId or msg.topic');
  const payload = msg.payload;
  let entries: [string, unknown][];
  if (field) {
    if (isFieldMap(payload)) throw new Error(`msg.payload is an object but the target is the single field ${field}: send one value, or leave the field blank to write { FIELD: value, … }`);
    entries = [[field, payload]];
  } else if (isFieldMap(payload)) {
    entries = Object.entries(payload);
    if (!entries.length) throw new Error('msg.payload is an empty object: no field to write');
  } else {
    throw new Error('no field: set it in the node, msg.datacake.field or msg.topic, or send an object { FIELD: value, … }');
  }
  return entries.map(([name, value]) => {
    const target: DatacakeTarget = { productSlug, deviceId, field: normalizeField(name) };
    const text = serializeValue(value, target.field);
    return { target, topic: publishTopic(target), text, canonical: canonicalText(text) };
  });
}

