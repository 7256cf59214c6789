/**
 * Issue #15 item 4: "N message(s) waiting in the outbox were discarded" on a redeploy is a warning only when
 * something is lost. Messages whose source message is not acknowledged, on a source with a persistent session, are
 * delivered again by that broker: an info line. On a clean session they are lost: a warning. Real runtime, aedes.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { helper, TAB } from '../support/flow';
import { freePort, startBroker, until, type TestBroker } from '../support/broker';
import connectionNode = require('../../src/nodes/mqtt-broker-connection/runtime');
import bridgeNode = require('../../src/nodes/broker-bridge/runtime');

let S: TestBroker;
before(async () => {
  S = await startBroker();
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
});
after(async () => {
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  await S.stop();
});
afterEach(() => helper.unload());

/** The bridge's target is down, three QoS 1 messages wait in its outbox; then the flow stops. What is logged? */
async function stopWithWaiting(clean: boolean) {
  const downPort = await freePort();
  const clientId = `stopq-${clean ? 'clean' : 'kept'}`;
  await helper.load([connectionNode, bridgeNode], <any[]>[
    { id: TAB, type: 'tab' },
    { id: 'cs', type: 'mqtt-broker-connection', broker: S.url, clientId, clean },
    { id: 'ct', type: 'mqtt-broker-connection', broker: `mqtt://127.0.0.1:${downPort}`, backoffInitial: 5, backoffMax: 5 },
    { id: 'b1', z: TAB, type: 'broker-bridge', source: 'cs', target: 'ct', statsInterval: 0, maxInflight: 1, rules: [{ filter: 'in/+x', target: 'out/{x}' }], wires: [[]] },
  ]);
  const bridge = helper.getNode('b1') as any;
  await until(() => S.clients().includes(clientId), 5000, 'source connected');
  const dev = await mqtt.connectAsync(S.url, { clientId: `${clientId}-dev` });
  for (const x of ['a', 'b', 'c']) await dev.publishAsync(`in/${x}`, x, { qos: 1 });
  await dev.endAsync();
  await until(() => S.published.filter((p) => p.clientId === `${clientId}-dev`).length === 3, 5000, 'published');
  await new Promise((r) => setTimeout(r, 300)); // delivered to the bridge (nothing to assert on before the stop)
  assert.ok(bridge, 'bridge deployed');
  // What the bridge logs while it closes (the helper's log spy does not keep what comes during unload).
  const warnings: string[] = [];
  const logs: string[] = [];
  const warn = bridge.warn.bind(bridge);
  const log = bridge.log.bind(bridge);
  bridge.warn = (m: unknown) => (warnings.push(String(m)), warn(m));
  bridge.log = (m: unknown) => (logs.push(String(m)), log(m));
  await helper.unload();
  return { warnings, logs };
}

describe('broker-bridge stop with messages waiting', () => {
  it('persistent source session: not a warning (the broker delivers them again), an info line says so', async () => {
    const r = await stopWithWaiting(false);
    assert.deepEqual(r.warnings.filter((w: string) => /outbox/.test(w)), []);
    assert.ok(r.logs.some((l: string) => /^3 message\(s\) waiting in the outbox were not forwarded.*delivers them again/.test(l)), `info line: ${r.logs.join(' | ')}`);
  });

  it('clean source session: they are lost, so it is a warning', async () => {
    const r = await stopWithWaiting(true);
    assert.ok(r.warnings.some((w: string) => /^3 message\(s\) waiting in the outbox were discarded/.test(w)), `warning: ${r.warnings.join(' | ')}`);
  });
});
