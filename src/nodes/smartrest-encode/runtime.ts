/**
 * `smartrest-encode`: records (raw, array or named) → SmartREST CSV on the right upstream topic, split into
 * several messages when the 16184-byte publish limit requires it. All-or-nothing per input message: a bad
 * record fails the whole message with done(err), so a flow never publishes half of what it was given.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { parse } from '../../smartrest/codec';
import { registrationPayload, type TemplateCollection } from '../../smartrest/custom';
import { MAX_PUBLISH_BYTES } from '../../smartrest/limits';
import { encodeRecords, recordList } from '../../smartrest/message';
import { isProcessingMode, templateTopic } from '../../smartrest/topics';
import type { RecordInput } from '../../smartrest/types';
import { readCollection } from '../shared/collection';
import { errorText, shortText } from '../shared/errors';
import type { SmartRestEncodeConfig, SmartRestEncodeInput, SmartRestEncodeOutput } from './types';

export = function register(RED: NodeAPI): void {
  function SmartRestEncodeNode(this: Node, config: SmartRestEncodeConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const collection = readCollection(config);
    const maxPublishBytes = Number(config.maxBytes) > 0 ? Number(config.maxBytes) : MAX_PUBLISH_BYTES;
    let count = 0;
    if (collection instanceof Error) {
      node.status({ fill: 'red', shape: 'ring', text: shortText(collection.message) });
      node.error(`custom templates: ${collection.message}`);
    }

    node.on('input', (inMsg: NodeMessageInFlow, send, done) => {
      const msg = inMsg as NodeMessageInFlow & Partial<SmartRestEncodeInput>;
      try {
        if (collection instanceof Error) throw new Error(`custom templates: ${collection.message}`);
        const outputs = msg.action === 'register-templates' ? registration(collection) : encode(msg, collection);
        for (const out of outputs) {
          const m = RED.util.cloneMessage(msg) as unknown as SmartRestEncodeOutput & { action?: string };
          delete m.action;
          m.payload = out.payload;
          m.topic = out.topic;
          m.smartrest = { records: out.records, truncated: out.truncated };
          send(m as unknown as NodeMessageInFlow);
        }
        count += outputs.length;
        node.status({ fill: 'green', shape: 'dot', text: `${count} sent` });
        done();
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: shortText(errorText(err)) });
        done(err as Error);
      }
    });

    function encode(msg: Partial<SmartRestEncodeInput>, coll: TemplateCollection | undefined) {
      const mode = msg.mode ?? config.mode ?? 's';
      if (!isProcessingMode(mode)) throw new Error(`msg.mode must be one of s, t, q, c; got ${JSON.stringify(mode)}`);
      const child = msg.device !== undefined ? msg.device : config.device || undefined;
      if (child !== undefined && typeof child !== 'string') throw new Error(`msg.device must be a string (a child device's external id); got ${typeof child}`);
      const payload = msg.payload;
      // Ready CSV text is checked by decoding it, then re-encoded so it is split to the size limit too.
      const records: RecordInput[] = typeof payload === 'string' ? parse(payload).map((r) => r as RecordInput) : recordList(payload);
      return encodeRecords(records, {
        mode,
        child,
        quote: config.quote,
        collection: coll,
        maxPublishBytes,
        truncate: !!config.truncate,
        allowUnknown: !!config.allowUnknown || typeof payload === 'string',
      });
    }

    function registration(coll: TemplateCollection | undefined) {
      if (!coll) throw new Error('msg.action is "register-templates" but the node defines no custom template collection');
      return [{ topic: templateTopic(coll.xid), payload: registrationPayload(coll, config.quote), records: [], truncated: [] }];
    }
  }
  RED.nodes.registerType('smartrest-encode', SmartRestEncodeNode);
};
