/**
 * datacake-broker / datacake-mqtt-in / datacake-mqtt-out in a real Node-RED runtime (node-red-node-test-helper)
 * against a loopback broker that behaves like Datacake (test/support/datacake-broker.ts). No MQTT mocks.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { helper, catchNode, collect, TAB, settle } from '../support/flow';
import { freePort, until } from '../support/broker';
import { startDatacakeBroker, TOKEN, type DatacakeBrokerFixture } from '../support/datacake-broker';
import { makeDevices, startGraphqlStandIn, type GraphqlStandIn } from '../support/datacake-graphql';
import brokerNode = require('../../src/nodes/datacake-broker/runtime');
import inNode = require('../../src/nodes/datacake-mqtt-in/runtime');
import outNode = require('../../src/nodes/datacake-mqtt-out/runtime');
import type { DatacakeInOutput } from '../../src/nodes/datacake-mqtt-in/types';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const completeNode = require('@node-red/nodes/core/common/24-complete.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const statusNode = require('@node-red/nodes/core/common/25-status.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const delayNode = require('@node-red/nodes/core/function/89-delay.js');
const nodes = [brokerNode, inNode, outNode, catchNode, completeNode, statusNode, delayNode];
const P = 'env-sensor';
const D1 = 'device-1';
const D2 = 'device-2';

let dc: DatacakeBrokerFixture;

function brokerConfig(extra: Record<string, unknown> = {}) {
  return { id: 'b1', type: 'datacake-broker', host: '127.0.0.1', port: dc.port, protocol: 'mqtt', echoWindow: 5, queueSize: 1000, ...extra };
}

/** in1 → inOut (helper); out1 with catch → caught and complete → completed. `wire` connects in1 to out1 too. */
function flow(o: { broker?: Record<string, unknown>; in?: Record<string, unknown> | false; out?: Record<string, unknown> | false; wire?: boolean }) {
  const f: any[] = [{ id: TAB, type: 'tab' }, brokerConfig(o.broker)];
  if (o.in !== false) f.push({ id: 'in1', z: TAB, type: 'datacake-mqtt-in', broker: 'b1', productSlug: P, deviceId: '+', field: '+', qos: '1', ...o.in, wires: [o.wire ? ['inOut', 'out1'] : ['inOut']] });
  f.push({ id: 'inOut', z: TAB, type: 'helper' });
  if (o.out !== false) {
    f.push({ id: 'out1', z: TAB, type: 'datacake-mqtt-out', broker: 'b1', productSlug: P, deviceId: D1, field: '', qos: '1', rate: 0, ...o.out, wires: [] });
    f.push({ id: 'c1', z: TAB, type: 'catch', scope: ['out1'], wires: [['caught']] }, { id: 'caught', z: TAB, type: 'helper' });
    f.push({ id: 'k1', z: TAB, type: 'complete', scope: ['out1'], wires: [['completed']] }, { id: 'completed', z: TAB, type: 'helper' });
  }
  return f;
}

async function setup(o: Parameters<typeof flow>[0] & { token?: string }) {
  await helper.load(nodes, flow(o), { b1: { token: o.token ?? TOKEN } });
  const got = {
    in: collect(helper.getNode('inOut')),
    caught: o.out === false ? undefined : collect(helper.getNode('caught')),
    completed: o.out === false ? undefined : collect(helper.getNode('completed')),
    out: helper.getNode('out1'),
    inNode: helper.getNode('in1'),
    broker: helper.getNode('b1') as any,
  };
  if (o.token === undefined) await until(() => got.broker.connection?.state === 'connected', 5000, 'connected');
  // subscriptions are made right after connecting; give the SUBACK a moment
  await settle(100);
  return got;
}

const writesTo = (topic: string) => dc.writes.filter((w) => w.topic === topic).map((w) => w.payload);
/** Whether a node's status text ever matched `re`. */
const statusSeen = (n: unknown, re: RegExp) => (n as any).status.args.some((a: any[]) => re.test(String(a[0]?.text)));

before(async () => {
  dc = await startDatacakeBroker();
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
});
after(async () => {
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  await dc.stop();
});
afterEach(async () => {
  await helper.unload();
  dc.writes.length = 0;
});

describe('datacake-mqtt-in', () => {
  it('emits typed values with raw text, topic and msg.datacake', async () => {
    const { in: got } = await setup({ out: false });
    const sent = ['21.5', 'True', 'false', '(52.52,13.405)', '{"a":1}', 'hello', '42'];
    for (const s of sent) await dc.datacakeWrites(`dtck/${P}/${D1}/F${sent.indexOf(s)}`, s);
    const msgs = (await got.next(sent.length)) as DatacakeInOutput[];
    assert.deepEqual(msgs.map((m) => m.payload), [21.5, true, false, { lat: 52.52, lng: 13.405 }, { a: 1 }, 'hello', 42]);
    assert.deepEqual(msgs.map((m) => m.raw), sent);
    assert.equal(msgs[0].topic, `dtck/${P}/${D1}/F0`);
    assert.deepEqual(msgs[0].datacake, { productSlug: P, deviceId: D1, field: 'F0' });
  });

  it('subscribes one field across devices, and rewrites * to + with a warning', async () => {
    const { in: got, inNode } = await setup({ out: false, in: { deviceId: '*', field: 'temperature' } });
    assert.ok((inNode.warn as any).args.some((a: any[]) => /not an MQTT wildcard/.test(String(a[0]))), 'warned about *');
    await dc.datacakeWrites(`dtck/${P}/${D1}/HUMIDITY`, '1');
    await dc.datacakeWrites(`dtck/${P}/${D1}/TEMPERATURE`, '20');
    await dc.datacakeWrites(`dtck/${P}/${D2}/TEMPERATURE`, '21');
    await dc.datacakeWrites(`dtck/other/${D2}/TEMPERATURE`, '22');
    const msgs = await got.next(2);
    await settle(100);
    assert.equal(got.received.length, 2);
    assert.deepEqual(msgs.map((m) => [m.datacake.deviceId, m.payload]), [[D1, 20], [D2, 21]]);
  });

  it('only on change: emits a value only when it differs (True equals true)', async () => {
    const { in: got } = await setup({ out: false, in: { changeOnly: true } });
    for (const v of ['1', '1', '1.0', '2', 'true', 'True', '2']) await dc.datacakeWrites(`dtck/${P}/${D1}/X`, v);
    await dc.datacakeWrites(`dtck/${P}/${D2}/X`, '2');
    await got.next(5);
    await settle(100);
    assert.deepEqual(got.received.map((m) => [m.datacake.deviceId, m.raw]), [[D1, '1'], [D1, '2'], [D1, 'true'], [D1, '2'], [D2, '2']]);
  });
});

describe('datacake-mqtt-out', () => {
  it('serializes typed values, one publish per field of an object, retain off', async () => {
    const { out, completed } = await setup({ in: false });
    out.receive({ payload: { temperature: 21.5, HUMIDITY: 40, ONLINE: true, LOCATION: { lat: 52.5, lng: 13.4 }, NOTE: 'ok' } });
    out.receive({ payload: false, datacake: { field: 'relay' } });
    await completed!.next(2);
    await until(() => dc.writes.length === 6);
    const byTopic = Object.fromEntries(dc.writes.map((w) => [w.topic, w.payload]));
    assert.deepEqual(byTopic, {
      [`dtck-pub/${P}/${D1}/TEMPERATURE`]: '21.5',
      [`dtck-pub/${P}/${D1}/HUMIDITY`]: '40',
      [`dtck-pub/${P}/${D1}/ONLINE`]: 'true',
      [`dtck-pub/${P}/${D1}/LOCATION`]: '(52.5,13.4)',
      [`dtck-pub/${P}/${D1}/NOTE`]: 'ok',
      [`dtck-pub/${P}/${D1}/RELAY`]: 'false',
    });
    assert.ok(dc.writes.every((w) => !w.retain && w.qos === 1));
    assert.equal(dc.refusedWrites, 0);
  });

  it('takes the target from msg.topic when the node leaves it blank', async () => {
    const { out, completed } = await setup({ in: false, out: { productSlug: '', deviceId: '', field: '' } });
    out.receive({ payload: 7, topic: `dtck-pub/${P}/${D2}/LEVEL` });
    await completed!.next(1);
    await until(() => writesTo(`dtck-pub/${P}/${D2}/LEVEL`).length === 1);
  });

  it('refuses bad values with done(err) and writes nothing of that message', async () => {
    const { out, caught } = await setup({ in: false });
    out.receive({ payload: { nested: { a: 1 } }, _id: 'obj' });
    out.receive({ payload: [1, 2], datacake: { field: 'LIST' } });
    out.receive({ payload: { OK: 1, 'BAD-NAME': 2 } });
    out.receive({ payload: { a: 1 }, datacake: { field: 'SINGLE' } });
    out.receive({ payload: 1, datacake: { deviceId: '+' }, topic: 'x' });
    const errs = await caught!.next(4);
    assert.match(errs[0].error.message, /object/);
    assert.match(errs[1].error.message, /array/);
    assert.match(errs[2].error.message, /field identifier/);
    assert.match(errs[3].error.message, /single field/);
    assert.equal(errs[0].error.source.id, 'out1');
    await settle(150);
    assert.equal(dc.writes.length, 0);
  });

  it('rate limit: at most one write per field per interval, the latest value wins', async () => {
    const { out, completed } = await setup({ in: false, out: { field: '', rate: 0.4 } });
    for (let i = 1; i <= 5; i++) out.receive({ payload: i, datacake: { field: 'TEMPERATURE' } });
    out.receive({ payload: 99, datacake: { field: 'OTHER' } });
    await completed!.next(6, 5000);
    await until(() => dc.writes.length === 3);
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/TEMPERATURE`), ['1', '5']);
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/OTHER`), ['99']);
  });

  it('change-only: skips a write equal to the last one written', async () => {
    const { out, completed } = await setup({ in: false, out: { field: 'LEVEL', changeOnly: true } });
    for (const v of [5, 5, 5.0, 6, 5]) {
      out.receive({ payload: v });
      await completed!.next(completed!.received.length + 1);
    }
    await settle(100);
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/LEVEL`), ['5', '6', '5']);
  });
});

describe('echo protection', () => {
  it('in → out on the same device and field does not loop: the value is written back once, its echo is dropped', async () => {
    // out takes the target from msg.datacake (the in-node's) for every slot
    const { in: got, out, completed } = await setup({ wire: true, out: { productSlug: '', deviceId: '', field: '' } });
    await dc.datacakeWrites(`dtck/${P}/${D1}/SETPOINT`, '20');
    await got.next(2); // the value set in Datacake, then the echo of our write-back
    await completed!.next(2);
    await until(() => statusSeen(out, /1 echo dropped/), 5000, 'the echo dropped');
    await settle(300);
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/SETPOINT`), ['20'], 'a value set elsewhere is not an echo of ours: written back once');
    assert.equal(got.received.length, 2);
  });

  it('a relay device 1 → device 2 writes once; its own echo is not relayed again', async () => {
    const { in: got } = await setup({ wire: true, out: { productSlug: P, deviceId: D2, field: '' } });
    await dc.datacakeWrites(`dtck/${P}/${D1}/RELAY`, 'true');
    await got.next(2); // the value from device 1 and the echo of the write to device 2
    await settle(400);
    assert.deepEqual(dc.writes.map((w) => [w.topic, w.payload]), [[`dtck-pub/${P}/${D2}/RELAY`, 'true']]);
    assert.equal(got.received.length, 2);
    assert.equal((helper.getNode('b1') as any).echo.dropped, 1);
  });

  it('Python-style True echoes count as the same value', async () => {
    const py = await startDatacakeBroker({ pythonBooleans: true });
    const saved = dc;
    dc = py;
    try {
      const { in: got } = await setup({ wire: true, out: { productSlug: P, deviceId: D2, field: '' } });
      await py.datacakeWrites(`dtck/${P}/${D1}/RELAY`, 'true');
      await got.next(2);
      await settle(400);
      assert.equal(got.received[1].raw, 'True');
      assert.equal(py.writes.length, 1);
    } finally {
      await helper.unload();
      dc = saved;
      await py.stop();
    }
  });
});

describe('connection lifecycle', () => {
  it('broker restart with QoS 1: nothing is lost', async () => {
    const { out, completed } = await setup({ in: false, out: { field: 'SEQ', rate: 0, qos: '1' } });
    for (let i = 0; i < 60; i++) {
      out.receive({ payload: i });
      if (i === 20 || i === 40) await dc.restart(150);
    }
    await completed!.next(60, 20000);
    const seen = new Set(writesTo(`dtck-pub/${P}/${D1}/SEQ`).map(Number));
    for (let i = 0; i < 60; i++) assert.ok(seen.has(i), `value ${i} lost`);
  });

  it('redeploy leaks no connection (5 load/unload cycles), one connection per config node', async () => {
    for (let i = 0; i < 5; i++) {
      await setup({ wire: true });
      assert.equal(dc.clients().length, 1, 'in and out share one connection');
      await helper.unload();
      await until(() => dc.clients().length === 0, 3000, 'no client after unload');
    }
  });

  it('redeploy of the out-node alone: one connection stays, its waiting writes are taken back, not written later', async () => {
    const got = await setup({ in: false, out: { field: 'OLD', rate: 0, qos: '1' } });
    const broker = got.broker;
    await dc.stop();
    await until(() => broker.connection?.state !== 'connected', 3000, 'disconnected');
    for (let i = 0; i < 3; i++) got.out.receive({ payload: i });
    await until(() => broker.connection?.queued === 3, 2000, '3 writes queued');
    const f = flow({ in: false, out: { field: 'NEW', rate: 0, qos: '1', name: 'changed' } });
    await helper.setFlows(f as never, 'nodes', { b1: { token: TOKEN } });
    assert.equal(helper.getNode('b1'), broker, 'the broker node (and its connection) stayed');
    assert.equal(broker.connection.queued, 0, 'the old node took its writes back');
    helper.getNode('out1').receive({ payload: 7 });
    await dc.restart(0);
    await until(() => writesTo(`dtck-pub/${P}/${D1}/NEW`).length === 1, 5000, 'the new write');
    await settle(200);
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/OLD`), [], 'nothing of the stopped node was written');
    assert.equal(dc.clients().length, 1);
  });

  it('bad token: the status says so and there is no reconnect storm', async () => {
    const before = dc.connectAttempts;
    const { out } = await setup({ in: false, token: 'wrong-token' });
    const broker = helper.getNode('b1') as any;
    await until(() => broker.connection?.state === 'refused', 5000, 'refused');
    await settle(2500);
    assert.equal(dc.connectAttempts - before, 1, 'one attempt, no retries');
    const texts = (out.status as any).args.map((a: any[]) => String(a[0]?.text));
    assert.ok(texts.some((t: string) => /bad token/.test(t)), texts.join(' | '));
    assert.ok((broker.warn as any).args.some((a: any[]) => /bad token/.test(String(a[0]))));
  });

  it('offline queue overflow is an error a Catch node gets; waiting writes are discarded on stop without errors', async () => {
    const dead = await freePort();
    const { out, caught } = await setup({ in: false, token: TOKEN, broker: { port: dead, queueSize: 2 }, out: { rate: 0 } });
    out.receive({ payload: { A: 1 } });
    out.receive({ payload: { B: 2 } });
    out.receive({ payload: { C: 3 } });
    const [err] = await caught!.next(1);
    assert.match(err.error.message, /queue full/);
    await settle(100);
    assert.ok((out.status as any).args.some((a: any[]) => /2 waiting/.test(String(a[0]?.text))));
    await helper.unload();
    await settle(100);
    assert.equal(caught!.received.length, 1);
  });

  it('without a token nothing connects and writes only wait (an imported example)', async () => {
    const before = dc.connectAttempts;
    await helper.load(nodes, flow({ in: false }), {});
    const out = helper.getNode('out1');
    const caught = collect(helper.getNode('caught'));
    out.receive({ payload: { A: 1 } });
    await settle(300);
    assert.equal(dc.connectAttempts, before);
    assert.equal(caught.received.length, 0);
    assert.ok((out.status as any).args.some((a: any[]) => /no token · 1 waiting/.test(String(a[0]?.text))));
  });
});

describe('editor picker endpoints', () => {
  let api: GraphqlStandIn;
  const API_TOKEN = TOKEN;
  before(async () => (api = await startGraphqlStandIn(API_TOKEN, { ws1: { name: 'Big', devices: makeDevices(237) } })));
  after(() => api.close());

  it('list workspaces and page through a large workspace with the stored token, never returning it', async () => {
    await helper.load(nodes, [{ id: TAB, type: 'tab' }, brokerConfig({ apiUrl: api.url, connect: 'manual' })], { b1: { token: API_TOKEN } });
    const ws = await helper.request().get('/datacake-broker/b1/workspaces').expect(200);
    assert.deepEqual(ws.body.workspaces.map((w: any) => w.id), ['ws1']);
    const dev = await helper.request().get('/datacake-broker/b1/devices?workspace=ws1&pageSize=50').expect(200);
    assert.equal(dev.body.devices.length, 237);
    assert.equal(dev.body.complete, true);
    assert.deepEqual(dev.body.devices[5].fields.map((f: any) => f.name), ['TEMPERATURE', 'RELAY']);
    for (const r of [ws, dev]) assert.ok(!r.text.includes(API_TOKEN));
    assert.ok(api.requests.every((r) => r.authorization === `Token ${API_TOKEN}`));
  });

  it('take an unsaved token from the POST body; refuse to send a stored token to an unsaved URL', async () => {
    await helper.load(nodes, [{ id: TAB, type: 'tab' }, brokerConfig({ apiUrl: api.url, connect: 'manual' })], { b1: { token: 'stale-token' } });
    const refused = await helper.request().post('/datacake-broker/b1/workspaces').send({}).expect(401);
    assert.ok(!refused.text.includes('stale-token'));
    const ok = await helper.request().post('/datacake-broker/new-node/workspaces').send({ token: API_TOKEN, apiUrl: api.url }).expect(200);
    assert.equal(ok.body.workspaces.length, 1);
    assert.ok(!ok.text.includes(API_TOKEN));
    const elsewhere = await helper.request().post('/datacake-broker/b1/workspaces').send({ apiUrl: 'http://127.0.0.1:1/evil' }).expect(400);
    assert.match(elsewhere.body.error, /API URL was changed/);
    await helper.request().post('/datacake-broker/b1/devices').send({ token: API_TOKEN, apiUrl: api.url }).expect(400);
    await helper.request().get('/datacake-broker/unknown/workspaces').expect(400);
    // a token typed in the editor is only sent over https, or plain http to this machine
    const plain = await helper.request().post('/datacake-broker/new-node/workspaces').send({ token: API_TOKEN, apiUrl: 'http://example.com/graphql' }).expect(400);
    assert.match(plain.body.error, /https/);
  });
});

describe('issue 14: nothing lost, nothing silently wrong', () => {
  it('#5 echo protection never drops a later write of the flow: true, false, true 700 ms apart are all written (in-node wired back)', async () => {
    const { out, completed } = await setup({ wire: true, out: { productSlug: P, deviceId: D1, field: 'RELAY', rate: 1 } });
    for (const v of [true, false, true]) {
      out.receive({ payload: v });
      await settle(700);
    }
    await until(() => writesTo(`dtck-pub/${P}/${D1}/RELAY`).length === 3, 10000, 'three writes');
    // each write's echo comes back through the in-node and is dropped, once
    await until(() => statusSeen(out, /3 echoes dropped/), 5000, 'three echoes dropped');
    await completed!.next(6, 5000);
    await settle(300);
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/RELAY`), ['true', 'false', 'true']);
  });

  it('#5 7, 8, 7 at 1.2 s with a 1 s rate limit, an in-node watching the field: all three written', async () => {
    const { out, in: got } = await setup({ in: { deviceId: D1, field: 'LEVEL' }, out: { field: 'LEVEL', rate: 1 } });
    for (const v of [7, 8, 7]) {
      out.receive({ payload: v });
      await settle(1200);
    }
    await until(() => writesTo(`dtck-pub/${P}/${D1}/LEVEL`).length === 3, 10000, 'three writes');
    await got.next(3);
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/LEVEL`), ['7', '8', '7']);
    assert.ok(!statusSeen(out, /echo/), 'nothing counted as an echo');
  });

  it('#6 a refused token fails the writes queued at the refusal and every later one at once with done(err)', async () => {
    const slow = await startDatacakeBroker({ connackDelayMs: 1500 }); // writes made meanwhile wait in the queue
    const saved = dc;
    dc = slow;
    try {
      await helper.load(nodes, flow({ in: false, out: { field: 'F', rate: 0 } }), { b1: { token: 'wrong-token' } });
      const out = helper.getNode('out1');
      const broker = helper.getNode('b1') as any;
      const caught = collect(helper.getNode('caught'));
      out.receive({ payload: 1 });
      out.receive({ payload: 2 });
      assert.equal(broker.connection.state, 'connecting');
      await until(() => broker.connection.queued === 2, 2000, 'two writes queued while connecting');
      const errs = await caught.next(2, 5000);
      assert.equal(broker.connection.state, 'refused');
      for (const e of errs) assert.match(e.error.message, /refused: bad token/);
      out.receive({ payload: 3 });
      const [, , late] = await caught.next(3, 2000);
      assert.match(late.error.message, /refused: bad token/);
      assert.equal(broker.connection.queued, 0);
      assert.equal(slow.writes.length, 0);
    } finally {
      await helper.unload();
      dc = saved;
      await slow.stop();
    }
  });

  it('#7 the rate limit holds through an outage: one write waits per field (the newest), no burst on reconnect', async () => {
    const got = await setup({ in: false, out: { field: 'LEVEL', rate: 1, qos: '1' } });
    await dc.stop();
    await until(() => got.broker.connection?.state !== 'connected', 3000, 'disconnected');
    for (let i = 0; i < 15; i++) {
      got.out.receive({ payload: i });
      await settle(200);
    }
    const queuedInOutage = got.broker.connection.queued;
    await dc.restart(0);
    assert.equal(queuedInOutage, 1, 'one write of the field in the offline queue, not one per interval');
    await got.completed!.next(15, 20000); // the replaced ones complete with done(), not written
    assert.equal(got.caught!.received.length, 0);
    await until(() => writesTo(`dtck-pub/${P}/${D1}/LEVEL`).length === 2, 10000, 'two writes');
    await settle(300);
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/LEVEL`), ['0', '14'], 'the first, then only the newest');
  });

  it('#8 a delay longer than the echo window between in and out does not loop', async () => {
    const f: any[] = [
      { id: TAB, type: 'tab' },
      brokerConfig({ echoWindow: 1 }),
      { id: 'in1', z: TAB, type: 'datacake-mqtt-in', broker: 'b1', productSlug: P, deviceId: D1, field: 'SETPOINT', qos: '1', wires: [['d1']] },
      { id: 'd1', z: TAB, type: 'delay', pauseType: 'delay', timeout: '1.5', timeoutUnits: 'seconds', rate: '1', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false, outputs: 1, wires: [['out1']] },
      { id: 'out1', z: TAB, type: 'datacake-mqtt-out', broker: 'b1', productSlug: '', deviceId: '', field: '', qos: '1', rate: 1, wires: [] },
    ];
    await helper.load(nodes, f, { b1: { token: TOKEN } });
    const broker = helper.getNode('b1') as any;
    await until(() => broker.connection?.state === 'connected', 5000, 'connected');
    await settle(100);
    await dc.datacakeWrites(`dtck/${P}/${D1}/SETPOINT`, '20');
    const out = helper.getNode('out1');
    await until(() => statusSeen(out, /1 echo dropped/), 10000, 'the echo of our write-back dropped after the delay');
    await settle(300);
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/SETPOINT`), ['20']);
  });

  it('#8 in- and out-node on two broker nodes with the same token do not loop (one echo memory per account)', async () => {
    const f: any[] = [
      { id: TAB, type: 'tab' },
      brokerConfig(),
      { ...brokerConfig(), id: 'b2' },
      { id: 'in1', z: TAB, type: 'datacake-mqtt-in', broker: 'b1', productSlug: P, deviceId: D1, field: 'SETPOINT', qos: '1', wires: [['out1']] },
      { id: 'out1', z: TAB, type: 'datacake-mqtt-out', broker: 'b2', productSlug: '', deviceId: '', field: '', qos: '1', rate: 1, wires: [] },
    ];
    await helper.load(nodes, f, { b1: { token: TOKEN }, b2: { token: TOKEN } });
    for (const id of ['b1', 'b2']) await until(() => (helper.getNode(id) as any).connection?.state === 'connected', 5000, `${id} connected`);
    await settle(100);
    assert.equal(dc.clients().length, 2);
    await dc.datacakeWrites(`dtck/${P}/${D1}/SETPOINT`, '20');
    const out = helper.getNode('out1');
    await until(() => statusSeen(out, /1 echo dropped/), 10000, 'the echo (received on the other broker node) dropped');
    await settle(1500); // more than the rate limit: a loop would have written again
    assert.deepEqual(writesTo(`dtck-pub/${P}/${D1}/SETPOINT`), ['20']);
  });

  it('#9 field names must be ASCII identifiers: straße is refused, never written as STRASSE', async () => {
    const { out, caught } = await setup({ in: false });
    out.receive({ payload: 1, datacake: { field: 'straße' } });
    out.receive({ payload: { straße: 1 } });
    out.receive({ payload: 1, topic: `dtck-pub/${P}/${D1}/ﬁeld` });
    const errs = await caught!.next(3);
    for (const e of errs) assert.match(e.error.message, /not a Datacake field identifier/);
    await settle(150);
    assert.equal(dc.writes.length, 0);
  });

  it('#9 an in-node with a non-ASCII field is a configuration error, not a subscription to another field', async () => {
    await helper.load(nodes, flow({ out: false, in: { deviceId: D1, field: 'straße' } }), { b1: { token: TOKEN } });
    const inNode1 = helper.getNode('in1');
    assert.ok((inNode1.error as any).args.some((a: any[]) => /not a Datacake field identifier/.test(String(a[0]))));
    assert.ok(statusSeen(inNode1, /field name "straße"/), 'red status');
    assert.equal(dc.clients().length, 0, 'nothing subscribed, nothing connected');
  });

  it('#11 keep strings: msg.payload is the text as received', async () => {
    const { in: got } = await setup({ out: false, in: { keepStrings: true } });
    const sent = ['42', 'True', '', '(1,2)', '"q"', 'text'];
    for (const [i, s] of sent.entries()) await dc.datacakeWrites(`dtck/${P}/${D1}/S${i}`, s);
    const msgs = await got.next(sent.length);
    assert.deepEqual(msgs.map((m) => m.payload), sent);
  });

  it('#12 status texts reach Status nodes as words, not i18n keys', async () => {
    const f = flow({ wire: false });
    f.push({ id: 's1', z: TAB, type: 'status', scope: ['in1', 'out1'], wires: [['statuses']] }, { id: 'statuses', z: TAB, type: 'helper' });
    await helper.load(nodes, f, { b1: { token: TOKEN } });
    const statuses = collect(helper.getNode('statuses'));
    await until(() => ['in1', 'out1'].every((id) => statuses.received.some((m) => m.status.source.id === id && m.status.fill === 'green')), 5000, 'connected status of both');
    const texts = statuses.received.map((m) => `${m.status.source.id}: ${m.status.text}`);
    assert.ok(texts.every((t) => !/node-red:|common\.status/.test(t)), texts.join(' | '));
    assert.ok(texts.includes('in1: connected'), texts.join(' | '));
    assert.ok(texts.includes('out1: connected'), texts.join(' | '));
  });
});

describe('issue 14 #10: the deployed API URL', () => {
  let elsewhere: GraphqlStandIn;
  // 127.0.0.2 stands for another host: plain http is allowed only to 127.0.0.1, localhost and [::1]
  before(async () => (elsewhere = await startGraphqlStandIn(TOKEN, { ws1: { name: 'W', devices: makeDevices(1) } }, '127.0.0.2')));
  after(() => elsewhere.close());

  it('an http:// API URL to another host never receives the stored token (GET and POST)', async () => {
    await helper.load(nodes, [{ id: TAB, type: 'tab' }, brokerConfig({ apiUrl: elsewhere.url, connect: 'manual' })], { b1: { token: TOKEN } });
    const get = await helper.request().get('/datacake-broker/b1/workspaces').expect(400);
    assert.match(get.body.error, /https/);
    await helper.request().get('/datacake-broker/b1/devices?workspace=ws1').expect(400);
    await helper.request().post('/datacake-broker/b1/workspaces').send({}).expect(400);
    await helper.request().post('/datacake-broker/b1/workspaces').send({ token: TOKEN }).expect(400);
    assert.equal(elsewhere.requests.length, 0, 'no request reached the plain-http host');
  });
});
