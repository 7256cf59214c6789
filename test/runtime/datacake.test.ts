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
const nodes = [brokerNode, inNode, outNode, catchNode, completeNode];
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
  it('in → out on the same device and field does not loop', async () => {
    // out takes the target from msg.datacake (the in-node's) for every slot
    const { in: got, out, completed } = await setup({ wire: true, out: { productSlug: '', deviceId: '', field: '' } });
    await dc.datacakeWrites(`dtck/${P}/${D1}/SETPOINT`, '20');
    await got.next(1);
    await completed!.next(1);
    await settle(300);
    assert.equal(dc.writes.length, 0, 'the value just received is not written back');
    assert.equal(got.received.length, 1);
    assert.ok((out.status as any).args.some((a: any[]) => /1 echo dropped/.test(String(a[0]?.text))));
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
