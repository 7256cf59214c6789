/**
 * c8y-endpoint durability and availability in a real Node-RED runtime (node-red-node-test-helper) with MQTT.js
 * devices on loopback: operations that survive a full deploy and a restart of Node-RED (a new runtime on the same
 * user dir), ids that never repeat, dropped operations reported FAILED, and the availability filter.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { helper, collect, TAB } from '../support/flow';
import { freePort, until } from '../support/broker';
import endpointNode = require('../../src/nodes/c8y-endpoint/runtime');
import inNode = require('../../src/nodes/c8y-endpoint-in/runtime');
import outNode = require('../../src/nodes/c8y-endpoint-out/runtime');
import { INVENTORY_LIMITS } from '../../src/endpoint/inventory';
import type { C8yEndpointNode } from '../../src/nodes/c8y-endpoint/types';
import type { C8yEndpointInAvailabilityOutput } from '../../src/nodes/c8y-endpoint-in/types';
import type { C8yEndpointOutOutput } from '../../src/nodes/c8y-endpoint-out/types';

const nodes = [endpointNode, inNode, outNode];
const TENANT = 't4711';
const DEV = { id: 'dur-dev', password: 'dur-pw-1' };
const OTHER = { id: 'dur-other', password: 'dur-pw-2' };

let port: number;
let userDir: string;
const clients: MqttClient[] = [];

function flow() {
  return [
    { id: TAB, type: 'tab' },
    { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: TENANT, bootstrapUser: 'devicebootstrap', serviceUser: '' },
    { id: 'in', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'all', reportErrors: false, wires: [['records']] },
    { id: 'avail', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'availability', reportErrors: false, wires: [['changes']] },
    { id: 'out', z: TAB, type: 'c8y-endpoint-out', endpoint: 'ep', wires: [['ops']] },
    { id: 'records', z: TAB, type: 'helper' },
    { id: 'changes', z: TAB, type: 'helper' },
    { id: 'ops', z: TAB, type: 'helper' },
  ];
}

const devices = (...list: { id: string; password: string }[]) => ({ ep: { devices: list.map((d) => `${d.id}:${d.password}`).join(' ') } });

/** A full deploy of the flow (every node new); `creds` are the endpoint's Devices. */
async function deploy(creds = devices(DEV, OTHER)) {
  await helper.load(nodes, flow(), creds);
  const ep = helper.getNode('ep') as unknown as C8yEndpointNode;
  // Collectors first: the endpoint reports dropped operations as soon as it listens.
  const got = { records: collect(helper.getNode('records')), changes: collect(helper.getNode('changes')), ops: collect(helper.getNode('ops')) };
  await until(() => ep.server()?.addresses.mqtt === port, 10_000, 'endpoint listening');
  return { ep, server: ep.server()!, ...got };
}

/** Stop this runtime and start a new one on the same user dir: what a restart of Node-RED does. */
async function restartRuntime() {
  await helper.unload();
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  helper.settings({ userDir });
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
}

async function connect(d: { id: string; password: string }, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: d.id, username: `${TENANT}/device_${d.id}`, password: d.password, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  clients.push(c);
  return c;
}

function inbox(c: MqttClient) {
  const got: string[] = [];
  c.on('message', (topic, payload) => got.push(`${topic}|${payload.toString()}`));
  return got;
}

const opMessages = (ops: { received: C8yEndpointOutOutput[] }) => ops.received.map((m) => `${m.operationId}:${m.topic}`);

before(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-endpoint-dur-'));
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
  fs.rmSync(path.join(userDir, 'c8y-endpoint'), { recursive: true, force: true });
});

describe('c8y-endpoint: durable operations', () => {
  it('keeps PENDING and EXECUTING operations across a full deploy; the out node reports their changes', async () => {
    let t = await deploy();
    // Two operations while the device is offline: PENDING.
    helper.getNode('out').receive({ device: DEV.id, payload: { messageId: 510, values: {} } });
    helper.getNode('out').receive({ device: DEV.id, payload: { messageId: 511, values: { command: 'uptime' } } });
    const [restart, command] = (await t.ops.next(2)) as C8yEndpointOutOutput[];
    assert.deepEqual([restart.topic, command.topic], ['operation/PENDING', 'operation/PENDING']);
    // The device takes the restart (EXECUTING), then goes away.
    let dev = await connect(DEV);
    let got = inbox(dev);
    await dev.subscribeAsync('s/ds', { qos: 1 });
    await until(() => got.length >= 1, 5000, 'pending lines delivered');
    await dev.publishAsync('s/us', '501,c8y_Restart', { qos: 1 });
    await until(() => t.ops.received.length === 3, 5000, 'EXECUTING reported');
    await dev.endAsync();

    // Full deploy: every node is new, the endpoint restarts.
    await helper.unload();
    t = await deploy();
    dev = await connect(DEV);
    got = inbox(dev);
    await dev.subscribeAsync('s/ds', { qos: 1 });
    // The PENDING command is delivered again; the EXECUTING restart can still be finished.
    await until(() => got.some((m) => m === 's/ds|511,dur-dev,uptime'), 5000, 'PENDING command after the deploy');
    await dev.publishAsync('s/us', '503,c8y_Restart\n504,' + command.operationId + '\n506,' + command.operationId + ',up 3 days', { qos: 1 });
    await until(() => t.ops.received.length === 3, 5000, 'changes of restored operations reported');
    assert.deepEqual(opMessages(t.ops), [`${restart.operationId}:operation/SUCCESSFUL`, `${command.operationId}:operation/EXECUTING`, `${command.operationId}:operation/SUCCESSFUL`]);
    assert.deepEqual(t.ops.received[2].payload.parameters, ['up 3 days']);
    // The file beside the registry holds only open operations now, and is private.
    const file = path.join(userDir, 'c8y-endpoint', 'ep-operations.json');
    await until(() => Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).records).length === 0, 5000, 'finished operations leave the file');
    assert.equal((fs.statSync(file).mode & 0o777).toString(8), '600');
  });

  it('keeps operations and never repeats an id across a restart of Node-RED', async () => {
    let t = await deploy();
    const before: string[] = [];
    for (let i = 0; i < 5; i++) helper.getNode('out').receive({ device: OTHER.id, payload: { messageId: 510, values: {} } });
    for (const m of (await t.ops.next(5)) as C8yEndpointOutOutput[]) before.push(m.operationId);
    await restartRuntime();
    t = await deploy();
    assert.deepEqual(t.server.operations.pending(OTHER.id).map((o) => o.id), before, 'the same PENDING operations, in order');
    helper.getNode('out').receive({ device: OTHER.id, payload: { messageId: 510, values: {} } });
    const [fresh] = (await t.ops.next(1)) as C8yEndpointOutOutput[];
    assert.ok(!before.includes(fresh.operationId));
    assert.ok(Number(fresh.operationId) > Number(before[4]), `${fresh.operationId} after ${before[4]}`);
    // The device still gets all six after the restart, with one 500.
    const dev = await connect(OTHER);
    const got = inbox(dev);
    await dev.subscribeAsync('s/ds', { qos: 1 });
    await until(() => got.join('\n').split('510,dur-other').length - 1 === 6, 5000, 'six restart lines');
  });

  it('reports operations of a device removed from Devices as FAILED with a reason after the deploy', async () => {
    let t = await deploy();
    helper.getNode('out').receive({ device: OTHER.id, payload: { messageId: 510, values: {} } });
    const [op] = (await t.ops.next(1)) as C8yEndpointOutOutput[];
    await helper.unload();
    t = await deploy(devices(DEV));
    const [failed] = (await t.ops.next(1)) as C8yEndpointOutOutput[];
    assert.equal(failed.operationId, op.operationId);
    assert.equal(failed.topic, 'operation/FAILED');
    assert.equal(failed.payload.failureReason, `dropped: device ${OTHER.id} was removed`);
    assert.equal(t.server.operations.pending(OTHER.id).length, 0);
    // Also in the log (what remains when the out node is gone too).
    const warnings = () => (helper.log().args as { level: number; msg: unknown }[][]).map((a) => a[0]).filter((e) => /stored operation/.test(String(e?.msg)));
    await until(() => warnings().length === 1, 5000, 'a warning in the log');
    assert.match(String(warnings()[0].msg), /1 stored operation dropped \(FAILED\): dropped: device dur-other was removed/);
  });

  it('refuses to start on a broken operations file and says which file, instead of forgetting operations', async () => {
    fs.mkdirSync(path.join(userDir, 'c8y-endpoint'), { recursive: true });
    fs.writeFileSync(path.join(userDir, 'c8y-endpoint', 'ep-operations.json'), '{"version":1,"records":{');
    await helper.load(nodes, flow(), devices(DEV));
    const ep = helper.getNode('ep') as unknown as C8yEndpointNode;
    const errors: string[] = [];
    const statuses: { text?: string }[] = [];
    const inNodeStatus = helper.getNode('in') as unknown as { status(s: { text?: string }): void };
    const original = inNodeStatus.status.bind(inNodeStatus);
    inNodeStatus.status = (s) => (statuses.push(s), original(s));
    (ep as unknown as { error(m: string): void }).error = (m: string) => void errors.push(m);
    await until(() => statuses.some((s) => /not valid JSON/.test(s.text ?? '')) || errors.length > 0, 10_000, 'a start error');
    assert.equal(ep.server(), undefined);
  });
});

describe('c8y-endpoint: availability', () => {
  it('sends CONNECTED and DISCONNECTED with the reason, once per change, and keeps c8y_Connection', async () => {
    const t = await deploy();
    const states = () => (t.changes.received as C8yEndpointInAvailabilityOutput[]).map((m) => `${m.device}:${m.payload.state}:${m.payload.reason}`);
    const a = await connect(DEV);
    await a.publishAsync('s/us', '100,Dur,c8y_Test', { qos: 1 });
    await until(() => states().length === 1, 5000, 'CONNECTED');
    // A second connection of the same device replaces the first: no DISCONNECTED.
    const b = await connect(DEV, { clientId: `d:${DEV.id}` });
    await until(() => a.disconnected || !a.connected, 5000, 'first connection closed');
    await b.endAsync();
    await until(() => states().length === 2, 5000, 'DISCONNECTED');
    const c = await connect(DEV, { will: { topic: 's/us', payload: Buffer.from('400,c8y_ConnectionEvent,"lost"'), qos: 1, retain: false } });
    await until(() => states().length === 3, 5000, 'CONNECTED again');
    c.stream.destroy();
    await until(() => states().length === 4, 5000, 'connection lost');
    const d = await connect(DEV);
    d.stream.destroy();
    await until(() => states().length === 6, 5000, 'lost without will');
    assert.deepEqual(states(), [
      `${DEV.id}:CONNECTED:connected`,
      `${DEV.id}:DISCONNECTED:disconnected`,
      `${DEV.id}:CONNECTED:connected`,
      `${DEV.id}:DISCONNECTED:connection lost, last will sent`,
      `${DEV.id}:CONNECTED:connected`,
      `${DEV.id}:DISCONNECTED:connection lost`,
    ]);
    const m = t.changes.received[0] as C8yEndpointInAvailabilityOutput;
    assert.deepEqual([m.topic, m.kind, m.tenant], ['availability/CONNECTED', 'availability', TENANT]);
    assert.deepEqual(t.server.inventory.get(DEV.id)?.c8y_Connection, { status: 'DISCONNECTED' });
    // The records filter never sees availability messages, the availability filter never sees records.
    assert.ok(t.records.received.length >= 1 && t.records.received.every((r: { kind: string }) => r.kind !== 'availability'));
     // The one sweep timer stops with the endpoint (a deploy leaks no timer).
    assert.equal(t.server.availability.running, true);
    await helper.unload();
    assert.equal(t.server.availability.running, false);
  });

  it('a device that sets intervals for endless children cannot grow the tracker beyond the inventory bound', async () => {
    const t = await deploy();
    const dev = await connect(DEV);
    const got = inbox(dev);
    await dev.subscribeAsync('s/e', { qos: 1 });
    const n = INVENTORY_LIMITS.childrenPerDevice + 20;
    for (let i = 0; i < n; i++) dev.publish(`s/us/kid-${i}`, '117,1', { qos: 0 });
    await dev.publishAsync('s/us', '117,abc\n117,99999999999', { qos: 1 });
    await until(() => got.filter((m) => m.startsWith('s/e|41,')).length >= 20, 20_000, 'children beyond the bound refused');
    await until(() => got.some((m) => m.startsWith('s/e|45,117')), 5000, 'a bad interval refused');
    assert.ok(t.server.availability.size <= INVENTORY_LIMITS.childrenPerDevice + 1, `tracked ${t.server.availability.size}`);
    assert.equal(t.server.availability.state(DEV.id)?.intervalMinutes, 366 * 24 * 60, 'an absurd interval is capped at a year');
  });

  it('turns UNAVAILABLE when the required interval (117) passes, AVAILABLE on the next message, also after a restart', async () => {
    let t = await deploy();
    const inStatus: string[] = [];
    const watchStatus = () => {
      const n = helper.getNode('in') as unknown as { status(s: { text?: string }): void };
      const original = n.status.bind(n);
      n.status = (s) => (inStatus.push(s.text ?? ''), original(s));
    };
    watchStatus();
    const states = () => (t.changes.received as C8yEndpointInAvailabilityOutput[]).filter((m) => m.payload.state === 'AVAILABLE' || m.payload.state === 'UNAVAILABLE').map((m) => `${m.device}:${m.payload.state}`);
    const dev = await connect(DEV);
    await dev.publishAsync('s/us', '117,2\n101,dur-child,Child\n', { qos: 1 });
    await dev.publishAsync('s/us/dur-child', '117,5', { qos: 1 });
    await until(() => states().length === 2, 5000, 'AVAILABLE for device and child');
    assert.deepEqual(states(), [`${DEV.id}:AVAILABLE`, 'dur-child:AVAILABLE']);
    assert.deepEqual(t.server.inventory.get(DEV.id)?.c8y_RequiredAvailability, { responseInterval: 2 });
    // The clock moves on 3 minutes: the device is late, the child (5 minutes) is not.
    const start = Date.now();
    t.server.availability.now = () => start + 3 * 60_000;
    t.server.availability.sweep();
    await until(() => states().length === 3, 5000, 'UNAVAILABLE');
    assert.equal(states()[2], `${DEV.id}:UNAVAILABLE`);
    assert.equal(t.server.inventory.get(DEV.id)?.c8y_Availability?.status, 'UNAVAILABLE');
    await until(() => inStatus.some((s) => /1 online · 1 unavailable/.test(s)), 5000, 'status with online and unavailable devices');
    await dev.publishAsync('s/us', '200,c8y_T,T,21', { qos: 1 });
    await until(() => states().length === 4, 5000, 'AVAILABLE again');
    assert.equal(states()[3], `${DEV.id}:AVAILABLE`);
    await dev.endAsync();

    // Restart: the intervals come back from the inventory and count from the start.
    await restartRuntime();
    t = await deploy();
    const restarted = Date.now();
    t.server.availability.now = () => restarted + 6 * 60_000;
    t.server.availability.sweep();
    await until(() => states().length === 2, 5000, 'both UNAVAILABLE after the restart');
    assert.deepEqual(states().sort(), ['dur-child:UNAVAILABLE', `${DEV.id}:UNAVAILABLE`]);
  });
});
