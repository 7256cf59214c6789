/**
 * c8y-endpoint with devices that speak Cumulocity's JSON via MQTT (issue #18): upstream JSON topics decoded into
 * the same c8y-endpoint-in messages as SmartREST (format "json"), operations delivered as JSON on
 * devicecontrol/notifications, refusals reported as JSON on `error`, and the QoS granted to QoS 2 subscriptions.
 * Real Node-RED runtime, MQTT.js devices on loopback.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { helper, catchNode } from '../support/flow';
import { freePort, until } from '../support/broker';
import { loadEndpointFlow } from '../support/endpoint-flow';
import { deviceClients, inbox } from '../support/endpoint';
import { parseJsonError, parseOperations } from '../../src/c8y/json';
import endpointNode = require('../../src/nodes/c8y-endpoint/runtime');
import inNode = require('../../src/nodes/c8y-endpoint-in/runtime');
import outNode = require('../../src/nodes/c8y-endpoint-out/runtime');
import registrationNode = require('../../src/nodes/c8y-endpoint-registration/runtime');
import { verifyDeviceToken } from '../../src/endpoint/token';
import type { C8yEndpointInOutput } from '../../src/nodes/c8y-endpoint-in/types';

const TAB = 'tab-json';
const TENANT = 't77';
const DEV = { id: 'json-dev', password: 'json-pw-1' };
const OTHER = { id: 'other-dev', password: 'other-pw-1' };
const nodes = [endpointNode, inNode, outNode, registrationNode, catchNode];

let port: number;
let userDir: string;
const devices = deviceClients(() => port);
const login = (d: { id: string; password: string }) => ({ clientId: d.id, username: `${TENANT}/device_${d.id}`, password: d.password });

function flow() {
  return [
    { id: TAB, type: 'tab' },
    { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: TENANT },
    { id: 'in', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'all', wires: [['records']] },
    { id: 'out', z: TAB, type: 'c8y-endpoint-out', endpoint: 'ep', wires: [['ops']] },
    { id: 'reg', z: TAB, type: 'c8y-endpoint-registration', endpoint: 'ep', wires: [['tokens']] },
    { id: 'tokens', z: TAB, type: 'helper' },
    { id: 'c1', z: TAB, type: 'catch', scope: null, wires: [['caught']] },
    { id: 'records', z: TAB, type: 'helper' },
    { id: 'ops', z: TAB, type: 'helper' },
    { id: 'caught', z: TAB, type: 'helper' },
  ];
}
const SECRET = 'token-secret-of-the-test';
const CREDS = { ep: { devices: `${DEV.id}:${DEV.password}\n${OTHER.id}:${OTHER.password}`, tokenSecret: SECRET } };
const setup = (creds: object = CREDS) => loadEndpointFlow(nodes, flow(), creds, port, ['records', 'ops', 'caught', 'tokens'] as const);

before(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-endpoint-json-'));
  port = await freePort();
  helper.settings({ userDir });
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
});
after(async () => {
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  fs.rmSync(userDir, { recursive: true, force: true });
});
afterEach(async () => {
  devices.endAll();
  await helper.unload();
});

describe('c8y-endpoint: JSON via MQTT', () => {
  it('decodes the upstream JSON topics into the same records as SmartREST, with format "json"', async () => {
    const t = await setup();
    const dev = await devices.connect(login(DEV));
    await dev.publishAsync('inventory/managedObjects/create', JSON.stringify({ name: 'JSON device', type: 'c8y_Json', c8y_IsDevice: {} }), { qos: 1 });
    await dev.publishAsync(`inventory/managedObjects/update/${DEV.id}`, JSON.stringify({ c8y_SupportedOperations: ['c8y_Restart'], c8y_Hardware: { serialNumber: 'SN1', model: 'M' } }), { qos: 1 });
    await dev.publishAsync('measurement/measurements/create', JSON.stringify({ type: 'c8y_Temperature', time: '2026-01-01T00:00:00.000Z', c8y_Temperature: { T: { value: 21.5, unit: 'C' } } }), { qos: 1 });
    await dev.publishAsync('t/event/events/create', JSON.stringify({ type: 'c8y_Tick', text: 'tick', time: '2026-01-01T00:00:01.000Z' }), { qos: 0 });
    await dev.publishAsync('alarm/alarms/create', JSON.stringify({ type: 'c8y_Door', text: 'open', severity: 'MINOR', time: '2026-01-01T00:00:02.000Z' }), { qos: 1 });
    const msgs = (await t.records.next(6)).map((m) => m as unknown as C8yEndpointInOutput);
    assert.deepEqual(msgs.map((m) => [m.payload.messageId, m.kind, m.format, m.mode]), [
      [100, 'inventory', 'json', 's'],
      [110, 'inventory', 'json', 's'],
      [114, 'inventory', 'json', 's'],
      [200, 'measurement', 'json', 's'],
      [400, 'event', 'json', 't'],
      [303, 'alarm', 'json', 's'],
    ]);
    assert.deepEqual(msgs[3].payload.values, { fragment: 'c8y_Temperature', series: 'T', value: 21.5, unit: 'C', time: '2026-01-01T00:00:00.000Z' });
    assert.equal(msgs[3].topic, 'measurement/measurements/create');
    assert.deepEqual(msgs[4].json, { type: 'c8y_Tick', text: 'tick', time: '2026-01-01T00:00:01.000Z' });
    const mo = t.server.inventory.get(DEV.id)!;
    assert.deepEqual([mo.name, mo.type, mo.supportedOperations], ['JSON device', 'c8y_Json', ['c8y_Restart']]);
    assert.equal(t.caught.received.length, 0);
  });

  it('delivers operations as JSON on devicecontrol/notifications, pending ones on subscribe', async () => {
    const t = await setup();
    helper.getNode('out').receive({ device: DEV.id, payload: { messageId: 511, values: { command: 'uptime' } } });
    await t.ops.next(1);
    const dev = await devices.connect(login(DEV));
    const box = inbox(dev);
    const [granted] = await dev.subscribeAsync('devicecontrol/notifications', { qos: 1 });
    assert.equal(granted.qos, 1);
    const first = parseOperations(await box.next('devicecontrol/notifications'));
    assert.deepEqual(first.issues, []);
    assert.equal(first.operations[0].fragment, 'c8y_Command');
    assert.equal(first.operations[0].device, DEV.id);
    assert.equal((first.operations[0].body.c8y_Command as { text?: string }).text, 'uptime');
    helper.getNode('out').receive({ device: DEV.id, payload: { messageId: 510, values: {} } });
    await until(() => box.got.length === 2, 5000, 'the live operation');
    const live = parseOperations(box.got[1].payload).operations[0];
    assert.equal(live.fragment, 'c8y_Restart');
    assert.notEqual(live.id, first.operations[0].id);
    // The device reports the status by operation id (SmartREST), as a JSON device on the platform does.
    await dev.publishAsync('s/us', `506,${live.id}`, { qos: 1 });
    await until(() => t.server.operations.get(live.id)?.status === 'SUCCESSFUL', 5000, 'SUCCESSFUL');
  });

  it('refuses what the ACL refuses, and reports bad JSON, on the error topic as JSON', async () => {
    const t = await setup();
    const other = await devices.connect(login(OTHER));
    await other.publishAsync('s/us', '100,Other', { qos: 1 });
    await until(() => !!t.server.inventory.get(OTHER.id), 5000, 'other device');
    const dev = await devices.connect(login(DEV));
    const box = inbox(dev);
    await dev.subscribeAsync(['error', 's/e'], { qos: 1 });
    await dev.publishAsync(`inventory/managedObjects/update/${OTHER.id}`, JSON.stringify({ name: 'stolen' }), { qos: 1 });
    const acl = parseJsonError(await box.next('error'));
    assert.equal(acl.error, '41');
    assert.match(acl.message, /may not act on other-dev/);
    assert.equal(t.server.inventory.get(OTHER.id)?.name, 'Other');
    await dev.publishAsync('measurement/measurements/create', '{"type":', { qos: 1 });
    assert.match(parseJsonError(await box.next('error', (p) => p.includes('not JSON'))).message, /not JSON/);
    await dev.publishAsync('q/alarm/alarms/create', JSON.stringify({ type: 'x', severity: 'MAJOR' }), { qos: 1 });
    await box.next('error', (p) => p.includes('processing mode q'));
    await dev.publishAsync('alarm/alarms/create', JSON.stringify({ type: 'x', severity: 'LOUD' }), { qos: 1 });
    await box.next('error', (p) => p.includes('severity'));
    assert.equal(box.got.filter((m) => m.topic === 's/e').length, 0, 'JSON input is answered on error, not on s/e');
    // Catch nodes see each refusal, and the connection stays open.
    await until(() => t.caught.received.length >= 4, 5000, 'four caught errors');
    assert.ok(dev.connected);
    assert.equal(t.records.received.length, 1, 'only the other device\'s 100 became a record');
  });
});

describe('c8y-endpoint: QoS 2 subscriptions', () => {
  it('are granted QoS 2 and operations arrive at QoS 2; QoS 1 subscriptions get QoS 1', async () => {
    const t = await setup();
    // A device without operations left over from the tests above (the endpoint keeps them in its store).
    const dev = await devices.connect(login(OTHER));
    const got: { topic: string; payload: string; qos: number }[] = [];
    dev.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos }));
    const granted = await dev.subscribeAsync(['s/ds', 'devicecontrol/notifications'], { qos: 2 });
    assert.deepEqual(granted.map((g) => g.qos), [2, 2]);
    await dev.subscribeAsync('s/e', { qos: 1 });
    helper.getNode('out').receive({ device: OTHER.id, payload: { messageId: 510, values: {} } });
    await until(() => got.length >= 2, 5000, 'the operation on both topics');
    assert.deepEqual(got.map((m) => [m.topic, m.qos]), [['s/ds', 2], ['devicecontrol/notifications', 2]]);
    await dev.publishAsync('s/us', '999', { qos: 1 });
    await until(() => got.length >= 3, 5000, 'the s/e line');
    assert.deepEqual([got[2].topic, got[2].qos], ['s/e', 1]);
    // Completed QoS 2 handshakes count as acknowledged: the operation is still PENDING and the device connected.
    assert.equal(t.server.operations.pending(OTHER.id).length, 1);
    assert.ok(dev.connected);
  });
});

describe('c8y-endpoint: device tokens (s/uat)', () => {
  it('answers s/uat with 71,<token> on s/dat, and c8y-endpoint-registration verifies it', async () => {
    const t = await setup();
    const dev = await devices.connect(login(DEV));
    const box = inbox(dev);
    await dev.subscribeAsync(['s/dat', 's/e'], { qos: 1 });
    await dev.publishAsync('s/uat', '', { qos: 1 });
    const line = await box.next('s/dat');
    assert.match(line, /^71,[\w-]+\.[\w-]+\.[\w-]+$/);
    const token = line.slice(3);
    // The secret is the endpoint's credential: code outside Node-RED with the same secret can check it too.
    assert.equal(verifyDeviceToken(token, SECRET).device, DEV.id);
    assert.throws(() => verifyDeviceToken(token, 'another-secret'), /bad signature/);
    helper.getNode('reg').receive({ verifyToken: token, payload: 'kept' });
    const [ok] = await t.tokens.next(1);
    assert.deepEqual([ok.topic, ok.device, ok.payload, ok.token.tenant], ['token/valid', DEV.id, 'kept', TENANT]);
    // From an http in node: the Authorization header.
    helper.getNode('reg').receive({ verifyToken: true, req: { headers: { authorization: `Bearer ${token}` } } });
    await t.tokens.next(2);
    // A token whose body names another device, with the signature of DEV's: refused, Catch-able, flow keeps going.
    const [h, , sig] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: OTHER.id, ten: TENANT, iat: 1, exp: 4e9 })).toString('base64url')}.${sig}`;
    for (const bad of [forged, 'garbage', '', 42]) helper.getNode('reg').receive({ verifyToken: bad });
    helper.getNode('reg').receive({ verifyToken: true, req: { headers: {} } });
    await until(() => t.caught.received.length >= 5, 5000, 'five refused tokens');
    assert.match(String(t.caught.received[0].error.message), /device token refused: bad signature/);
    assert.equal(t.tokens.received.length, 2);
  });

  it('generates a secret when none is set: tokens still verify', async () => {
    const t = await setup({ ep: { devices: `${DEV.id}:${DEV.password}` } });
    const dev = await devices.connect(login(DEV));
    const box = inbox(dev);
    await dev.subscribeAsync('s/dat', { qos: 1 });
    await dev.publishAsync('s/uat', '', { qos: 1 });
    const token = (await box.next('s/dat')).slice(3);
    helper.getNode('reg').receive({ verifyToken: token });
    assert.equal((await t.tokens.next(1))[0].device, DEV.id);
    assert.throws(() => verifyDeviceToken(token, SECRET), /bad signature/);
  });
});

describe('c8y-endpoint: custom request templates marked GET', () => {
  it('answers them from the inventory through the response templates, on s/dc/<X-ID>', async () => {
    const t = await setup();
    const other = await devices.connect(login(OTHER));
    await other.publishAsync('s/us', '100,Other,c8y_Other', { qos: 1 });
    const dev = await devices.connect(login(DEV));
    const box = inbox(dev);
    await dev.subscribeAsync(['s/dc/getXid', 's/dt', 's/e'], { qos: 1 });
    await dev.publishAsync('s/us', '100,Getter,c8y_Getter\n101,get-child,Child\n114,c8y_Restart,c8y_Command', { qos: 1 });
    const collection = [
      '10,g1,GET,INVENTORY,,false,c8y_Serial',
      '10,g2,GET,INVENTORY,,true,',
      '10,g3,GET,INVENTORY,false,false,c8y_Serial',
      '11,r1,,c8y_IsDevice,name,type,c8y_SupportedOperations[*]',
      '11,r2,c8y_Nope,c8y_Nope,x',
      '11,r3,,,childDevices.references[*].managedObject.externalId,c8y_Missing',
    ].join('\n');
    await dev.publishAsync('s/ut/getXid', collection, { qos: 1 });
    await box.next('s/dt', (p) => p.startsWith('20,getXid'));
    await dev.publishAsync('s/uc/getXid', `g1,${DEV.id}`, { qos: 1 });
    // (the device may already exist from the tests above, with its first name: 100 is idempotent)
    const mo = t.server.inventory.get(DEV.id)!;
    assert.equal(await box.next('s/dc/getXid'), `r1,${mo.name},${mo.type},c8y_Restart,c8y_Command\nr3,get-child,`);
    // byId: the numeric managed-object id
    const id = t.server.inventory.get('get-child')!.id;
    await dev.publishAsync('s/uc/getXid', `g2,${id}`, { qos: 1 });
    await box.next('s/dc/getXid', (p) => p.startsWith('r1,Child,'));
    // response=false: no answer; unknown object and another device's object: 41 on s/e, no answer
    await dev.publishAsync('s/uc/getXid', `g3,${DEV.id}\ng1,nobody\ng1,${OTHER.id}`, { qos: 1 });
    assert.match(await box.next('s/e', (p) => p.includes('nobody')), /^41,g1,Managed object with external id nobody not found$/);
    assert.match(await box.next('s/e', (p) => p.includes(OTHER.id)), /^41,g1,device json-dev may not act on other-dev/);
    assert.equal(box.got.filter((m) => m.topic === 's/dc/getXid').length, 2);
    // the request still reaches the flow as a custom record
    await until(() => t.records.received.some((m) => m.payload.messageId === 'g3'), 5000, 'the g3 record');
  });
});
