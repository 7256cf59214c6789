/**
 * `datacake-mqtt-in`: subscribes `dtck/<product>/<device|+>/<FIELD|+>` on the shared connection of its
 * `datacake-broker` and emits typed values. Every received value also goes into the config node's echo window,
 * which is what lets a `datacake-mqtt-out` wired after this node drop the write-back instead of looping.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { subscriptionFilter, targetKey } from '../../datacake/topics';
import { canonicalText, parseValue } from '../../datacake/values';
import { errorText, shortText } from '../shared/errors';
import type { DatacakeBrokerNode } from '../datacake-broker/types';
import type { DatacakeInConfig, DatacakeInOutput } from './types';

export = function register(RED: NodeAPI): void {
  function DatacakeInNode(this: Node, config: DatacakeInConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const broker = RED.nodes.getNode(config.broker) as DatacakeBrokerNode | null;
    const qos: 0 | 1 = Number(config.qos) === 1 ? 1 : 0;
    const last = new Map<string, string>();
    let unsubscribe: (() => Promise<void>) | undefined;
    let closed = false;

    let filter: string | undefined;
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
    if (!broker) {
      node.status({ fill: 'red', shape: 'ring', text: 'no Datacake broker configured' });
      node.error('no datacake-broker config node selected');
    }

    if (broker && filter) {
      broker.register(node);
      broker
        .subscribeFields(filter, qos, (topic, raw, target) => {
          if (!target) return;
          const datacake = { productSlug: target.productSlug, deviceId: target.deviceId, field: target.field };
          if (config.changeOnly) {
            const key = targetKey(datacake);
            const canonical = canonicalText(raw);
            if (last.get(key) === canonical) return;
            last.set(key, canonical);
          }
          const msg: DatacakeInOutput = { payload: parseValue(raw), raw, topic, datacake };
          node.send(msg as unknown as NodeMessageInFlow);
        })
        .then(
          (unsub) => {
            if (closed) void unsub();
            else unsubscribe = unsub;
          },
          (err: unknown) => {
            node.status({ fill: 'red', shape: 'ring', text: shortText(errorText(err)) });
            node.warn(`subscription ${filter}: ${errorText(err)}`);
          },
        );
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      const unsub = unsubscribe;
      unsubscribe = undefined;
      last.clear();
      broker?.deregister(node);
      (unsub ? unsub() : Promise.resolve()).catch(() => undefined).finally(() => done());
    });
  }
  RED.nodes.registerType('datacake-mqtt-in', DatacakeInNode);
};
