/**
 * `c8y-endpoint-in`: what devices publish to the endpoint, decoded, one message per record. Refused input
 * (unknown template, malformed CSV, refused topic, oversize) is raised as a Catch-able error on this node (unless
 * `reportErrors` is off);
 * at most 20 errors per second are raised, the rest are counted in one summary.
 * With the filter *availability* it sends instead one message per change of a device's connection or availability
 * (decision: `all` stays "every record", so flows that expect records never get availability messages).
 */
import type { Node, NodeAPI, NodeMessage, NodeStatus } from 'node-red';
import type { AvailabilityChange, EndpointProblem, EndpointRecord, EndpointServer } from '../../endpoint/server';
import type { C8yEndpointNode, EndpointUser } from '../c8y-endpoint/types';
import { nextMessageId } from '../shared/msgid';
import type { C8yEndpointInAvailabilityOutput, C8yEndpointInConfig, C8yEndpointInErrorMsg, C8yEndpointInOutput } from './types';

const KINDS = new Set(['all', 'inventory', 'measurement', 'alarm', 'event', 'operation-status', 'capability', 'custom', 'other', 'availability']);
const ERRORS_PER_SECOND = 20;

export = function register(RED: NodeAPI): void {
  function C8yEndpointInNode(this: Node, config: C8yEndpointInConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const endpoint = RED.nodes.getNode(config.endpoint) as C8yEndpointNode | null;
    const filter = KINDS.has(config.filter) ? config.filter : 'all';
    const deviceFilter = (config.device || '').trim();
    // Decision: every in-node raises device errors unless told not to (several in-nodes of one endpoint would
    // otherwise all need their own Catch); untick "raise device errors" on all but one.
    const reportErrors = config.reportErrors !== false;
    let count = 0;
    let base: NodeStatus = {};
    let statusTimer: NodeJS.Timeout | undefined;
    let errorWindow = 0;
    let errorsInWindow = 0;
    let suppressed = 0;
    let tenant = '';

    if (!endpoint) {
      node.status({ fill: 'red', shape: 'ring', text: 'no endpoint configured' });
      node.error('c8y-endpoint-in: no c8y-endpoint configuration selected');
      return;
    }

    function showStatus() {
      statusTimer = undefined;
      node.status(base.fill === 'green' ? { ...base, text: `${base.text} · ${count} received` } : base);
    }
    function refreshStatus() {
      // Throttled: a busy endpoint must not flood the editor with status updates.
      if (!statusTimer) statusTimer = setTimeout(showStatus, 1000);
    }

    function onRecord(e: EndpointRecord) {
      if (filter !== 'all' && e.kind !== filter) return;
      if (deviceFilter && e.device !== deviceFilter) return;
      // One record, several in-nodes: the first takes it, the others a copy (a change in one flow stays there).
      const own = !e.claimed;
      e.claimed = true;
      const msg: C8yEndpointInOutput = { _msgid: nextMessageId(), payload: own ? e.record : structuredClone(e.record), device: e.device, mode: e.mode, tenant: e.tenant, topic: e.topic, kind: e.kind, format: e.format };
      if (e.json !== undefined) msg.json = own ? e.json : structuredClone(e.json);
      if (e.child !== undefined) msg.child = e.child;
      if (e.operations) msg.operations = own ? e.operations : structuredClone(e.operations);
      count++;
      node.send(msg as unknown as NodeMessage);
      refreshStatus();
    }

    function onAvailability(c: AvailabilityChange) {
      if (deviceFilter && c.device !== deviceFilter) return;
      const msg: C8yEndpointInAvailabilityOutput = { _msgid: nextMessageId(), payload: { ...c }, device: c.device, topic: `availability/${c.state}`, kind: 'availability', tenant };
      count++;
      node.send(msg as unknown as NodeMessage);
      refreshStatus();
    }

    function onProblem(p: EndpointProblem) {
      if (deviceFilter && p.device !== deviceFilter) return;
      const now = Date.now();
      if (now - errorWindow >= 1000) {
        if (suppressed) node.warn(`${suppressed} more device errors were not raised (more than ${ERRORS_PER_SECOND} per second)`);
        errorWindow = now;
        errorsInWindow = 0;
        suppressed = 0;
      }
      if (++errorsInWindow > ERRORS_PER_SECOND) {
        suppressed++;
        return;
      }
      const msg: C8yEndpointInErrorMsg = { smartrestError: { code: p.code, id: p.id, text: p.text, line: p.line } };
      if (p.payload !== undefined) msg.payload = p.payload;
      if (p.device !== undefined) msg.device = p.device;
      if (p.topic !== undefined) msg.topic = p.topic;
      node.error(`device ${p.device ?? '?'} on ${p.topic ?? '?'}: ${p.line}`, msg as unknown as NodeMessage);
    }

    const user: EndpointUser = {
      node,
      attach(server: EndpointServer) {
        tenant = server.tenant;
        if (filter === 'availability') server.on('availability', onAvailability);
        else server.on('record', onRecord);
        if (reportErrors) server.on('problem', onProblem);
        return () => {
          server.off('availability', onAvailability);
          server.off('record', onRecord);
          server.off('problem', onProblem);
        };
      },
      endpointStatus(s) {
        base = s;
        showStatus();
      },
    };
    endpoint.register(user);

    node.on('close', (_removed: boolean, done: () => void) => {
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = undefined;
      endpoint.deregister(user);
      node.status({});
      done();
    });
  }
  RED.nodes.registerType('c8y-endpoint-in', C8yEndpointInNode);
};
