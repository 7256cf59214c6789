/**
 * Issue #15 item 8 and 9: `msg.action` on the nodes that use a connection (core mqtt's contract: connect,
 * disconnect; subscribe / unsubscribe / getSubscriptions on datacake-mqtt-in), and one connection where one is
 * enough (a broker-bridge whose target or source is a datacake-broker). Real runtime, aedes brokers, no mocks.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import mqtt from 'mqtt';
import { helper, catchNode, collect, TAB, settle } from '../support/flow';
import { startBroker, until, type TestBroker } from '../support/broker';
import { startDatacakeBroker, TOKEN, type DatacakeBrokerFixture } from '../support/datacake-broker';
import connectionNode = require('../../src/nodes/mqtt-broker-connection/runtime');
import bridgeNode = require('../../src/nodes/broker-bridge/runtime');
import datacakeBrokerNode = require('../../src/nodes/datacake-broker/runtime');
import inNode = require('../../src/nodes/datacake-mqtt-in/runtime');
import outNode = require('../../src/nodes/datacake-mqtt-out/runtime');

// eslint-disable-next-line @typescript-eslint/no-require-imports
const completeNode = require('@node-red/nodes/core/common/24-complete.js');
const nodes = [connectionNode, bridgeNode, datacakeBrokerNode, inNode, outNode, catchNode, completeNode];
const P = 'env-sensor';

let dc: DatacakeBrokerFixture;
let S: TestBroker;

before(async () => {
  dc = await startDatacakeBroker();
  S = await startBroker();
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
});
after(async () => {
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  await dc.stop();
  await S.stop();
});
afterEach(async () => {
  await helper.unload();
  dc.writes.length = 0;
});

const datacakeBroker = (extra: Record<string, unknown> = {}) => ({ id: 'b1', type: 'datacake-broker', host: '127.0.0.1', port: dc.port, protocol: 'mqtt', echoWindow: 0, ...extra });
/** Catch and Complete nodes for `id`, wired to helpers `<id>-caught` / `<id>-done`. */
const watch = (id: string) => [
  { id: `${id}-c`, z: TAB, type: 'catch', scope: [id], wires: [[`${id}-caught`]] },
  { id: `${id}-caught`, z: TAB, type: 'helper' },
  { id: `${id}-k`, z: TAB, type: 'complete', scope: [id], wires: [[`${id}-done`]] },
  { id: `${id}-done`, z: TAB, type: 'helper' },
];
const watched = (id: string) => ({ caught: collect(helper.getNode(`${id}-caught`)), done: collect(helper.getNode(`${id}-done`)) });
/** Sends a message into a node (any shape: action messages are not payload messages). */
const send = (node: { receive(msg: any): void }, msg: any) => node.receive(msg);
/** The last status this node showed (the helper's spy may record other nodes' calls too: filtered by `this`). */
const lastStatus = (n: unknown) => {
  const spy = (n as any).status;
  const mine = spy.args.filter((_: unknown, i: number) => spy.thisValues[i] === n);
  return mine.length ? mine[mine.length - 1][0] : undefined;
};

describe('datacake-mqtt-in msg.action', () => {
  async function load(inConfig: Record<string, unknown>, broker: Record<string, unknown> = {}, token: string | undefined = TOKEN) {
    await helper.load(
      nodes,
      <any[]>[
        { id: TAB, type: 'tab' },
        datacakeBroker(broker),
        { id: 'in1', z: TAB, type: 'datacake-mqtt-in', broker: 'b1', productSlug: '', deviceId: '', field: '', qos: '1', ...inConfig, wires: [['got']] },
        { id: 'got', z: TAB, type: 'helper' },
        ...watch('in1'),
      ],
      token ? { b1: { token } } : {},
    );
    return { got: collect(helper.getNode('got')), in1: helper.getNode('in1'), broker: helper.getNode('b1') as any, ...watched('in1') };
  }

  it('dynamic: starts with no subscription; subscribe / unsubscribe with msg.topic as in core mqtt in', async () => {
    const t = await load({ dynamic: true });
    await until(() => t.broker.connection?.state === 'connected', 5000, 'connected');
    await dc.datacakeWrites(`dtck/${P}/d1/TEMP`, '1');
    await settle(200);
    assert.equal(t.got.received.length, 0, 'no subscription before msg.action subscribe');

    send(t.in1, { action: 'subscribe', topic: `dtck/${P}/+/temp` });
    const [ok] = await t.done.next(1, 5000);
    assert.deepEqual(ok.subscriptions, [{ topic: `dtck/${P}/+/TEMP`, qos: 1 }]);
    await dc.datacakeWrites(`dtck/${P}/d1/TEMP`, '2');
    await dc.datacakeWrites(`dtck/${P}/d1/HUM`, '3');
    const [m] = await t.got.next(1, 5000);
    assert.equal(m.payload, 2);

    // object form and arrays; getSubscriptions lists both
    send(t.in1, { action: 'subscribe', topic: [{ productSlug: P, deviceId: 'd1', field: 'HUM', qos: 0 }] });
    await t.done.next(2, 5000);
    send(t.in1, { action: 'getSubscriptions' });
    const [, list] = await t.got.next(2, 5000);
    assert.equal(list.topic, 'subscriptions');
    assert.deepEqual(list.payload, [{ topic: `dtck/${P}/+/TEMP`, qos: 1 }, { topic: `dtck/${P}/d1/HUM`, qos: 0 }]);

    send(t.in1, { action: 'unsubscribe', topic: `dtck/${P}/+/TEMP` });
    const [, , , unsubbed] = await t.done.next(4, 5000);
    assert.deepEqual(unsubbed.subscriptions, [{ topic: `dtck/${P}/d1/HUM`, qos: 0 }]);
    await dc.datacakeWrites(`dtck/${P}/d1/TEMP`, '4');
    await dc.datacakeWrites(`dtck/${P}/d1/HUM`, '5');
    await until(() => t.got.received.length >= 3, 5000, 'HUM value');
    await settle(200);
    assert.deepEqual(t.got.received.slice(2).map((x) => [x.datacake.field, x.payload]), [['HUM', 5]]);

    send(t.in1, { action: 'unsubscribe', topic: true });
    const [, , , , all] = await t.done.next(5, 5000);
    assert.deepEqual(all.subscriptions, []);
    await dc.datacakeWrites(`dtck/${P}/d1/HUM`, '6');
    await settle(300);
    assert.equal(t.got.received.length, 3, 'nothing after unsubscribe of everything');
    assert.equal(t.caught.received.length, 0);
  });

  it('bad subscriptions are done(err) for a Catch node, nothing of that message is applied, the node keeps working', async () => {
    const t = await load({ dynamic: true });
    await until(() => t.broker.connection?.state === 'connected', 5000, 'connected');
    const bad: unknown[] = [undefined, 42, 'dtck/#', `dtck/${P}/#/X`, `dtck-pub/${P}/d/X`, { productSlug: '' }, { productSlug: P, field: 'a-b' }, { productSlug: P, deviceId: '*' }, { productSlug: P, qos: 2 }, [`dtck/${P}/+/A`, 'nonsense']];
    for (const topic of bad) send(t.in1, { action: 'subscribe', topic });
    send(t.in1, { action: 'reconnect' });
    const errs = await t.caught.next(bad.length + 1, 5000);
    assert.ok(errs.every((e) => typeof e.error?.message === 'string' && e.error.message.length > 5), 'each with a message');
    assert.match(errs[bad.length].error.message, /Invalid action specified/);
    send(t.in1, { action: 'getSubscriptions' });
    const [list] = await t.got.next(1, 5000);
    assert.deepEqual(list.payload, [], 'the valid entry of the bad array was not applied');
  });

  it('configured subscription stays; disconnect keeps it down until connect, then values flow again', async () => {
    const t = await load({ productSlug: P, deviceId: '+', field: '+' });
    await until(() => t.broker.connection?.state === 'connected', 5000, 'connected');
    send(t.in1, { action: 'disconnect' });
    await t.done.next(1, 5000);
    await until(() => !dc.clients().length, 5000, 'client gone from the broker');
    assert.match(String(lastStatus(t.in1)?.text), /disconnected/);
    await settle(1500); // longer than the first backoff: it must not reconnect on its own
    assert.equal(dc.clients().length, 0, 'stays disconnected');
    send(t.in1, { action: 'connect' });
    await t.done.next(2, 5000);
    await until(() => t.broker.connection?.state === 'connected', 5000, 'connected again');
    await dc.datacakeWrites(`dtck/${P}/d1/TEMP`, '7');
    const [m] = await t.got.next(1, 5000);
    assert.equal(m.payload, 7);
    // connect while connected: nothing to do, no error (core)
    send(t.in1, { action: 'connect' });
    await t.done.next(3, 5000);
    assert.equal(t.caught.received.length, 0);
  });

  it('connect without a token is an error that says why; connect of a manual connection starts it', async () => {
    const none = await load({ productSlug: P }, {}, '');
    send(none.in1, { action: 'connect' });
    const [e] = await none.caught.next(1, 5000).catch((x) => { throw new Error('no-token caught: ' + x.message); });
    assert.match(e.error.message, /no token/);
    await helper.unload();
    const manual = await load({ productSlug: P }, { connect: 'manual' });
    await settle(300);
    assert.equal(dc.clients().length, 0, 'manual: not connected before the action');
    send(manual.in1, { action: 'connect' });
    await until(() => manual.broker.connection?.state === 'connected', 5000, 'manual connection started');
    await settle(100);
    await dc.datacakeWrites(`dtck/${P}/d9/X`, '1');
    const [m] = await manual.got.next(1, 5000);
    assert.equal(m.datacake.deviceId, 'd9');
  });
});

describe('datacake-mqtt-out msg.action', () => {
  it('disconnect: writes wait (not lost); connect: they are written; an action message writes nothing', async () => {
    await helper.load(
      nodes,
      <any[]>[{ id: TAB, type: 'tab' }, datacakeBroker(), { id: 'out1', z: TAB, type: 'datacake-mqtt-out', broker: 'b1', productSlug: P, deviceId: 'd1', field: '', qos: '1', rate: 0, wires: [] }, ...watch('out1')],
      { b1: { token: TOKEN } },
    );
    const broker = helper.getNode('b1') as any;
    const out = helper.getNode('out1');
    const w = watched('out1');
    await until(() => broker.connection?.state === 'connected', 5000, 'connected');
    send(out, { action: 'disconnect', payload: { A: 1 } });
    await w.done.next(1, 5000);
    await until(() => broker.connection?.state !== 'connected', 5000, 'disconnected');
    send(out, { payload: { B: 2 } });
    await settle(300);
    assert.equal(dc.writes.length, 0, 'nothing written while disconnected, and the action message wrote nothing');
    send(out, { action: 'connect' });
    await until(() => dc.writes.length === 1, 5000, 'waiting write sent after connect');
    assert.deepEqual(dc.writes.map((x) => [x.topic, x.payload]), [[`dtck-pub/${P}/d1/B`, '2']]);
    send(out, { action: 'nope' });
    const [e] = await w.caught.next(1, 5000);
    assert.match(e.error.message, /Invalid action specified/);
  });
});

describe('broker-bridge msg.action and a datacake-broker side', () => {
  it('a bridge to Datacake through the datacake-broker of the Datacake nodes: one connection for both', async () => {
    await helper.load(
      nodes,
      <any[]>[
        { id: TAB, type: 'tab' },
        { id: 'cs', type: 'mqtt-broker-connection', broker: S.url, clientId: 'act-src', backoffInitial: 0.1, backoffMax: 0.3 },
        datacakeBroker(),
        { id: 'br', z: TAB, type: 'broker-bridge', source: 'cs', target: '', targetDatacake: 'b1', statsInterval: 0, rules: [{ filter: 'plant/+dev/temp', target: `dtck-pub/${P}/{dev}/TEMP` }], wires: [[]] },
        { id: 'in1', z: TAB, type: 'datacake-mqtt-in', broker: 'b1', productSlug: P, deviceId: '+', field: '+', qos: '1', wires: [['got']] },
        { id: 'got', z: TAB, type: 'helper' },
        ...watch('br'),
      ],
      { b1: { token: TOKEN } },
    );
    const broker = helper.getNode('b1') as any;
    const got = collect(helper.getNode('got'));
    await until(() => broker.connection?.state === 'connected' && S.clients().includes('act-src'), 5000, 'both sides up');
    await until(() => /source up, target up/.test(String(lastStatus(helper.getNode('br'))?.text)), 5000, 'bridge status up');
    assert.equal(dc.clients().length, 1, 'one Datacake connection for the bridge and the in-node');
    const dev = await mqtt.connectAsync(S.url, { clientId: 'act-dev' });
    await dev.publishAsync('plant/m7/temp', '21.5', { qos: 1 });
    await until(() => dc.writes.some((x) => x.topic === `dtck-pub/${P}/m7/TEMP` && x.payload === '21.5'), 5000, 'bridged to Datacake');
    const [m] = await got.next(1, 5000);
    assert.deepEqual([m.datacake.deviceId, m.payload], ['m7', 21.5]);

    // disconnect: both connections of the bridge go down and stay down; connect: up again and forwarding
    const br = helper.getNode('br');
    const w = watched('br');
    send(br, { action: 'disconnect' });
    await w.done.next(1, 5000);
    await until(() => !S.clients().includes('act-src') && dc.clients().length === 0, 5000, 'both sides disconnected');
    await settle(1000);
    assert.ok(!S.clients().includes('act-src') && dc.clients().length === 0, 'stays down');
    send(br, { action: 'connect' });
    await w.done.next(2, 5000);
    await until(() => S.clients().includes('act-src') && broker.connection?.state === 'connected', 5000, 'both sides up again');
    await settle(200);
    await dev.publishAsync('plant/m8/temp', '3', { qos: 1 });
    await until(() => dc.writes.some((x) => x.topic === `dtck-pub/${P}/m8/TEMP`), 5000, 'forwarding again');
    send(br, { payload: 'x' });
    send(br, { action: 'subscribe', topic: 'a' });
    const errs = await w.caught.next(2, 5000);
    assert.match(errs[0].error.message, /only msg.action/);
    assert.match(errs[1].error.message, /Invalid action specified/);
    await dev.endAsync();
  });
});

describe('datacake-broker tls-config', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tlsNode = require('@node-red/nodes/core/network/05-tls.js');

  it('mqtts to a broker with its own CA: refused without the tls-config, connected with it', async () => {
    const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'dtck-tls-'));
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { cwd: certs, stdio: 'pipe' });
    sh('openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=dtck-test-ca" -keyout ca.key -out ca.crt');
    sh('openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr');
    fs.writeFileSync(path.join(certs, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
    sh('openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out server.crt -extfile server.ext');
    const { Aedes } = await import('aedes');
    const aedes: any = await Aedes.createBroker();
    const server = tls.createServer({ key: fs.readFileSync(path.join(certs, 'server.key')), cert: fs.readFileSync(path.join(certs, 'server.crt')) }, (s) => aedes.handle(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const load = (withTls: boolean) =>
        helper.load(
          [...nodes, tlsNode],
          <any[]>[
            { id: TAB, type: 'tab' },
            { id: 't1', type: 'tls-config', cert: '', key: '', ca: path.join(certs, 'ca.crt'), verifyservercert: true },
            datacakeBroker({ port, protocol: 'mqtts', verifyCert: true, tls: withTls ? 't1' : '' }),
            { id: 'in1', z: TAB, type: 'datacake-mqtt-in', broker: 'b1', productSlug: P, wires: [[]] },
          ],
          { b1: { token: TOKEN } },
        );
      await load(false);
      const plain = helper.getNode('b1') as any;
      await until(() => /certificate/i.test(plain.connection?.lastError ?? ''), 8000, 'certificate error without the tls-config');
      assert.notEqual(plain.connection.state, 'connected');
      await helper.unload();
      await load(true);
      const withCa = helper.getNode('b1') as any;
      await until(() => withCa.connection?.state === 'connected', 8000, 'connected with the CA of the tls-config');
    } finally {
      await helper.unload();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
      fs.rmSync(certs, { recursive: true, force: true });
    }
  });
});
