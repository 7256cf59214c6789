/**
 * `smartrest-decode`: SmartREST text → records, topic-aware (`s/e` free text, `s/dcr` credentials, `s/dat`
 * token, `s/dc/<X-ID>` custom responses, child ids from upstream topics). Good records are always sent;
 * the bad ones of the same payload are reported together through done(err) with their numbers and text.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { describeIssue } from '../../smartrest/codec';
import { decodePayload } from '../../smartrest/message';
import { readCollection } from '../shared/collection';
import { errorText, shortText } from '../shared/errors';
import type { SmartRestDecodeConfig, SmartRestDecodeInput, SmartRestDecodeOutput } from './types';

export = function register(RED: NodeAPI): void {
  function SmartRestDecodeNode(this: Node, config: SmartRestDecodeConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const collection = readCollection(config);
    let count = 0;
    if (collection instanceof Error) {
      node.status({ fill: 'red', shape: 'ring', text: shortText(collection.message) });
      node.error(`custom templates: ${collection.message}`);
    }

    node.on('input', (inMsg: NodeMessageInFlow, send, done) => {
      const msg = inMsg as NodeMessageInFlow & Partial<SmartRestDecodeInput>;
      try {
        if (collection instanceof Error) throw new Error(`custom templates: ${collection.message}`);
        const payload = msg.payload;
        if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) {
          throw new Error(`msg.payload must be SmartREST text (a string or Buffer); got ${payload === null ? 'null' : Array.isArray(payload) ? 'an array' : typeof payload}`);
        }
        if (msg.topic !== undefined && typeof msg.topic !== 'string') throw new Error('msg.topic must be a string');
        const { records, issues } = decodePayload(payload, msg.topic, { quote: config.quote, collection });
        const total = records.length + issues.length;
        if (config.output === 'array') {
          if (records.length) {
            const m = RED.util.cloneMessage(msg) as unknown as { payload: unknown; smartrest: unknown };
            m.payload = records;
            m.smartrest = { records: records.length, of: total };
            send(m as unknown as NodeMessageInFlow);
          }
        } else {
          // The payload may be large: copy the message once per record without deep-cloning the input text.
          const { payload: _ignored, ...rest } = msg;
          records.forEach((record, i) => {
            const m = RED.util.cloneMessage(rest) as unknown as SmartRestDecodeOutput;
            m.payload = record;
            m.smartrest = { record: i + 1, of: records.length };
            send(m as unknown as NodeMessageInFlow);
          });
        }
        count += records.length;
        if (issues.length) {
          (msg as unknown as { issues: unknown }).issues = issues;
          const text = `${issues.length} of ${total} record${total === 1 ? '' : 's'} could not be decoded: ${issues.map(describeIssue).join('; ')}`;
          node.status({ fill: 'red', shape: 'ring', text: shortText(`${count} decoded, ${issues.length} bad`) });
          done(new Error(text));
          return;
        }
        node.status({ fill: 'green', shape: 'dot', text: `${count} decoded` });
        done();
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: shortText(errorText(err)) });
        done(err as Error);
      }
    });
  }
  RED.nodes.registerType('smartrest-decode', SmartRestDecodeNode);
};
