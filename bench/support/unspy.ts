/**
 * node-red-node-test-helper wraps send/status/log/… of every node in sinon spies that keep every call and emit an
 * event per call on the next tick; in a benchmark that would dominate (and grow) what is measured, for us and for
 * the peers alike. After a load the plain methods are put back, so the flows run as in a normal Node-RED runtime;
 * unload restores the helper's state.
 */
import { helper } from '../../test/support/flow';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const NODE_PROTOTYPE = require('@node-red/runtime/lib/nodes/Node').prototype;
const SPIED = ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send'] as const;
const PLAIN: Record<string, unknown> = Object.fromEntries(SPIED.map((m) => [m, NODE_PROTOTYPE[m]]));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const LOG = require('@node-red/util').log;
const PLAIN_LOG = LOG.log;

/** Call after `helper.load(…, flow)`. */
export function unspy(flow: { id: string }[]): void {
  for (const m of SPIED) NODE_PROTOTYPE[m] = PLAIN[m];
  LOG.log = PLAIN_LOG;
  // Node-RED copies Node.prototype.send onto every wired node when it is created (Node.updateWires), so the
  // nodes of the flow still hold the spied send: give them the plain one.
  for (const { id } of flow) {
    const n = helper.getNode(id) as unknown as { send?: unknown } | null;
    if (n && Object.prototype.hasOwnProperty.call(n, 'send') && n.send !== PLAIN.send && (n.send as { name?: string }).name !== 'NOOP_SEND') n.send = PLAIN.send;
  }
}
