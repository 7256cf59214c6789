/**
 * `c8y-endpoint-out`: sends operations to a device through the endpoint. Each operation is tracked
 * (PENDING → EXECUTING → SUCCESSFUL/FAILED); the node's output reports its creation and every status change.
 * An offline device gets its PENDING operations when it subscribes to `s/ds` again or publishes `500`.
 * Operations carry this node's id (`source`) and are stored by the endpoint: after a full deploy or a restart this
 * node (same id) still reports their changes, and those the endpoint dropped (device removed, bound reached) as
 * FAILED with the reason.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import type { Operation } from '../../endpoint/operations';
import type { EndpointServer } from '../../endpoint/server';
import { errorText, shortText } from '../shared/errors';
import type { C8yEndpointNode, EndpointUser } from '../c8y-endpoint/types';
import type { C8yEndpointOutConfig, C8yEndpointOutInput, C8yEndpointOutOutput } from './types';

export = function register(RED: NodeAPI): void {
  function C8yEndpointOutNode(this: Node, config: C8yEndpointOutConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const endpoint = RED.nodes.getNode(config.endpoint) as C8yEndpointNode | null;
    let base: NodeStatus = {};
    let sent = 0;

    if (!endpoint) {
      node.status({ fill: 'red', shape: 'ring', text: 'no endpoint configured' });
      node.error('c8y-endpoint-out: no c8y-endpoint configuration selected');
      return;
    }

    function show() {
      node.status(base.fill === 'green' ? { ...base, text: `${base.text} · ${sent} sent` } : base);
    }

    function output(op: Operation, from?: NodeMessage) {
      const msg = (from ? RED.util.cloneMessage(from) : {}) as unknown as C8yEndpointOutOutput & Record<string, unknown>;
      delete msg.child;
      delete msg.xid;
      delete msg.fragment;
      msg.payload = op;
      msg.topic = `operation/${op.status}`;
      msg.device = op.deviceId;
      if (op.target !== op.deviceId) msg.child = op.target;
      msg.operationId = op.id;
      node.send(msg as unknown as NodeMessage);
    }

    function onOperation(op: Operation) {
      // Creation is reported by the input handler (with the input message's properties).
      if (op.source !== node.id || op.status === 'PENDING') return;
      output(op);
    }

    const user: EndpointUser = {
      node,
      attach(server: EndpointServer) {
        server.on('operation', onOperation);
        return () => server.off('operation', onOperation);
      },
      endpointStatus(s) {
        base = s;
        show();
      },
    };
    endpoint.register(user);

    node.on('input', (inMsg: NodeMessageInFlow, send, done) => {
      const msg = inMsg as NodeMessageInFlow & Partial<C8yEndpointOutInput>;
      try {
        const server = endpoint.server();
        if (!server) throw new Error('the endpoint is not listening (see the status of its nodes)');
        const device = msg.device !== undefined ? msg.device : config.device || undefined;
        if (typeof device !== 'string' || !device) throw new Error('msg.device must name the device (its id from the ClientId)');
        if (msg.payload === undefined || msg.payload === null) throw new Error('msg.payload must be an operation record (e.g. {messageId: 510, values: {}}), an array of them, or SmartREST text');
        const ops = server.sendOperation({
          device,
          ...(msg.child !== undefined ? { child: msg.child } : {}),
          payload: msg.payload,
          ...(msg.xid !== undefined ? { xid: msg.xid } : {}),
          ...(msg.fragment !== undefined ? { fragment: String(msg.fragment) } : {}),
          source: node.id,
        });
        for (const op of ops) output(op, msg);
        sent += ops.length;
        show();
        done();
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: shortText(errorText(err)) });
        done(err as Error);
      }
      void send;
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      endpoint.deregister(user);
      node.status({});
      done();
    });
  }
  RED.nodes.registerType('c8y-endpoint-out', C8yEndpointOutNode);
};
