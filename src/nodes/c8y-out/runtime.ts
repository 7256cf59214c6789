/**
 * `c8y-out`: publishes SmartREST data through a `c8y-device` connection, and turns operation results
 * (`msg.operation` + `{status, result|reason}`, or a Catch node's error for an operation message) into
 * `503`/`502` on the right device topic. With QoS 1, done() only after the broker's PUBACK; while offline the
 * message waits in the device's bounded queue, an overflow fails the message (done(err)), never silently.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { parseJsonTopic, recordToJson } from '../../c8y/json';
import { checkOperationId, readResult, type OperationRef } from '../../c8y/operations';
import { ConnectionClosedError, type ConnectionUser, type StatusLike } from '../../mqtt/connection';
import { parse } from '../../smartrest/codec';
import { encodeRecords, recordList } from '../../smartrest/message';
import { isProcessingMode, parseTopic } from '../../smartrest/topics';
import type { RecordInput } from '../../smartrest/types';
import { errorText, shortText } from '../shared/errors';
import type { C8yDeviceNode } from '../c8y-device/types';
import type { C8yOutConfig, C8yOutInput } from './types';

function isOperationRef(v: unknown): v is OperationRef {
  const o = v as Partial<OperationRef> | undefined;
  return !!o && typeof o === 'object' && typeof o.fragment === 'string' && typeof o.device === 'string';
}

/** How long a failed message's error stays in the status before the connection state shows again. */
const ERROR_STATUS_MS = 5000;

export = function register(RED: NodeAPI): void {
  function C8yOutNode(this: Node, config: C8yOutConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const device = RED.nodes.getNode(config.device) as C8yDeviceNode | null;
    const qos: 0 | 1 = Number(config.qos ?? 1) === 0 ? 0 : 1;
    // The status follows the connection; a failed message shows its error for a few seconds, then the
    // connection state again.
    let connectionStatus: StatusLike = {};
    let errorTimer: NodeJS.Timeout | undefined;
    const user: ConnectionUser = {
      id: node.id,
      status: (st) => {
        connectionStatus = st;
        if (!errorTimer) node.status(st);
      },
    };
    function showError(text: string): void {
      clearTimeout(errorTimer);
      node.status({ fill: 'red', shape: 'ring', text: shortText(text) });
      errorTimer = setTimeout(() => {
        errorTimer = undefined;
        node.status(connectionStatus);
      }, ERROR_STATUS_MS);
    }
    if (!device) {
      node.status({ fill: 'red', shape: 'ring', text: 'no c8y-device configured' });
    } else {
      device.register(user);
      if (config.format === 'json') device.useJson();
    }

    let discarded = 0;
    node.on('input', (inMsg: NodeMessageInFlow, _send, done) => {
      const msg = inMsg as NodeMessageInFlow & Partial<C8yOutInput> & { operation?: unknown; error?: { message?: string } };
      void (async () => {
        if (!device) throw new Error('no c8y-device configured');
        const action = (msg as { action?: unknown }).action;
        if (action === 'request-token') {
          await device.requestToken();
          return;
        }
        if (action === 'fail-executing') {
          // 507: e.g. after a restart of the agent, the operations it had begun cannot finish.
          const p = (msg.payload ?? {}) as { fragment?: unknown; reason?: unknown };
          if (typeof p !== 'object' || Array.isArray(p)) throw new Error('msg.action "fail-executing" needs msg.payload = { fragment?, reason? }');
          if (p.fragment !== undefined && typeof p.fragment !== 'string') throw new Error('msg.payload.fragment must be a string (empty: all fragments)');
          if (msg.device !== undefined && typeof msg.device !== 'string') throw new Error('msg.device must be a string');
          await device.failExecuting(p.fragment, p.reason === undefined ? '' : String(p.reason), msg.device);
          return;
        }
        // The c8y-in message itself may come back as msg.operation; take its ref.
        const opField = msg.operation as { operation?: unknown } | undefined;
        const ref = isOperationRef(opField) ? opField : isOperationRef(opField?.operation) ? (opField!.operation as OperationRef) : undefined;
        if (ref) {
          const p = msg.payload as { status?: unknown } | undefined;
          const isResult = !!p && typeof p === 'object' && !Array.isArray(p) && 'status' in p;
          // A Catch node's message for an operation: FAILED with the error text, whatever the payload holds (a
          // node that failed on a SUCCESSFUL result must not have it sent again). Except when the error is this
          // node's own: a Catch wired back here would repeat the same failure, so it ends here with a warning.
          if (msg.error && typeof msg.error === 'object') {
            const source = (msg.error as { source?: { id?: unknown } }).source;
            if (source?.id === node.id) {
              node.warn(`operation ${ref.fragment} of ${ref.device}: not answered, this node failed on it before: ${String(msg.error.message ?? '')}`);
              return;
            }
            await device.completeOperation(ref, { status: 'FAILED', reason: String(msg.error.message ?? 'failed') });
            return;
          }
          if (isResult) {
            await device.completeOperation(ref, readResult(p));
            return;
          }
        }
        // A result by operation id (504/505/506): the id comes from the platform (JSON operations, a custom template).
        if (msg.operationId !== undefined) {
          const p = msg.payload;
          if (!p || typeof p !== 'object' || Array.isArray(p) || !('status' in p)) throw new Error('msg.operationId needs msg.payload = { status: "EXECUTING" | "SUCCESSFUL" | "FAILED", result?, reason? }');
          if (msg.device !== undefined && typeof msg.device !== 'string') throw new Error('msg.device must be a string (the external id of the child that owns the operation)');
          await device.completeById(checkOperationId(msg.operationId), readResult(p), msg.device);
          return;
        }
        // An upstream msg.topic (from smartrest-encode: `t/us/<child>`, …) gives mode and child where msg.mode
        // and msg.device do not.
        const topicInfo = typeof msg.topic === 'string' ? parseTopic(msg.topic) : undefined;
        const fromTopic = topicInfo?.direction === 'up' && (topicInfo.kind === 'static' || topicInfo.kind === 'custom') ? topicInfo : undefined;
        const mode = msg.mode ?? fromTopic?.mode ?? config.mode ?? 's';
        if (!isProcessingMode(mode)) throw new Error(`msg.mode must be one of s, t, q, c; got ${JSON.stringify(mode)}`);
        const child = msg.device ?? fromTopic?.child;
        if (child !== undefined && typeof child !== 'string') throw new Error(`msg.device must be a string (a child device's external id); got ${typeof child}`);
        const payload = msg.payload;
        let out: { topic: string; payload: string }[];
        const format = msg.format ?? config.format ?? 'smartrest';
        if (format !== 'smartrest' && format !== 'json') throw new Error(`msg.format must be "smartrest" or "json"; got ${JSON.stringify(format)}`);
        const jsonTopic = typeof msg.topic === 'string' ? parseJsonTopic(msg.topic) : undefined;
        if (format === 'json' || jsonTopic) {
          device.useJson();
          // JSON via MQTT: the platform takes `source` from the ClientId, so only the connection's own device.
          if (child !== undefined && child !== device.deviceId) throw new Error('JSON via MQTT publishes for the device of the connection only: send data of a child device as SmartREST');
          if (jsonTopic) {
            if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new Error(`a JSON topic (${msg.topic}) needs msg.payload to be the REST API's JSON object`);
            out = [{ topic: msg.topic as string, payload: JSON.stringify(payload) }];
          } else {
            if (typeof payload === 'string') throw new Error('JSON format: msg.payload must be a record ({messageId, values}) or an array of them, not CSV text');
            out = recordList(payload).map((r) => {
              const m = recordToJson(r, { mode, deviceId: device.deviceId });
              return { topic: m.topic, payload: JSON.stringify(m.body) };
            });
          }
        } else if (typeof payload === 'string' && topicInfo?.direction === 'up' && topicInfo.kind === 'template') {
          out = [{ topic: msg.topic as string, payload }];
        } else {
          const records: RecordInput[] = typeof payload === 'string' ? parse(payload).map((r) => r as RecordInput) : recordList(payload);
          out = encodeRecords(records, { mode, child: child === device.deviceId ? undefined : child || undefined, collection: device.collection, allowUnknown: typeof payload === 'string' });
        }
        if (!out.length) throw new Error('nothing to publish');
        // In order; QoS 1 resolves on PUBACK, so done() means the broker has it.
        for (const m of out) await device.publish(m.topic, m.payload, qos);
      })().then(
        () => done(),
        (err: unknown) => {
          if (err instanceof ConnectionClosedError) {
            // The connection only closes on stop/redeploy: the message was still waiting in the offline queue.
            // Reported (one warning per stop), not an error of the message: nothing a Catch node could fix.
            discarded++;
            if (discarded === 1) setImmediate(() => {
              node.warn(`${discarded} message(s) still waiting for the connection were discarded when the flow stopped`);
              discarded = 0;
            });
            done();
            return;
          }
          showError(errorText(err));
          done(err instanceof Error ? err : new Error(errorText(err)));
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      clearTimeout(errorTimer);
      errorTimer = undefined;
      device?.deregister(user);
      done();
    });
  }
  RED.nodes.registerType('c8y-out', C8yOutNode);
};
