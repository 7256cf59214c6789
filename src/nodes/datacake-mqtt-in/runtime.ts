/**
 * `datacake-mqtt-in`: subscribes `dtck/<product>/<device|+>/<FIELD|+>` on the shared connection of its
 * `datacake-broker` and emits typed values (or the text, with *keep strings*). A value that is the echo of one of
 * our own writes gets its message's `_msgid` marked in the account's echo memory, which is what lets a
 * `datacake-mqtt-out` reached by that message drop the write-back instead of looping (src/datacake/echo.ts).
 *
 * Input (as core `mqtt in` with a dynamic subscription): `msg.action` `connect` / `disconnect` (the broker's
 * connection), `subscribe` / `unsubscribe` with `msg.topic` (one subscription or an array; `unsubscribe` with
 * `msg.topic = true` removes every dynamic one), `getSubscriptions`. With *dynamic* set, the node starts with no
 * subscription of its own.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { requestedSubscription, type DatacakeSubscription } from '../../datacake/subscriptions';
import { subscriptionFilter, targetKey, type DatacakeTarget } from '../../datacake/topics';
import { canonicalText, parseValue } from '../../datacake/values';
import { handleConnectionAction } from '../shared/actions';
import { errorText, shortText } from '../shared/errors';
import type { DatacakeBrokerNode } from '../datacake-broker/types';
import type { DatacakeInConfig, DatacakeInOutput } from './types';

const SUBSCRIPTION_ACTIONS = ['subscribe', 'unsubscribe', 'getSubscriptions'] as const;

export = function register(RED: NodeAPI): void {
  function DatacakeInNode(this: Node, config: DatacakeInConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const broker = RED.nodes.getNode(config.broker) as DatacakeBrokerNode | null;
    const qos: 0 | 1 = Number(config.qos) === 1 ? 1 : 0;
    const dynamic = !!config.dynamic;
    const last = new Map<string, string>();
    /** Every subscription of this node (the configured one and the dynamic ones), by filter. */
    const subs = new Map<string, { sub: DatacakeSubscription; unsubscribe?: Promise<() => Promise<void>> }>();
    let closed = false;

    const handler = (topic: string, raw: string, target: DatacakeTarget | undefined, ownEcho: boolean) => {
      if (!target || !broker) return;
      const datacake = { productSlug: target.productSlug, deviceId: target.deviceId, field: target.field };
      const canonical = config.changeOnly || ownEcho ? canonicalText(raw) : '';
      if (config.changeOnly) {
        const key = targetKey(datacake);
        if (last.get(key) === canonical) return;
        last.set(key, canonical);
      }
      const msg: DatacakeInOutput & { _msgid: string } = { _msgid: RED.util.generateId(), payload: config.keepStrings ? raw : parseValue(raw), raw, topic, datacake };
      if (ownEcho) broker.echo.markMessage(msg._msgid, datacake, canonical);
      node.send(msg as unknown as NodeMessageInFlow);
    };

    function subscribe(sub: DatacakeSubscription): Promise<void> {
      const unsubscribe = broker!.subscribeFields(sub.topic, sub.qos, handler);
      subs.set(sub.topic, { sub, unsubscribe });
      return unsubscribe.then(
        (unsub) => {
          if (closed || subs.get(sub.topic)?.unsubscribe !== unsubscribe) void unsub();
        },
        (err: unknown) => {
          if (subs.get(sub.topic)?.unsubscribe === unsubscribe) subs.delete(sub.topic);
          node.status({ fill: 'red', shape: 'ring', text: shortText(errorText(err)) });
          throw new Error(`subscription ${sub.topic}: ${errorText(err)}`);
        },
      );
    }

    async function unsubscribe(topic: string): Promise<void> {
      const entry = subs.get(topic);
      if (!entry) return;
      subs.delete(topic);
      const unsub = await entry.unsubscribe?.catch(() => undefined);
      await unsub?.();
    }

    let filter: string | undefined;
    if (!dynamic) {
      try {
        const spec = subscriptionFilter(config.productSlug, config.deviceId, config.field);
        filter = spec.filter;
        if (spec.rewritten.length) {
          // `*` is not an MQTT wildcard: it would silently match nothing.
          node.warn(`"*" in ${spec.rewritten.join(' and ')} is not an MQTT wildcard: subscribing ${filter} instead`);
        }
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: shortText(errorText(err)) });
        node.error(`configuration: ${errorText(err)}`);
      }
    }
    if (!broker) {
      node.status({ fill: 'red', shape: 'ring', text: 'no Datacake broker configured' });
      node.error('no datacake-broker config node selected');
    }

    if (broker && (filter || dynamic)) {
      broker.register(node);
      if (filter) subscribe({ topic: filter, qos }).catch((err: unknown) => node.warn(errorText(err)));
    }

    node.on('input', (input: NodeMessageInFlow, send, done) => {
      const msg = input as NodeMessageInFlow & { action?: unknown; topic?: unknown; subscriptions?: unknown };
      if (handleConnectionAction(msg, [broker], done, SUBSCRIPTION_ACTIONS)) return;
      if (!broker) return done(new Error('no datacake-broker config node selected'));
      if (msg.action === 'getSubscriptions') {
        send({ ...msg, topic: 'subscriptions', payload: [...subs.values()].map((e) => e.sub) } as NodeMessageInFlow);
        return done();
      }
      if (msg.action !== 'subscribe' && msg.action !== 'unsubscribe') {
        return done(new Error('datacake in takes msg.action "connect", "disconnect", "subscribe", "unsubscribe" or "getSubscriptions"'));
      }
      let requested: DatacakeSubscription[];
      try {
        if (msg.action === 'unsubscribe' && (msg.topic as unknown) === true) requested = [...subs.values()].map((e) => e.sub);
        else {
          const list = Array.isArray(msg.topic) ? msg.topic : msg.topic === undefined || msg.topic === null || msg.topic === '' ? [] : [msg.topic];
          if (!list.length) throw new Error('msg.topic is missing or invalid');
          // All or nothing: every entry is checked before any is applied.
          requested = list.map((t) => requestedSubscription(t, qos));
        }
      } catch (err) {
        return done(err as Error);
      }
      const work =
        msg.action === 'unsubscribe'
          ? Promise.all(requested.map((s) => unsubscribe(s.topic)))
          : // Subscribing a filter again replaces it (new QoS), as core does.
            Promise.all(requested.map((s) => (subs.has(s.topic) ? unsubscribe(s.topic) : Promise.resolve()).then(() => subscribe(s))));
      work.then(
        () => {
          msg.subscriptions = [...subs.values()].map((e) => e.sub);
          done();
        },
        (err: unknown) => done(err instanceof Error ? err : new Error(errorText(err))),
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      const all = [...subs.keys()];
      last.clear();
      broker?.deregister(node);
      Promise.all(all.map((t) => unsubscribe(t)))
        .catch(() => undefined)
        .finally(() => done());
    });
  }
  RED.nodes.registerType('datacake-mqtt-in', DatacakeInNode);
};
