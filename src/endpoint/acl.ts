/**
 * Who may publish and subscribe to what (reference §2). Three roles:
 * - device: publishes upstream topics only, subscribes downstream topics only (exact names, no wildcards);
 * - bootstrap: the registration user, may only publish `s/ucr` and subscribe `s/dcr` (and `s/e`, to see why
 *   something was refused);
 * - service: the service account, works in the per-device namespace `devices/<deviceId>/<topic>`: it may
 *   subscribe any filter inside `devices/` and publish downstream topics of one device
 *   (`devices/<id>/s/ds`, `devices/<id>/s/dc/<X-ID>`, …).
 */
import { JSON_ERROR_TOPIC, JSON_OPERATIONS_TOPIC, parseJsonTopic } from '../c8y/json';
import { parseTopic, type TopicInfo } from '../smartrest/topics';

export type Role = 'device' | 'bootstrap' | 'service';

/** Namespace under which the service account sees and reaches devices. */
export const SERVICE_PREFIX = 'devices/';

export type PublishDecision =
  | { allow: true; info: TopicInfo }
  | { allow: false; reason: string };

/**
 * Decisions for the topics seen last. Every device publishes to the same few topic strings (`s/us`, `s/uc/<X-ID>`,
 * …), so parsing each one again per message is wasted work. Bounded: child ids make the set open-ended, so the
 * cache starts over when full. Cached decisions are frozen (they are shared).
 */
const DECISION_CACHE_SIZE = 1024;
const decisions = { device: new Map<string, PublishDecision>(), bootstrap: new Map<string, PublishDecision>() };

/** What a device (or the bootstrap user) may publish. */
export function devicePublish(role: 'device' | 'bootstrap', topic: string): PublishDecision {
  const cache = decisions[role];
  let d = cache.get(topic);
  if (d === undefined) {
    if (cache.size >= DECISION_CACHE_SIZE) cache.clear();
    d = decide(role, topic);
    if (d.allow) Object.freeze(d.info);
    cache.set(topic, Object.freeze(d));
  }
  return d;
}

function decide(role: 'device' | 'bootstrap', topic: string): PublishDecision {
  const json = parseJsonTopic(topic);
  if (json && role === 'device') return { allow: true, info: { direction: 'up', kind: 'json', mode: json.mode, json } };
  const info = parseTopic(topic);
  if (role === 'bootstrap') {
    if (info?.kind === 'credentials' && info.direction === 'up') return { allow: true, info };
    return { allow: false, reason: `the bootstrap user may only publish to s/ucr, not to ${topic}` };
  }
  if (!info || info.direction !== 'up') return { allow: false, reason: `devices may only publish to upstream topics (s/us, s/uc/<X-ID>, s/ud, s/ut/<X-ID>, s/ucr, s/uat), not to ${topic} (or to the JSON topics measurement/measurements/create, event/events/create, alarm/alarms/create, inventory/managedObjects/create, inventory/managedObjects/update/<id>)` };
  return { allow: true, info };
}

/** What a device (or the bootstrap user) may subscribe to; undefined = allowed, else the reason. */
export function deviceSubscribe(role: 'device' | 'bootstrap', filter: string): string | undefined {
  if (role === 'bootstrap') return filter === 's/dcr' || filter === 's/e' ? undefined : `the bootstrap user may only subscribe to s/dcr and s/e, not to ${filter}`;
  if (filter === JSON_OPERATIONS_TOPIC || filter === JSON_ERROR_TOPIC) return undefined;
  const info = parseTopic(filter);
  if (!info || info.direction !== 'down' || /[+#]/.test(filter)) {
    return `devices may only subscribe to downstream topics (s/ds, s/dc/<X-ID>, s/dd, s/e, s/dcr, s/dat, s/dt, devicecontrol/notifications, error), not to ${filter}`;
  }
  return undefined;
}

/** Service account subscriptions: anything inside `devices/` (wildcards allowed there). */
export function serviceSubscribe(filter: string): string | undefined {
  if (filter.startsWith(SERVICE_PREFIX)) return undefined;
  return `the service account may only subscribe inside ${SERVICE_PREFIX} (e.g. devices/+/s/us), not to ${filter}`;
}

export type ServicePublish =
  | { allow: true; deviceId: string; topic: string; info: TopicInfo }
  | { allow: false; reason: string };

/** Service account publishes: `devices/<deviceId>/<downstream topic>` reaches that device. */
export function servicePublish(topic: string): ServicePublish {
  if (!topic.startsWith(SERVICE_PREFIX)) return { allow: false, reason: `the service account may only publish under ${SERVICE_PREFIX}<deviceId>/, not to ${topic}` };
  const slash = topic.indexOf('/', SERVICE_PREFIX.length);
  const deviceId = slash < 0 ? '' : topic.slice(SERVICE_PREFIX.length, slash);
  const inner = slash < 0 ? '' : topic.slice(slash + 1);
  const info = parseTopic(inner);
  if (!deviceId || !info || info.direction !== 'down') {
    return { allow: false, reason: `the service account may only publish downstream topics of a device (devices/<deviceId>/s/ds, …), not ${topic}` };
  }
  return { allow: true, deviceId, topic: inner, info };
}

/** Topic under which the service account sees a device's traffic. */
export function serviceTopic(deviceId: string, topic: string): string {
  return SERVICE_PREFIX + deviceId + '/' + topic;
}
