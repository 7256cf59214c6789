/**
 * `c8y-in`: operations from `s/ds` (and `s/dc/<X-ID>`) of a `c8y-device`, decoded as smartrest-decode does,
 * with `msg.device` the target. Operations of one fragment come one at a time in arrival order: the next one
 * follows when the result of the current one went out through c8y-out (503/502). Optional 501 on hand-over,
 * optional second output with `s/e` lines.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import type { DecodedRecord } from '../../smartrest/types';
import type { JsonError } from '../../c8y/json';
import type { StatusLike } from '../../mqtt/connection';
import type { C8yDeviceNode, C8yDownstream, DownstreamListener } from '../c8y-device/types';
import type { C8yInConfig, C8yInErrorOutput, C8yInOutput } from './types';

export = function register(RED: NodeAPI): void {
  function C8yInNode(this: Node, config: C8yInConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const device = RED.nodes.getNode(config.device) as C8yDeviceNode | null;
    if (!device) {
      node.status({ fill: 'red', shape: 'ring', text: 'no c8y-device configured' });
      return;
    }
    const withErrors = !!config.errors;
    const listener: DownstreamListener = {
      id: node.id,
      executing: !!config.executing,
      status: (s: StatusLike) => node.status(s),
      line: (item: C8yDownstream) => {
        const msg: C8yInOutput = {
          topic: item.topic,
          payload: item.json ?? item.record,
          format: item.json ? 'json' : 'smartrest',
          ...(item.record.device !== undefined ? { device: item.record.device } : {}),
          ...(item.operation ? { operation: item.operation } : {}),
          ...(item.operation?.operationId ? { operationId: item.operation.operationId } : {}),
        };
        node.send(withErrors ? [msg as unknown as NodeMessageInFlow, null] : (msg as unknown as NodeMessageInFlow));
      },
      problem: (text: string) => node.warn(text),
      ...(withErrors
        ? {
            errorLine: (topic: string, record: DecodedRecord | JsonError) => {
              const msg: C8yInErrorOutput = { topic: topic as 's/e' | 'error', payload: record };
              node.send([null, msg as unknown as NodeMessageInFlow]);
            },
          }
        : {}),
    };
    device.addListener_(listener);
    node.on('close', (_removed: boolean, done: () => void) => {
      device.removeListener_(listener);
      done();
    });
  }
  RED.nodes.registerType('c8y-in', C8yInNode);
};
