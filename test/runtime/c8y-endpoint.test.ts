/**
 * c8y-endpoint, c8y-endpoint-in/-out/-registration in a real Node-RED runtime (node-red-node-test-helper), with
 * MQTT.js clients as devices on real loopback sockets: the device life cycle of the Cumulocity documentation,
 * every refusal, the service account, and redeploys.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { helper, catchNode, collect, TAB, settle } from '../support/flow';
import { loadEndpointFlow } from '../support/endpoint-flow';
import endpointNode = require('../../src/nodes/c8y-endpoint/runtime');
import inNode = require('../../src/nodes/c8y-endpoint-in/runtime');
import outNode = require('../../src/nodes/c8y-endpoint-out/runtime');
import registrationNode = require('../../src/nodes/c8y-endpoint-registration/runtime');
import type { C8yEndpointInOutput } from '../../src/nodes/c8y-endpoint-in/types';
import type { C8yEndpointOutOutput } from '../../src/nodes/c8y-endpoint-out/types';
import type { C8yEndpointNode } from '../../src/nodes/c8y-endpoint/types';

const nodes = [endpointNode, inNode, outNode, registrationNode, catchNode];
const TENANT = 't4711';
const BOOT = { username: 'management/devicebootstrap', password: 'boot-secret' };
const STATIC = { id: 'static-dev', password: 'static-pw-1' };

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function until(fn: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await settle(20);
  }
}

function flow(port: number, extra: Record<string, unknown> = {}) {
  return [
    { id: TAB, type: 'tab' },
    { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: TENANT, bootstrapUser: 'devicebootstrap', serviceUser: 'monitor', ...extra },
    { id: 'in', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'all', wires: [['records']] },
    { id: 'meas', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'measurement', reportErrors: false, wires: [['measurements']] },
    { id: 'out', z: TAB, type: 'c8y-endpoint-out', endpoint: 'ep', wires: [['ops']] },
    { id: 'reg', z: TAB, type: 'c8y-endpoint-registration', endpoint: 'ep', allow: 'auto-*', wires: [['requests']] },
    // One catch node only: node-red-node-test-helper registers the catch type once per catch node in a flow.
    { id: 'c1', z: TAB, type: 'catch', scope: null, wires: [['caught']] },
    { id: 'records', z: TAB, type: 'helper' },
    { id: 'measurements', z: TAB, type: 'helper' },
    { id: 'ops', z: TAB, type: 'helper' },
    { id: 'requests', z: TAB, type: 'helper' },
    { id: 'caught', z: TAB, type: 'helper' },
  ];
}

const CREDS = { ep: { bootstrapPassword: BOOT.password, servicePassword: 'monitor-pw', devices: `${STATIC.id}:${STATIC.password}` } };

let port: number;
let userDir: string;
const clients: MqttClient[] = [];

async function setup(extra: Record<string, unknown> = {}) {
  return loadEndpointFlow(nodes, flow(port, extra), CREDS, port, ['records', 'measurements', 'ops', 'requests', 'caught'] as const);
}

async function connect(opts: IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  clients.push(c);
  return c;
}

/** CONNACK return code of a refused connection. */
async function refusedWith(opts: IClientOptions): Promise<number> {
  try {
    const c = await connect(opts);
    await c.endAsync();
  } catch (err) {
    return (err as { code: number }).code;
  }
  return 0;
}

function inbox(c: MqttClient) {
  const got: { topic: string; payload: string }[] = [];
  c.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  return {
    got,
    async next(topic: string, match: (p: string) => boolean = () => true, timeoutMs = 5000): Promise<string> {
      let found: string | undefined;
      await until(() => (found = got.find((m) => m.topic === topic && match(m.payload))?.payload) !== undefined, timeoutMs, `a message on ${topic}`);
      return found!;
    },
  };
}

const device = (id: string, password = STATIC.password, clientId = id) => ({ clientId, username: `${TENANT}/device_${id}`, password });

before(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-endpoint-test-'));
  port = await freePort();
  helper.settings({ userDir });
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
});
after(async () => {
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  fs.rmSync(userDir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.end(true);
  await helper.unload();
});

describe('c8y-endpoint: device life cycle', () => {
  it('bootstraps a device, accepts it by message, then serves data and operations', async () => {
    const t = await setup();
    // Bootstrap: subscribe s/dcr, poll empty s/ucr until 70 arrives.
    const boot = await connect({ clientId: 'life-1', ...BOOT });
    const bootIn = inbox(boot);
    await boot.subscribeAsync('s/dcr', { qos: 1 });
    let polls = 0;
    const poller = setInterval(() => {
      polls++;
      boot.publish('s/ucr', '', { qos: 1 });
    }, 100);
    try {
      const [request] = await t.requests.next(1);
      assert.equal(request.topic, 'registration/request');
      assert.equal(request.payload.deviceId, 'life-1');
      assert.equal(request.payload.state, 'pending');
      assert.ok(request.payload.firstSeen && request.payload.remoteAddress);
      await settle(300);
      assert.equal(bootIn.got.length, 0, 'nothing is answered before acceptance');
      helper.getNode('reg').receive({ accept: 'life-1' });
      const line = await bootIn.next('s/dcr');
      assert.match(line, new RegExp(`^70,${TENANT},device_life-1,[A-Za-z0-9_-]{20,}$`));
      assert.ok(polls >= 3);
      const topics = (await t.requests.next(3)).map((m) => m.topic);
      assert.deepEqual(topics, ['registration/request', 'registration/accepted', 'registration/registered']);
      assert.equal(t.requests.received[2].payload.password, undefined, 'the password never reaches the flow');
    } finally {
      clearInterval(poller);
    }
    const [, tenant, username, password] = (await bootIn.next('s/dcr')).split(',');
    await boot.endAsync();
    // The registry file holds a salted hash, never the password.
    const file = fs.readFileSync(path.join(userDir, 'c8y-endpoint', 'ep-devices.json'), 'utf8');
    assert.ok(!file.includes(password) && file.includes('device_life-1'));

    // Reconnect with the credentials: 100, 101, 114, then subscribe.
    const dev = await connect({ clientId: 'd:life-1', username: `${tenant}/${username}`, password });
    const devIn = inbox(dev);
    await dev.publishAsync('s/us', '100,Life device,c8y_Test\n101,life-child,Child one\n114,c8y_Restart,c8y_Command', { qos: 1 });
    await dev.subscribeAsync(['s/ds', 's/e'], { qos: 1 });
    await dev.publishAsync('s/us', '123\n105', { qos: 1 });
    const ds = await devIn.next('s/ds', (p) => p.startsWith('124,'));
    assert.match(ds, /^124,\d+\n106,life-child$/);
    const mo = t.server.inventory.get('life-1')!;
    assert.deepEqual([mo.name, mo.type, mo.supportedOperations], ['Life device', 'c8y_Test', ['c8y_Restart', 'c8y_Command']]);
    assert.equal(t.server.inventory.get('life-child')?.parent, 'life-1');

    // Measurements, alarms, events reach c8y-endpoint-in decoded.
    await dev.publishAsync('s/us', '200,c8y_Temperature,T,21.5,C\n301,c8y_DoorAlarm,"Door ""A"" open"\n400,c8y_Tick,tick', { qos: 1 });
    await dev.publishAsync('t/us/life-child', '211,19.5', { qos: 0 });
    const records = (await t.records.next(9)).slice(5) as C8yEndpointInOutput[];
    const [m, a, e, c] = records;
    assert.deepEqual(m.payload, { messageId: 200, fields: ['c8y_Temperature', 'T', '21.5', 'C'], name: 'Create custom measurement', values: { fragment: 'c8y_Temperature', series: 'T', value: 21.5, unit: 'C' } });
    assert.deepEqual([m.device, m.mode, m.tenant, m.topic, m.kind, m.child], ['life-1', 's', TENANT, 's/us', 'measurement', undefined]);
    assert.equal(a.kind, 'alarm');
    assert.equal(a.payload.values?.text, 'Door "A" open');
    assert.equal(e.kind, 'event');
    assert.deepEqual([c.payload.messageId, c.child, c.payload.device, c.mode, c.topic], [211, 'life-child', 'life-child', 't', 't/us/life-child']);
    const meas = await t.measurements.next(2);
    assert.deepEqual(meas.map((x) => x.payload.messageId), [200, 211], 'the filter keeps only measurements');

    // An operation down through c8y-endpoint-out, 501/503 back.
    helper.getNode('out').receive({ device: 'life-1', payload: { messageId: 510, values: {} } });
    assert.equal(await devIn.next('s/ds', (p) => p.startsWith('510')), '510,life-1');
    helper.getNode('out').receive({ device: 'life-1', child: 'life-child', payload: ['511', 'life-child', 'echo "hi"'] });
    assert.equal(await devIn.next('s/ds', (p) => p.startsWith('511')), '511,life-child,"echo \\"hi\\""');
    await dev.publishAsync('s/us', '501,c8y_Restart', { qos: 1 });
    await dev.publishAsync('s/us', '503,c8y_Restart', { qos: 1 });
    await dev.publishAsync('s/us/life-child', '501,c8y_Command\n503,c8y_Command,hi', { qos: 1 });
    const ops = (await t.ops.next(6)) as C8yEndpointOutOutput[];
    assert.deepEqual(
      ops.map((o) => `${o.payload.fragment}:${o.topic}`),
      ['c8y_Restart:operation/PENDING', 'c8y_Command:operation/PENDING', 'c8y_Restart:operation/EXECUTING', 'c8y_Restart:operation/SUCCESSFUL', 'c8y_Command:operation/EXECUTING', 'c8y_Command:operation/SUCCESSFUL'],
    );
    assert.equal(ops[1].child, 'life-child');
    assert.deepEqual(ops[5].payload.parameters, ['hi']);
    const status = t.records.received.filter((r: C8yEndpointInOutput) => r.kind === 'operation-status');
    assert.equal(status.length, 4);
    assert.equal(status[1].operations[0].status, 'SUCCESSFUL');
    assert.equal(t.caught.received.length, 0);
  });

  it('keeps operations PENDING for an offline device and delivers them on subscribe and on 500', async () => {
    const t = await setup();
    helper.getNode('out').receive({ device: STATIC.id, payload: [{ messageId: 510, values: {} }, { messageId: 511, values: { command: 'uptime' } }] });
    const [p1, p2] = await t.ops.next(2);
    assert.deepEqual([p1.payload.status, p2.payload.status], ['PENDING', 'PENDING']);
    const dev = await connect(device(STATIC.id));
    const devIn = inbox(dev);
    await dev.subscribeAsync('s/ds', { qos: 1 });
    assert.equal(await devIn.next('s/ds'), `510,${STATIC.id}\n511,${STATIC.id},uptime`);
    await dev.publishAsync('s/us', '501,c8y_Restart', { qos: 1 });
    devIn.got.length = 0;
    await dev.publishAsync('s/us', '500', { qos: 1 });
    assert.equal(await devIn.next('s/ds'), `511,${STATIC.id},uptime`, '500 re-delivers only what is still PENDING');
    // 504-506 by id, 507 fails all EXECUTING.
    await dev.publishAsync('s/us', `504,${p2.payload.id}\n507,,agent restarted`, { qos: 1 });
    const changes = await t.ops.next(5);
    assert.deepEqual(changes.slice(2).map((o) => `${o.payload.id}:${o.payload.status}`), [`${p1.payload.id}:EXECUTING`, `${p2.payload.id}:EXECUTING`, `${p1.payload.id}:FAILED`]);
    await until(() => t.ops.received.length === 6);
    assert.equal(t.ops.received[5].payload.failureReason, 'agent restarted');
  });

  it('answers 600/602, accepts s/ut template collections and decodes s/uc with them', async () => {
    const t = await setup();
    const dev = await connect(device(STATIC.id, STATIC.password, `d:${STATIC.id}:myXid`));
    const devIn = inbox(dev);
    await dev.subscribeAsync(['s/ds', 's/dt', 's/e'], { qos: 1 });
    await dev.publishAsync('s/us', '600\n602', { qos: 1 });
    const caps = await devIn.next('s/ds');
    assert.match(caps, /^601,.+\n603,100,101,/);
    await dev.publishAsync('s/ut/myXid', '', { qos: 1 });
    assert.equal(await devIn.next('s/dt'), '41,myXid');
    await dev.publishAsync('s/ut/myXid', '10,999,POST,MEASUREMENT,,c8y_MyMeasurement,,extra', { qos: 1 });
    assert.match(await devIn.next('s/e'), /^41,,Template creation error: .*path,type,value triples/);
    await dev.publishAsync('s/ut/myXid', '10,999,POST,MEASUREMENT,,c8y_MyMeasurement,,c8y_MyMeasurement.M.value,NUMBER,', { qos: 1 });
    assert.match(await devIn.next('s/dt', (p) => p.startsWith('20')), /^20,myXid,\d+$/);
    await dev.publishAsync('s/uc/myXid', '999,,42', { qos: 1 });
    await dev.publishAsync('s/ud', '999,,43', { qos: 1 });
    const [r1, r2] = (await t.records.next(4)).slice(2) as C8yEndpointInOutput[];
    assert.deepEqual([r1.kind, r1.payload.messageId, r1.payload.values?.['c8y_MyMeasurement.M.value']], ['custom', 999, 42]);
    assert.deepEqual([r2.topic, r2.payload.values?.['c8y_MyMeasurement.M.value']], ['s/ud', 43]);
  });

  it('renders named custom operations for s/dc/<X-ID> with the response templates the device registered', async () => {
    const t = await setup();
    const dev = await connect(device(STATIC.id));
    const devIn = inbox(dev);
    await dev.subscribeAsync(['s/dt', 's/dc/opsXid'], { qos: 1 });
    await dev.publishAsync('s/ut/opsXid', '11,dm101,c8y_Command,,c8y_Command.text\n11,dm102,c8y_Relay,,c8y_Relay.state,c8y_Relay.when', { qos: 1 });
    assert.match(await devIn.next('s/dt', (p) => p.startsWith('20')), /^20,opsXid,\d+$/);
    helper.getNode('out').receive({ device: STATIC.id, xid: 'opsXid', payload: [{ messageId: 'dm101', values: { 'c8y_Command.text': 'ls -l, /tmp' } }, ['dm102', STATIC.id, 'OPEN', 'now']] });
    const line = await devIn.next('s/dc/opsXid');
    assert.equal(line, `dm101,${STATIC.id},"ls -l, /tmp"\ndm102,${STATIC.id},OPEN,now`);
    const created = (await t.ops.next(2)).map((m) => m.payload);
    assert.deepEqual(created.map((o: any) => [o.fragment, o.status]), [['c8y_Command', 'PENDING'], ['c8y_Relay', 'PENDING']]);
    // a named record with a value the template does not know fails the message (Catch), nothing is sent
    helper.getNode('out').receive({ device: STATIC.id, xid: 'opsXid', payload: { messageId: 'dm101', values: { nope: 1 } } });
    const [err] = await t.caught.next(1);
    assert.match(err.error.message, /nope|unknown/i);
  });

  it('lets the service account see every device under devices/<id>/ and reach one by publishing there', async () => {
    await setup();
    const mon = await connect({ clientId: 'monitor-1', username: `${TENANT}/monitor`, password: 'monitor-pw' });
    const monIn = inbox(mon);
    await mon.subscribeAsync('devices/+/s/#', { qos: 1 });
    const dev = await connect(device(STATIC.id));
    const devIn = inbox(dev);
    await dev.subscribeAsync('s/ds', { qos: 1 });
    await dev.publishAsync('s/us', '211,22.5', { qos: 1 });
    assert.equal(await monIn.next(`devices/${STATIC.id}/s/us`), '211,22.5');
    await mon.publishAsync(`devices/${STATIC.id}/s/ds`, `510,${STATIC.id}`, { qos: 1 });
    assert.equal(await devIn.next('s/ds'), `510,${STATIC.id}`);
    // The service account may not subscribe outside its namespace.
    const granted = await mon.subscribeAsync('s/us').catch((err) => err.packet.granted);
    assert.deepEqual(granted, [128]);
    assert.equal(await refusedWith({ clientId: 'monitor-2', username: `${TENANT}/monitor`, password: 'nope' }), 4);
  });

  it('auto-accepts devices that match the allow-list', async () => {
    const t = await setup();
    const boot = await connect({ clientId: 'auto-7', ...BOOT });
    const bootIn = inbox(boot);
    await boot.subscribeAsync('s/dcr', { qos: 1 });
    await boot.publishAsync('s/ucr', '', { qos: 1 });
    assert.match(await bootIn.next('s/dcr'), /^70,t4711,device_auto-7,/);
    assert.deepEqual((await t.requests.next(2)).map((m) => m.topic), ['registration/request', 'registration/registered']);
  });
});

describe('c8y-endpoint: refusals', () => {
  it('refuses a wrong password (4), a missing password (5), a ":" in the device id (2), an empty ClientId (2), a persistent session (2)', async () => {
    await setup();
    assert.equal(await refusedWith(device(STATIC.id, 'wrong')), 4);
    assert.equal(await refusedWith({ clientId: STATIC.id, username: `other-tenant/device_${STATIC.id}`, password: STATIC.password }), 4);
    assert.equal(await refusedWith({ clientId: STATIC.id }), 5);
    assert.equal(await refusedWith({ ...BOOT, password: 'nope', clientId: 'x1' }), 4);
    assert.equal(await refusedWith({ ...device(STATIC.id), clientId: 'x:static-dev' }), 2);
    assert.equal(await refusedWith({ ...device(STATIC.id), clientId: 'd:a:b:c' }), 2);
    assert.equal(await refusedWith({ ...device(STATIC.id), clientId: '' }), 2);
    assert.equal(await refusedWith({ ...device(STATIC.id), clean: false }), 2);
    assert.equal(await refusedWith({ ...device(STATIC.id), clientId: 'someone-else' }), 5);
    assert.equal(await refusedWith({ ...device(STATIC.id), protocolVersion: 5 }), 1);
    assert.equal(await refusedWith(device(STATIC.id)), 0);
  });

  it('refuses data from the bootstrap user and subscriptions to upstream topics', async () => {
    const t = await setup();
    const boot = await connect({ clientId: 'boot-x', ...BOOT });
    const bootIn = inbox(boot);
    await boot.subscribeAsync('s/e', { qos: 1 });
    assert.deepEqual(await boot.subscribeAsync('s/ds').catch((err) => err.packet.granted), [128]);
    await boot.publishAsync('s/us', '211,20', { qos: 1 });
    assert.match(await bootIn.next('s/e'), /^41,,the bootstrap user may only publish to s\/ucr/);
    assert.ok(boot.connected, 'a refused publish does not close the connection');
    const dev = await connect(device(STATIC.id));
    for (const topic of ['s/us', 's/#', '#', 'devices/+/s/us', 's/dc/+']) {
      assert.deepEqual(await dev.subscribeAsync(topic).catch((err) => err.packet.granted), [128], topic);
    }
    const ok = await dev.subscribeAsync(['s/ds', 's/e', 's/dt', 's/dc/x1', 's/dd', 's/dat']);
    assert.deepEqual(ok.map((g) => g.qos), [0, 0, 0, 0, 0, 0]);
    const devIn = inbox(dev);
    await dev.publishAsync('s/ds', '510,x', { qos: 1 });
    assert.match(await devIn.next('s/e'), /^41,,devices may only publish to upstream topics/);
    await settle(100);
    assert.equal(t.records.received.length, 0);
  });

  it('refuses an oversize payload, malformed CSV and unknown templates with s/e lines and Catch-able errors', async () => {
    const t = await setup();
    const dev = await connect(device(STATIC.id));
    const devIn = inbox(dev);
    await dev.subscribeAsync('s/e', { qos: 1 });
    await dev.publishAsync('s/us', '400,c8y_Big,' + 'x'.repeat(16200), { qos: 1 });
    assert.match(await devIn.next('s/e'), /^41,,message of 16212 bytes on s\/us exceeds the limit of 16184 bytes/);
    await dev.publishAsync('s/us', '211,20\n301,"unterminated', { qos: 1 });
    assert.match(await devIn.next('s/e', (p) => p.startsWith('45')), /^45,,malformed SmartREST: record 2 .*unterminated quote/);
    await dev.publishAsync('s/us', '999,x,y', { qos: 1 });
    assert.equal(await devIn.next('s/e', (p) => p.startsWith('40')), '40,999,No static template for this message id');
    await dev.publishAsync('s/us', '200,c8y_T,T,abc', { qos: 1 });
    assert.match(await devIn.next('s/e', (p) => p.startsWith('45,200')), /^45,200,value: /);
    await dev.publishAsync('s/us', '503,c8y_Nothing', { qos: 1 });
    assert.match(await devIn.next('s/e', (p) => p.startsWith('41,503')), /no EXECUTING operation with fragment c8y_Nothing/);
    const caught = await t.caught.next(5);
    assert.deepEqual(caught.map((m) => m.smartrestError.code), [41, 45, 40, 45, 41]);
    assert.equal(caught[2].device, STATIC.id);
    assert.equal(caught[2].topic, 's/us');
    assert.match(caught[2].error.message, /40,999,No static template/);
    assert.equal(caught[0].error.source.id, 'in');
    // The good record of the malformed payload still arrived; the endpoint keeps running.
    assert.deepEqual(t.records.received.map((r: C8yEndpointInOutput) => r.payload.messageId), [211, 503]);
    assert.ok(dev.connected);
  });

  it('fails bad out/registration input with done(err)', async () => {
    const t = await setup();
    helper.getNode('out').receive({ payload: { messageId: 510, values: {} } });
    helper.getNode('out').receive({ device: 'a', payload: { messageId: 200, values: { fragment: 'f', series: 's', value: 1 } } });
    helper.getNode('out').receive({ device: 'a', payload: ['510', 'b'] });
    helper.getNode('reg').receive({ payload: 'nothing' });
    helper.getNode('reg').receive({ accept: 'a:b' });
    const errs = (await t.caught.next(5)).map((m) => m.error.message);
    assert.match(errs[0], /msg.device must name the device/);
    assert.match(errs[1], /not a downstream operation template/);
    assert.match(errs[2], /targets "b", but the message addresses "a"/);
    assert.match(errs[3], /expected msg.accept, msg.reject or msg.reset/);
    assert.match(errs[4], /contains ":"/);
  });

  it('keeps one connection per device id: a new one replaces the old', async () => {
    const t = await setup();
    const first = await connect(device(STATIC.id));
    const closed = new Promise<void>((r) => first.once('close', () => r()));
    const second = await connect(device(STATIC.id, STATIC.password, `d:${STATIC.id}`));
    await closed;
    assert.ok(second.connected);
    assert.deepEqual(t.server.connectedDevices(), [STATIC.id]);
    // Last will: delivered as the device's own publish when the connection is lost.
    const third = await connect({ ...device(STATIC.id), will: { topic: 's/us', payload: Buffer.from('400,c8y_ConnectionEvent,"Device connection was lost."'), qos: 1, retain: false } });
    third.stream.destroy();
    const [will] = await t.records.next(1);
    assert.deepEqual([will.payload.messageId, will.payload.values.text], [400, 'Device connection was lost.']);
  });
});

describe('c8y-endpoint: redeploy', () => {
  it('frees the port and leaves no client connected across unload/load, and keeps registered devices', async () => {
    for (let round = 0; round < 2; round++) {
      const t = await setup();
      const dev = await connect(device(STATIC.id));
      const auto = await connect({ clientId: `auto-r${round}`, ...BOOT });
      await auto.subscribeAsync('s/dcr', { qos: 1 });
      const autoIn = inbox(auto);
      await auto.publishAsync('s/ucr', '', { qos: 1 });
      const [, , user, pw] = (await autoIn.next('s/dcr')).split(',');
      await auto.endAsync();
      assert.equal(t.server.clientCounts().devices, 1);
      const gone = new Promise<void>((r) => dev.once('close', () => r()));
      const t0 = Date.now();
      await helper.unload();
      assert.ok(Date.now() - t0 < 5000, 'close is quick');
      await gone;
      // The port is free at once.
      const probe = net.createServer();
      await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
      await new Promise<void>((r) => probe.close(() => r()));
      // The registered device survives the restart (registry file under the user dir).
      await setup();
      const again = await connect({ clientId: `auto-r${round}`, username: `${TENANT}/${user}`, password: pw });
      assert.ok(again.connected);
      await helper.unload();
    }
  });

  it('shares one server between several nodes and stops it after the last user leaves', async () => {
    const t = await setup();
    const ep = t.ep;
    const server = ep.server()!;
    // c8y-endpoint-in nodes, out and registration all use the same instance.
    assert.equal(helper.getNode('in') !== undefined && helper.getNode('meas') !== undefined, true);
    const dev = await connect(device(STATIC.id));
    assert.ok(dev.connected);
    assert.equal(server.clientCounts().devices, 1);
  });
});

describe('c8y-endpoint: port in use', () => {
  it('says which port is taken and what to change, in the status and one log line, and starts once the port is free', async () => {
    // something else (say a mosquitto) already listens on the endpoint's port
    const other = net.createServer();
    await new Promise<void>((r) => other.listen(port, '127.0.0.1', () => r()));
    try {
      await helper.load(nodes as never, flow(port) as never, CREDS as never);
      const ep = helper.getNode('ep') as unknown as C8yEndpointNode & { error(m: string): void };
      const errors: string[] = [];
      ep.error = (m: string) => void errors.push(m);
      const statuses: { text?: string }[] = [];
      const n = helper.getNode('in') as unknown as { status(s: { text?: string }): void };
      const original = n.status.bind(n);
      n.status = (st) => (statuses.push(st), original(st));
      const logged = () => (helper.log().args as { level: number; msg: unknown }[][]).map((a) => String(a[0]?.msg));
      await until(() => statuses.some((st) => st.text === `port ${port} in use: change the port`), 10_000, 'the port-in-use status');
      await until(() => [...errors, ...logged()].some((m) => m.includes(`port ${port} is in use (another broker, e.g. mosquitto?): give this c8y-endpoint and its devices another port`)), 10_000, 'the log line');
      assert.equal(ep.server(), undefined);
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
    // a busy port is retried: once it is free the endpoint starts by itself
    const ep = helper.getNode('ep') as unknown as C8yEndpointNode;
    await until(() => ep.server()?.addresses.mqtt === port, 20_000, 'the endpoint listening after the port was freed');
  });
});

describe('c8y-endpoint: transports and limits', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tlsNode = require('@node-red/nodes/core/network/05-tls.js');
  let certs: string;
  const pem = (name: string) => fs.readFileSync(path.join(certs, name));

  before(() => {
    // A CA, a server certificate for 127.0.0.1, client certificates with CN = a device id (and one from a CA the
    // endpoint does not trust), made with Debian's openssl.
    certs = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-certs-'));
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { cwd: certs, stdio: 'pipe' });
    sh('openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test-ca" -keyout ca.key -out ca.crt');
    sh('openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other-ca" -keyout other-ca.key -out other-ca.crt');
    const leaf = (name: string, cn: string, ca = 'ca', ext = '') => {
      sh(`openssl req -newkey rsa:2048 -nodes -subj "/CN=${cn}" -keyout ${name}.key -out ${name}.csr`);
      if (ext) fs.writeFileSync(path.join(certs, `${name}.ext`), ext);
      sh(`openssl x509 -req -in ${name}.csr -CA ${ca}.crt -CAkey ${ca}.key -CAcreateserial -days 2 -out ${name}.crt${ext ? ` -extfile ${name}.ext` : ''}`);
    };
    leaf('server', '127.0.0.1', 'ca', 'subjectAltName=IP:127.0.0.1\n');
    leaf('dev', 'cert-dev');
    leaf('wrong', 'someone-else');
    leaf('stranger', 'cert-dev', 'other-ca');
  });
  after(() => fs.rmSync(certs, { recursive: true, force: true }));

  async function tlsSetup() {
    const tlsPort = await freePort();
    const f = flow(port, { usetls: true, tls: 'tlsconf', tlsPort });
    f.push({ id: 'tlsconf', type: 'tls-config', cert: path.join(certs, 'server.crt'), key: path.join(certs, 'server.key'), ca: path.join(certs, 'ca.crt'), verifyservercert: false } as never);
    await helper.load([...nodes, tlsNode], f, CREDS);
    const ep = helper.getNode('ep') as unknown as C8yEndpointNode;
    await until(() => ep.server()?.addresses.tls === tlsPort, 5000, 'TLS listener');
    const records = collect(helper.getNode('records'));
    const open = async (opts: IClientOptions) => {
      const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { reconnectPeriod: 0, connectTimeout: 5000, ca: pem('ca.crt'), ...opts });
      clients.push(c);
      return c;
    };
    const code = async (opts: IClientOptions) => {
      try {
        const c = await open(opts);
        await c.endAsync();
        return 0;
      } catch (err) {
        return (err as { code: number }).code;
      }
    };
    return { records, open, code };
  }

  it('TLS with client certificates: CN = device id logs in without a password, the certificate wins, another CN is refused (5)', async () => {
    const t = await tlsSetup();
    const dev = await t.open({ clientId: 'd:cert-dev', cert: pem('dev.crt'), key: pem('dev.key') });
    await dev.publishAsync('s/us', '211,20.5', { qos: 1 });
    await until(() => t.records.received.some((m) => m.device === 'cert-dev' && m.payload.messageId === 211), 5000, 'record over TLS');
    await dev.endAsync();
    // a verified certificate wins over a (wrong) password
    assert.equal(await t.code({ clientId: 'd:cert-dev', cert: pem('dev.crt'), key: pem('dev.key'), username: `${TENANT}/device_cert-dev`, password: 'wrong' }), 0);
    // a certificate for another name
    assert.equal(await t.code({ clientId: 'd:cert-dev', cert: pem('wrong.crt'), key: pem('wrong.key') }), 5);
    // a certificate from a CA the endpoint does not trust counts for nothing: password login as usual
    assert.equal(await t.code({ clientId: 'd:cert-dev', cert: pem('stranger.crt'), key: pem('stranger.key') }), 5);
    assert.equal(await t.code({ ...device(STATIC.id), cert: pem('stranger.crt'), key: pem('stranger.key') }), 0);
    // and password devices over TLS without a certificate
    assert.equal(await t.code(device(STATIC.id)), 0);
  });

  it('MQTT over WebSocket on /mqtt (and nowhere else)', async () => {
    const wsPort = await freePort();
    await helper.load(nodes, flow(port, { usews: true, wsPort }), CREDS);
    const ep = helper.getNode('ep') as unknown as C8yEndpointNode;
    await until(() => ep.server()?.addresses.ws === wsPort, 5000, 'WebSocket listener');
    const records = collect(helper.getNode('records'));
    const c = await mqtt.connectAsync(`ws://127.0.0.1:${wsPort}/mqtt`, { reconnectPeriod: 0, connectTimeout: 5000, ...device(STATIC.id) });
    clients.push(c);
    await c.publishAsync('s/us', '211,19', { qos: 1 });
    await until(() => records.received.some((m) => m.device === STATIC.id && m.payload.messageId === 211), 5000, 'record over WebSocket');
    // Another path: the WebSocket upgrade itself is refused (MQTT.js would only wait for a CONNACK, so ws directly).
    const { WebSocket } = require('ws') as typeof import('ws');
    const refused = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/other`, 'mqtt');
      ws.on('unexpected-response', (_req, res) => (resolve(res.statusCode ?? 0), ws.terminate()));
      ws.on('open', () => (resolve('open'), ws.terminate()));
      ws.on('error', () => resolve('error'));
    });
    assert.notEqual(refused, 'open', 'no MQTT over WebSocket outside /mqtt');
  });

  it('a packet far over the limit ends its connection before it is read; others go on', async () => {
    const t = await setup();
    const good = await connect(device(STATIC.id));
    // A raw CONNECT as a second device id, then a PUBLISH header announcing 50 MB: closed at once.
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const { generate } = require('mqtt-packet') as { generate(p: object): Buffer };
    sock.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'big-dev', keepalive: 60, username: `${TENANT}/device_big-dev`, password: Buffer.from('x') }));
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    // remaining length 50,000,000 as a variable byte integer, then a little of the body
    const len = [0x80 | (50_000_000 & 0x7f), 0x80 | ((50_000_000 >> 7) & 0x7f), 0x80 | ((50_000_000 >> 14) & 0x7f), (50_000_000 >> 21) & 0x7f];
    sock.write(Buffer.from([0x30, ...len, 0, 4, 0x73, 0x2f, 0x75, 0x73]));
    await closed;
    await good.publishAsync('s/us', '211,18', { qos: 1 });
    await until(() => t.measurements.received.some((m) => m.device === STATIC.id), 3000, 'the other device still served');
  });

  it('the service account never sees the credentials issued on s/dcr', async () => {
    await setup();
    const monitor = await connect({ clientId: 'monitor-1', username: `${TENANT}/monitor`, password: 'monitor-pw' });
    const seen = inbox(monitor);
    await monitor.subscribeAsync('devices/#', { qos: 1 });
    const boot = await connect({ clientId: 'auto-svc', ...BOOT });
    const bootIn = inbox(boot);
    await boot.subscribeAsync('s/dcr', { qos: 1 });
    const poller = setInterval(() => boot.publish('s/ucr', '', { qos: 1 }), 100);
    try {
      const line = await bootIn.next('s/dcr');
      assert.match(line, /^70,/);
    } finally {
      clearInterval(poller);
    }
    await settle(300);
    assert.ok(seen.got.some((m) => m.topic === 'devices/auto-svc/s/ucr'), 'the service account sees the device traffic');
    assert.ok(!seen.got.some((m) => m.topic.endsWith('/s/dcr')), `no s/dcr copy: ${JSON.stringify(seen.got.map((m) => m.topic))}`);
  });
});
