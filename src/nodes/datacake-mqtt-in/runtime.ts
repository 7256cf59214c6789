/**
 * `datacake-mqtt-in`: subscribes `dtck/<product>/<device|+>/<FIELD|+>` on the shared connection of its
 * `datacake-broker` and emits typed values (or the text, with *keep strings*). A value that is the echo of one of
 * our own writes gets its message's `_msgid` marked in the account's echo memory, which is what lets a
 * `datacake-mqtt-out` reached by that message drop the write-back instead of looping (src/datacake/echo.ts).
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
        .subscribeFields(filter, qos, (topic, raw, target, ownEcho) => {
          if (!target) return;
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
