/**
 * `datacake-mqtt-out`: writes values to `dtck-pub/<product>/<device>/<FIELD>` on the shared connection.
 * Per input message: validate everything first (all-or-nothing, done(err) on a bad value or target), then per
 * field: echo check (drop + count a write that carries the echo of our own write back to the same field, see
 * src/datacake/echo.ts), rate limit (one write under way and one waiting per field, the latest wins), optional
 * change-only, publish (QoS 1: done() after PUBACK; offline: bounded queue, overflow is done(err); a refused
 * token: done(err) at once). Retain is always off.
 */
import type { Node, NodeAPI, NodeMessageInFlow, NodeStatus } from 'node-red';
import { FieldRateLimiter } from '../../datacake/ratelimit';
import { targetKey } from '../../datacake/topics';
import { planWrites, type PlannedWrite, type WriteInput } from '../../datacake/writes';
import type { StatusLike } from '../../mqtt/connection';
import { ConnectionClosedError, QueueFullError } from '../../mqtt/connection';
import { errorText, shortText } from '../shared/errors';
import type { DatacakeBrokerNode } from '../datacake-broker/types';
import type { DatacakeOutConfig } from './types';

/** Fields whose last written value is remembered for *only write on change* (oldest forgotten first). */
const MAX_REMEMBERED_FIELDS = 10_000;

export = function register(RED: NodeAPI): void {
  function DatacakeOutNode(this: Node, config: DatacakeOutConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const broker = RED.nodes.getNode(config.broker) as DatacakeBrokerNode | null;
    const qos: 0 | 1 = Number(config.qos) === 0 ? 0 : 1;
    const rate = config.rate === undefined || config.rate === '' ? 1 : Number(config.rate);
    const intervalMs = Number.isFinite(rate) && rate > 0 ? rate * 1000 : 0;
    const lastWritten = new Map<string, string>();
    const counts = { sent: 0, echo: 0, skipped: 0, queued: 0 };
    let connectionStatus: StatusLike = {};
    let problem: string | undefined;
    let closing = false;

    const limiter = new FieldRateLimiter<PlannedWrite>(intervalMs, async (key, write) => {
      // Change-only compares with what this node last wrote (decided at write time, after the rate limit).
      if (config.changeOnly && lastWritten.get(key) === write.canonical) {
        counts.skipped++;
        return;
      }
      if (!broker) throw new Error('no datacake-broker config node selected');
      const previous = lastWritten.get(key);
      lastWritten.delete(key); // re-inserted last: the map is ordered by last write, oldest first out
      lastWritten.set(key, write.canonical);
      if (lastWritten.size > MAX_REMEMBERED_FIELDS) lastWritten.delete(lastWritten.keys().next().value as string);
      const offline = broker.connection?.state !== 'connected' || !!broker.problem;
      if (offline) counts.queued++;
      render();
      try {
        await broker.write(write, { qos, owner: node.id });
        counts.sent++;
      } catch (err) {
        if (previous === undefined) lastWritten.delete(key);
        else lastWritten.set(key, previous);
        throw err;
      } finally {
        if (offline) counts.queued--;
        render();
      }
    });

    /** The connection's state plus this node's counters, e.g. "connected · 12 sent, 3 echoes dropped". */
    function render(): void {
      if (problem) return node.status({ fill: 'red', shape: 'ring', text: shortText(problem) });
      const parts: string[] = [];
      if (counts.sent) parts.push(`${counts.sent} sent`);
      if (counts.queued) parts.push(`${counts.queued} waiting`);
      if (counts.echo) parts.push(`${counts.echo} echo${counts.echo === 1 ? '' : 'es'} dropped`);
      if (counts.skipped) parts.push(`${counts.skipped} unchanged`);
      const text = [connectionStatus.text ?? '', parts.join(', ')].filter(Boolean).join(' · ');
      if (!connectionStatus.fill && !text) return node.status({});
      node.status({ fill: connectionStatus.fill, shape: connectionStatus.shape, text } as NodeStatus);
    }

    // A wrapper user (same id as the node) so that connection changes and counters end up in one status.
    const user = {
      id: node.id,
      status(s: StatusLike) {
        connectionStatus = s;
        render();
      },
    };
    if (broker) broker.register(user);
    else {
      problem = 'no Datacake broker configured';
      render();
      node.error('no datacake-broker config node selected');
    }

    node.on('input', (inMsg: NodeMessageInFlow, _send, done) => {
      let writes: PlannedWrite[];
      try {
        if (!broker) throw new Error('no datacake-broker config node selected');
        writes = planWrites(config, inMsg as unknown as WriteInput);
      } catch (err) {
        done(err as Error);
        return;
      }
      const pending: Promise<unknown>[] = [];
      for (const w of writes) {
        if (broker!.echoWindowMs > 0 && broker!.echo.isWriteBack(inMsg._msgid, w.target, w.canonical)) {
          counts.echo++;
          continue;
        }
        pending.push(limiter.submit(targetKey(w.target), w));
      }
      render();
      Promise.all(pending).then(
        () => done(),
        (err: unknown) => {
          // Writes still waiting when the flow stops are discarded with the connection (as core mqtt out does):
          // that is a redeploy, not a failure of the message; warned once, not raised as an error.
          if (closing && err instanceof ConnectionClosedError) {
            discarded++;
            return done();
          }
          if (err instanceof QueueFullError) node.status({ fill: 'red', shape: 'dot', text: 'offline queue full: dropped' });
          done(err instanceof Error ? err : new Error(errorText(err)));
        },
      );
    });

    let discarded = 0;
    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      // Writes of this node still in the shared connection's offline queue are taken back: a node that stopped
      // does not write later (when only this node is redeployed the connection stays and would send them).
      const cancelled = broker?.connection?.cancel(node.id) ?? 0;
      const waiting = Math.max(cancelled, counts.queued);
      if (waiting) node.warn(`${waiting} write(s) still waiting for the connection are discarded (flow stopped)`);
      limiter.close();
      broker?.deregister(user);
      lastWritten.clear();
      done();
    });
  }
  RED.nodes.registerType('datacake-mqtt-out', DatacakeOutNode);
};
