/**
 * Dynamic subscriptions of `datacake-mqtt-in` (msg.action `subscribe` / `unsubscribe`): what a message may ask for,
 * checked with the same topic grammar as the configured subscription (src/datacake/topics.ts).
 */
import { parseTopic, subscriptionFilter, SUBSCRIBE_PREFIX } from './topics';

/** `msg.topic` of a `subscribe` / `unsubscribe` action: a `dtck/<product>/<device|+>/<FIELD|+>` filter or this. */
export interface DatacakeSubscriptionRequest {
  productSlug: string;
  /** A device id, or `+` / blank for every device. */
  deviceId?: string;
  /** A field identifier, or `+` / blank for every field. */
  field?: string;
  qos?: 0 | 1;
}

/** One subscription of the node, as listed in `msg.subscriptions` and by `getSubscriptions`. */
export interface DatacakeSubscription {
  topic: string;
  qos: 0 | 1;
}

/** One requested subscription (a `dtck/…` filter or `{ productSlug, deviceId?, field?, qos? }`) as a checked filter. */
export function requestedSubscription(req: unknown, defaultQos: 0 | 1): DatacakeSubscription {
  if (typeof req === 'string') {
    const parts = req.trim().split('/');
    if (parts.length !== 4 || parts[0] !== SUBSCRIBE_PREFIX || !parseTopic(req.trim())) {
      throw new Error(`${JSON.stringify(req)} is not a Datacake subscription (dtck/<product>/<device|+>/<FIELD|+>)`);
    }
    return requestedSubscription({ productSlug: parts[1], deviceId: parts[2], field: parts[3] }, defaultQos);
  }
  if (!req || typeof req !== 'object' || Array.isArray(req)) throw new Error('msg.topic must be a dtck/… filter, { productSlug, deviceId, field }, or an array of them');
  const r = req as DatacakeSubscriptionRequest;
  if (typeof r.productSlug !== 'string') throw new Error('subscription: productSlug is missing');
  const spec = subscriptionFilter(r.productSlug, r.deviceId === undefined ? undefined : String(r.deviceId), r.field === undefined ? undefined : String(r.field));
  if (spec.rewritten.length) throw new Error(`"*" in ${spec.rewritten.join(' and ')} is not an MQTT wildcard: use "+"`);
  const q = r.qos === undefined ? defaultQos : Number(r.qos);
  if (q !== 0 && q !== 1) throw new Error(`subscription ${spec.filter}: qos must be 0 or 1`);
  return { topic: spec.filter, qos: q };
}

