/** broker-bridge + mqtt-broker-connection in a real Node-RED runtime, against two aedes brokers. */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { helper, collect, TAB, settle } from '../support/flow';
import { startBroker, until, type TestBroker } from '../support/broker';
import connectionNode = require('../../src/nodes/mqtt-broker-connection/runtime');
import bridgeNode = require('../../src/nodes/broker-bridge/runtime');
import { MqttConnection } from '../../src/mqtt/connection';
import type { BridgeStats } from '../../src/bridge/engine';

const nodes = [connectionNode, bridgeNode];
const tables = { devices: { 'SN-001': 'uuid-1', 'SN-002': 'uuid-2' } };

let S: TestBroker;
let T: TestBroker;
const acks: { clientId?: string; messageId?: number }[] = [];
const clients: MqttClient[] = [];

async function client(b: TestBroker, id = `t-${Math.random().toString(16).slice(2, 10)}`): Promise<MqttClient> {
  const c = await mqtt.connectAsync(b.url, { clientId: id, reconnectPeriod: 200 });
  clients.push(c);
  return c;
}

function flow(bridge: Record<string, unknown>, conn: Record<string, unknown> = {}) {
  return [
    { id: TAB, type: 'tab' },
    { id: 'cs', type: 'mqtt-broker-connection', broker: S.url, clientId: 'bridge-src', clean: true, backoffInitial: 0.1, backoffMax: 0.3, ...conn },
    { id: 'ct', type: 'mqtt-broker-connection', broker: T.url, clientId: 'bridge-tgt', backoffInitial: 0.1, backoffMax: 0.3 },
    { id: 'b1', z: TAB, type: 'broker-bridge', source: 'cs', target: 'ct', statsInterval: 0.1, tables, ...bridge, wires: [['out']] },
    { id: 'out', z: TAB, type: 'helper' },
  ];
}

async function load(bridge: Record<string, unknown>) {
  await helper.load(nodes, flow(bridge));
  const out = collect(helper.getNode('out'));
  await until(() => S.clients().includes('bridge-src') && T.clients().includes('bridge-tgt'), 5000, 'bridge connected');
  await settle(100);
  return out;
}

function lastStats(out: ReturnType<typeof collect>): BridgeStats | undefined {
  const s = out.received.filter((m) => m.topic === 'stats');
  return s.length ? s[s.length - 1].payload : undefined;
}

async function stats(out: ReturnType<typeof collect>, cond: (s: BridgeStats) => boolean, what: string): Promise<BridgeStats> {
  await until(() => !!lastStats(out) && cond(lastStats(out)!), 8000, what);
  return lastStats(out)!;
}

function receive(c: MqttClient) {
  const got: { topic: string; payload: string; qos: number; retain: boolean }[] = [];
  c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  return got;
}

before(async () => {
  S = await startBroker({ onAck: (clientId, messageId) => acks.push({ clientId, messageId }) });
  T = await startBroker();
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
});
after(async () => {
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  await S.stop();
  await T.stop();
});
afterEach(async () => {
  await helper.unload();
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
  S.published.length = 0;
  T.published.length = 0;
  acks.length = 0;
});

describe('MqttConnection manual acknowledgement', () => {
  it('sends the PUBACK only when the handler acknowledged, without blocking later messages', async () => {
    const conn = new MqttConnection({ url: S.url, clientId: 'manual-ack', manualAcks: true });
    const held: (() => void)[] = [];
    conn.register({ id: 'u', status: () => undefined });
    await conn.subscribe('ack/#', 1, (_t, _p, _pk, ack) => held.push(ack!), { manualAck: true });
    await until(() => conn.state === 'connected', 3000, 'connected');
    const pub = await client(S);
    for (let i = 0; i < 5; i++) await pub.publishAsync(`ack/${i}`, String(i), { qos: 1 });
    await until(() => held.length === 5, 3000, 'five messages delivered while none is acknowledged');
    assert.equal(acks.filter((a) => a.clientId === 'manual-ack').length, 0);
    held[3]();
    held[0]();
    await until(() => acks.filter((a) => a.clientId === 'manual-ack').length === 2, 3000, 'two acks');
    for (const h of held) h();
    await until(() => acks.filter((a) => a.clientId === 'manual-ack').length === 5, 3000, 'all acks');
    await conn.close();
  });
});

describe('broker-bridge', () => {
  it('maps topics with captures, transforms and lookup tables; counts unmapped; passes QoS; strips retain', async () => {
    // MQTT 3.1.1 brokers clear the retain flag on live deliveries: only a replay (on subscribing) carries it,
    // so this retained message is published before the bridge subscribes (MQTT 5 keeps it with Retain As Published).
    const early = await client(S);
    await early.publishAsync('keep/a/b', 'k', { qos: 1, retain: true });
    const out = await load({
      rules: [
        { filter: 'site/+serial/+field', target: 'dtck-pub/p/{serial|lookup:devices}/{field|upper}' },
        { filter: 'keep/#rest', target: 'kept/{rest}', retain: 'keep', qos: 0, qosMode: 'fixed' },
      ],
    });
    const sub = await client(T);
    const got = receive(sub);
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await client(S);
    await pub.publishAsync('site/SN-001/temp', '21.5', { qos: 1 });
    await pub.publishAsync('site/SN-002/hum', '40', { qos: 0, retain: true });
    await pub.publishAsync('site/SN-999/temp', '1', { qos: 1 });
    await until(() => got.length >= 3, 3000, 'three forwards');
    const by = Object.fromEntries(got.map((g) => [g.topic, g]));
    assert.equal(by['dtck-pub/p/uuid-1/TEMP'].payload, '21.5');
    assert.equal(by['dtck-pub/p/uuid-1/TEMP'].qos, 1);
    assert.equal(by['dtck-pub/p/uuid-2/HUM'].qos, 0);
    assert.equal(by['kept/a/b'].qos, 0);
    // Retained state on the target: kept for the keep rule, stripped for the default rule.
    const late = await client(T);
    const lateGot = receive(late);
    await late.subscribeAsync('#', { qos: 1 });
    await settle(200);
    assert.deepEqual(lateGot.map((g) => g.topic), ['kept/a/b']);
    const s = await stats(out, (x) => x.totals.matched === 4, 'stats');
    assert.equal(s.rules[0].dropped.unmapped, 1);
    assert.equal(s.rules[0].unmappedIds, 1);
    assert.equal(s.rules[0].forwarded, 2);
    assert.equal(s.rules[1].forwarded, 1);
    assert.equal(s.connections.source, 'connected');
    await pub.publishAsync('site/SN-002/hum', '', { retain: true });
    await pub.publishAsync('keep/a/b', '', { retain: true });
  });

  it('acknowledges a QoS 1 source message only after the target acknowledged it', async () => {
    await load({ rules: [{ filter: 'q/+n', target: 'r/{n}' }] });
    await T.stop();
    await settle(100);
    const pub = await client(S);
    await pub.publishAsync('q/1', 'one', { qos: 1 });
    await settle(300);
    assert.equal(acks.filter((a) => a.clientId === 'bridge-src').length, 0, 'not acknowledged while the target is down');
    await T.restart(0);
    await until(() => T.published.some((p) => p.topic === 'r/1'), 5000, 'forwarded after the target came back');
    await until(() => acks.filter((a) => a.clientId === 'bridge-src').length === 1, 3000, 'acknowledged to the source');
  });

  it('breaks the loop of a bidirectional rule between two brokers', async () => {
    const out = await load({ rules: [{ direction: 'both', filter: 'plant/#rest', target: 'plant/{rest}' }], loopWindow: 5 });
    const s = await client(S);
    const t = await client(T);
    const sGot = receive(s);
    const tGot = receive(t);
    await s.subscribeAsync('plant/#', { qos: 1 });
    await t.subscribeAsync('plant/#', { qos: 1 });
    await s.publishAsync('plant/a', '1', { qos: 1 });
    await t.publishAsync('plant/b', '2', { qos: 1 });
    const st = await stats(out, (x) => x.totals.dropped.loop >= 2, 'loops dropped');
    await settle(300);
    assert.deepEqual(sGot.map((g) => `${g.topic}=${g.payload}`).sort(), ['plant/a=1', 'plant/b=2']);
    assert.deepEqual(tGot.map((g) => `${g.topic}=${g.payload}`).sort(), ['plant/a=1', 'plant/b=2']);
    assert.equal(st.totals.forwarded, 2);
  });

  it('does not loop on a Datacake-like echo of every dtck-pub/ write on dtck/', async () => {
    const out = await load({
      rules: [
        { filter: 'site/+device/+field', target: 'dtck-pub/p/{device}/{field|upper}' },
        { direction: 'in', filter: 'dtck/p/+device/+field', target: 'site/{device}/{field|lower}' },
      ],
    });
    // The "Datacake" side: every write is echoed on dtck/.
    const dc = await client(T);
    await dc.subscribeAsync('dtck-pub/#', { qos: 1 });
    dc.on('message', (topic, payload) => void dc.publish(topic.replace(/^dtck-pub\//, 'dtck/'), payload, { qos: 1 }));
    const s = await client(S);
    const sGot = receive(s);
    await s.subscribeAsync('site/#', { qos: 1 });
    await s.publishAsync('site/d1/temp', '21', { qos: 1 });
    // A genuine change made on the Datacake side still reaches the site.
    await settle(200);
    await dc.publishAsync('dtck/p/d1/SETPOINT', '18', { qos: 1 });
    const st = await stats(out, (x) => x.totals.dropped.loop >= 1 && x.totals.forwarded >= 2, 'echo dropped');
    await settle(300);
    assert.deepEqual(sGot.map((g) => `${g.topic}=${g.payload}`), ['site/d1/temp=21', 'site/d1/setpoint=18']);
    assert.equal(T.published.filter((p) => p.topic === 'dtck-pub/p/d1/TEMP').length, 1);
    assert.equal(st.rules[1].dropped.loop, 1);
  });

  it('loses nothing of a QoS 1 stream while the target restarts several times (duplicates counted)', async () => {
    const out = await load({ rules: [{ filter: 'stream/+n', target: 'copy/{n}' }] });
    const pub = await client(S);
    const N = 1500;
    const sending = (async () => {
      for (let i = 0; i < N; i++) {
        await pub.publishAsync(`stream/${i}`, String(i), { qos: 1 });
        if (i % 50 === 0) await settle(5);
      }
    })();
    for (let r = 0; r < 3; r++) {
      await settle(150);
      await T.restart(100);
    }
    await sending;
    await until(() => new Set(T.published.filter((p) => p.topic.startsWith('copy/')).map((p) => p.topic)).size === N, 15000, 'every message at the target');
    const copies = T.published.filter((p) => p.topic.startsWith('copy/'));
    const st = await stats(out, (x) => x.totals.forwarded >= N, 'all forwarded');
    assert.equal(st.totals.dropped.error + st.totals.dropped['queue-full'], 0);
    // Duplicates at the target are possible (at least once) and bounded by what was re-sent after reconnects.
    assert.ok(copies.length - N <= st.resent, `duplicates ${copies.length - N} <= re-sent ${st.resent}`);
    await until(() => acks.filter((a) => a.clientId === 'bridge-src').length >= N, 5000, 'every source message acknowledged');
  });

  it('bounds the outbox while the target is down and reports drops by policy', async () => {
    const out = await load({ rules: [{ filter: 'down/+n', target: 'up/{n}' }], outboxMessages: 50, outboxPolicy: 'drop-oldest', drainRate: 0 });
    await T.stop();
    await settle(100);
    const pub = await client(S);
    for (let i = 0; i < 300; i++) pub.publish(`down/${i}`, String(i), { qos: 0 });
    const st = await stats(out, (x) => x.totals.matched === 300, 'all matched');
    assert.ok(st.queue.toTarget.depth <= 50);
    assert.equal(st.totals.dropped['queue-full'], 250);
    await T.restart(0);
    await until(() => T.published.filter((p) => p.topic.startsWith('up/')).length === 50, 5000, 'outbox drained');
    assert.equal(T.published.filter((p) => p.topic.startsWith('up/'))[0].topic, 'up/250', 'in order, oldest dropped');
  });

  it('stop-consuming (default) keeps the outbox bounded without dropping: the source holds the backlog', async () => {
    const out = await load({ rules: [{ filter: 'hold/+n', target: 'held/{n}' }], outboxMessages: 20, drainRate: 0 });
    await T.stop();
    await settle(100);
    const pub = await client(S);
    for (let i = 0; i < 200; i++) pub.publish(`hold/${i}`, String(i), { qos: 1 });
    await settle(500);
    const held = await stats(out, (x) => x.totals.matched > 0, 'some matched');
    assert.ok(held.queue.toTarget.depth <= 40, `outbox ${held.queue.toTarget.depth}`);
    assert.ok(held.totals.matched < 200, 'the bridge stopped reading from the source');
    await T.restart(0);
    await until(() => new Set(T.published.filter((p) => p.topic.startsWith('held/')).map((p) => p.topic)).size === 200, 8000, 'all delivered');
    const st = await stats(out, (x) => x.totals.forwarded >= 200, 'all forwarded');
    assert.equal(st.totals.dropped['queue-full'], 0);
  });

  it('the drain rate paces only the backlog after a target outage; live traffic beyond the in-flight window is not paced', { timeout: 60_000 }, async () => {
    // 20 messages/s and 5 in flight: a paced live flood of 400 would take 20 s; unpaced it takes well under 1 s.
    const out = await load({ rules: [{ filter: 'live/+n', target: 'fast/{n}' }], drainRate: 20, maxInflight: 5 });
    const pub = await client(S);
    const arrived = (prefix: string) => new Set(T.published.filter((p) => p.topic.startsWith(prefix)).map((p) => p.topic)).size;
    await Promise.all(Array.from({ length: 400 }, (_, i) => pub.publishAsync(`live/${i}`, String(i), { qos: 1 })));
    await until(() => arrived('fast/') === 400, 8000, 'the live flood through at full speed (paced it would take 20 s)');
    const live = await stats(out, (x) => x.totals.forwarded >= 400, 'live forwarded');
    assert.equal(live.queue.toTarget.pacing, false, 'not pacing live traffic');
    // An outage leaves a backlog of 60: that one drains at 20/s at most.
    await T.stop();
    await settle(100);
    for (let i = 400; i < 460; i++) pub.publish(`live/${i}`, String(i), { qos: 1 });
    await stats(out, (x) => x.queue.toTarget.depth === 60, 'backlog queued');
    await T.restart(0);
    const start = Date.now();
    await stats(out, (x) => x.queue.toTarget.pacing, 'pacing the backlog');
    const samples: [number, number][] = [];
    await until(() => (samples.push([Date.now() - start, arrived('fast/') - 400]), arrived('fast/') === 460), 30_000, 'backlog drained');
    // Slowness can only lower the count: at t ms at most 20·t/1000 + the first tenth of a second's tokens (2) + 1.
    for (const [t, n] of samples) assert.ok(n <= (20 * t) / 1000 + 3, `${n} of the backlog through after ${t} ms at 20/s`);
    const after = await stats(out, (x) => x.totals.forwarded >= 460, 'backlog forwarded');
    assert.equal(after.queue.toTarget.pacing, false, 'live again once the backlog is through');
    assert.equal(after.totals.dropped['queue-full'], 0);
  });

  it('the live preview endpoint uses the same rules', async () => {
    await load({ rules: [{ filter: 'a/+x', target: 'b/{x}' }] });
    const res = await helper
      .request()
      .post('/broker-bridge/preview')
      .send({ rules: [{ name: 'r', filter: 'site/+serial/+f', target: 'x/{serial|lookup:devices}/{f|upper}' }], tables, topic: 'site/SN-001/t' })
      .expect(200);
    assert.equal(res.body.target, 'x/uuid-1/T');
    assert.equal(res.body.ruleName, 'r');
    const bad = await helper.request().post('/broker-bridge/preview').send({ rules: [{ filter: 'a/+', target: '{zz}' }], topic: 'a/b' }).expect(400);
    assert.match(bad.body.error, /placeholder/);
  });

  it('100 redeploys leave no clients, sockets, listeners or timers behind', { timeout: 120_000 }, async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const processListeners = () => process.eventNames().reduce((n, e) => n + process.listenerCount(e), 0);
    const rules = (i: number) => [{ filter: 'x/+n', target: `y${i % 3}/{n}` }];
    await load({ rules: rules(0) });
    await helper.unload();
    await settle(100);
    const base = { timers: timers(), sockets: sockets(), listeners: processListeners() };
    // 50 full deploys: config nodes and bridge started and stopped every time
    for (let i = 0; i < 50; i++) {
      await helper.load(nodes, flow({ rules: rules(i) }));
      if (i % 5 === 0) await until(() => T.clients().includes('bridge-tgt') && S.clients().includes('bridge-src'), 3000, 'connected');
      await helper.unload();
    }
    await until(() => S.clients().length === 0 && T.clients().length === 0, 5000, `no clients left (${S.clients()} / ${T.clients()})`);
    await settle(300);
    assert.ok(timers() <= base.timers + 2, `timers ${timers()} vs ${base.timers}`);
    assert.ok(sockets() <= base.sockets, `sockets ${sockets()} vs ${base.sockets}`);
    assert.equal(processListeners(), base.listeners, 'process listeners');
    // 50 deploys of the bridge alone ("modified nodes"): the shared connections stay, and what the bridge adds to
    // them (event listeners, subscription handlers) is taken away again every time
    await helper.load(nodes, flow({ rules: rules(0) }));
    await until(() => T.clients().includes('bridge-tgt') && S.clients().includes('bridge-src'), 3000, 'connected');
    const cs = (helper.getNode('cs') as any).connection as MqttConnection;
    const ct = (helper.getNode('ct') as any).connection as MqttConnection;
    const footprint = () => ({
      listeners: (['connected', 'requeued', 'status', 'disconnected'] as const).map((e) => cs.listenerCount(e) + ct.listenerCount(e)),
      handlers: [...((cs as any).subs as Map<string, { handlers: Set<unknown> }>).values()].reduce((n, x) => n + x.handlers.size, 0),
      filters: ((cs as any).subs as Map<string, unknown>).size,
      users: cs.userCount + ct.userCount,
    });
    const once = footprint();
    for (let i = 1; i <= 50; i++) {
      const f = flow({ rules: rules(i), name: `bridge ${i}` });
      await helper.setFlows(f as never, 'nodes');
      assert.equal((helper.getNode('cs') as any).connection, cs, 'the source connection was not restarted');
    }
    await settle(200);
    assert.deepEqual(footprint(), once, 'no listener, handler or user left behind by a bridge redeploy');
    assert.deepEqual(S.clients(), ['bridge-src']);
    assert.deepEqual(T.clients(), ['bridge-tgt']);
    // and it still bridges
    const sub = await client(T);
    const got = receive(sub);
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await client(S);
    await pub.publishAsync('x/after', 'v', { qos: 1 });
    await until(() => got.some((m) => m.topic === 'y2/after'), 3000, 'forwarded after the redeploys');
  });

  it('reports a bad rule as a node error without crashing', async () => {
    await helper.load(nodes, flow({ rules: [{ filter: 'a/+', target: 'b/{nope}' }] }));
    const b = helper.getNode('b1');
    await until(() => (b.error as any).called, 2000, 'error');
    assert.match(String((b.error as any).firstCall.args[0]), /placeholder \{nope\}/);
  });
});
