/**
 * Issue 18 #3 and #4 on a real broker (aedes, test/support/c8y-fixture.ts): c8y-out set to JSON publishes records as
 * Cumulocity's REST JSON on the JSON topics; a c8y-device set to JSON operations reads devicecontrol/notifications,
 * hands operations over with their id, and results go back by id (504/505/506); 507 from msg.action; errors on `error`.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helper, catchNode, collect, TAB } from '../support/flow';
import { until } from '../support/broker';
import { startC8yFixture, type C8yFixture } from '../support/c8y-fixture';
import deviceNode = require('../../src/nodes/c8y-device/runtime');
import inNode = require('../../src/nodes/c8y-in/runtime');
import outNode = require('../../src/nodes/c8y-out/runtime');
import type { C8yDeviceNode } from '../../src/nodes/c8y-device/types';

let fx: C8yFixture;
let userDir: string;

before(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-json-'));
  helper.settings({ userDir, credentialSecret: 'test-secret' });
  await helper.startServer();
  fx = await startC8yFixture({ users: { alice: 'pw-1' } });
});
after(async () => {
  await helper.unload();
  await fx.stop();
  await helper.stopServer();
  fs.rmSync(userDir, { recursive: true, force: true });
});

async function setup(format: 'json' | 'smartrest' = 'json') {
  await helper.load([deviceNode, inNode, outNode, catchNode], ([
    { id: TAB, type: 'tab' },
    { id: 'dev', type: 'c8y-device', host: '127.0.0.1', port: fx.port, transport: 'mqtt', tenant: 't100', deviceId: 'jdev', keepalive: 30, queueSize: 10, pending: false, format },
    { id: 'in1', z: TAB, type: 'c8y-in', device: 'dev', executing: true, errors: true, outputs: 2, wires: [['ops'], ['errs']] },
    { id: 'out1', z: TAB, type: 'c8y-out', device: 'dev', qos: '1', mode: 's', format: 'json', wires: [] },
    { id: 'ops', z: TAB, type: 'helper' },
    { id: 'errs', z: TAB, type: 'helper' },
    { id: 'c1', z: TAB, type: 'catch', scope: ['out1'], wires: [['caught']] },
    { id: 'caught', z: TAB, type: 'helper' },
  ] as any[]), { dev: { user: 'alice', password: 'pw-1' } });
  const dev = helper.getNode('dev') as unknown as C8yDeviceNode;
  await until(() => dev.connection?.state === 'connected', 5000, 'connected');
  const got = { dev, out: helper.getNode('out1'), ops: collect(helper.getNode('ops')), errs: collect(helper.getNode('errs')), caught: collect(helper.getNode('caught')) };
  // c8y-out is set to JSON: `error` is subscribed beside s/e (a c8y-in has the errors output).
  await until(() => fx.subscriptions('d:jdev').includes('error') && fx.subscriptions('d:jdev').includes('s/e'), 5000, 'error subscribed');
  return got;
}

const json = (topic: string) => fx.published.filter((p) => p.topic === topic).map((p) => JSON.parse(p.payload));

describe('JSON via MQTT on the device side', () => {
  afterEach(async () => {
    await helper.unload();
    fx.published.length = 0;
  });

  it('c8y-out (JSON): records become REST JSON on the JSON topics, with the processing mode prefix', async () => {
    const { out } = await setup();
    out.receive({ payload: { messageId: 200, values: { fragment: 'c8y_Temperature', series: 'T', value: 21.5, unit: 'C', time: '2026-12-04T10:00:00Z' } } });
    out.receive({ mode: 't', payload: ['400', 'c8y_Door', 'opened', '2026-12-04T10:00:01Z'] });
    out.receive({ payload: [['301', 'c8y_Fire', 'smoke', '2026-12-04T10:00:02Z'], ['110', 'S-1', 'NR', '3']] });
    out.receive({ topic: 'inventory/managedObjects/create', payload: { name: 'Sensor', c8y_IsDevice: {} } });
    await until(() => fx.published.length >= 5, 5000, 'five JSON publishes');
    assert.deepEqual(json('measurement/measurements/create'), [{ type: 'c8y_Temperature', time: '2026-12-04T10:00:00Z', c8y_Temperature: { T: { value: 21.5, unit: 'C' } } }]);
    assert.deepEqual(json('t/event/events/create'), [{ type: 'c8y_Door', text: 'opened', time: '2026-12-04T10:00:01Z' }]);
    assert.deepEqual(json('alarm/alarms/create'), [{ type: 'c8y_Fire', text: 'smoke', severity: 'CRITICAL', time: '2026-12-04T10:00:02Z' }]);
    assert.deepEqual(json('inventory/managedObjects/update/jdev'), [{ c8y_Hardware: { serialNumber: 'S-1', model: 'NR', revision: '3' } }]);
    assert.deepEqual(json('inventory/managedObjects/create'), [{ name: 'Sensor', c8y_IsDevice: {} }]);
    assert.ok(fx.published.every((p) => p.qos === 1));
  });

  it('c8y-out (JSON): bad input fails the message (Catch) and publishes nothing', async () => {
    const { out, caught } = await setup();
    out.receive({ payload: ['211', '20'] });
    out.receive({ device: 'child1', payload: ['400', 'c8y_X', 'x'] });
    out.receive({ payload: '200,a,b,1' });
    out.receive({ topic: 'event/events/create', payload: 'not an object' });
    const errs = await caught.next(4, 5000);
    assert.match(errs[0].error.message, /211 has no JSON mapping/);
    assert.match(errs[1].error.message, /child device as SmartREST/);
    assert.match(errs[2].error.message, /not CSV text/);
    assert.match(errs[3].error.message, /REST API's JSON object/);
    assert.equal(fx.published.filter((p) => p.clientId === 'd:jdev' && !p.topic.startsWith('s/')).length, 0);
  });

  it('JSON operations: from devicecontrol/notifications with their id, the static copy on s/ds not handed twice, 504 on hand-over, result by id (506/505)', async () => {
    const { out, ops } = await setup();
    assert.ok(fx.subscriptions('d:jdev').includes('devicecontrol/notifications'));
    const op = { id: '4711', deviceId: '100', status: 'PENDING', externalSource: { externalId: 'jdev', type: 'c8y_Serial' }, c8y_Command: { text: 'uptime' } };
    await fx.send('devicecontrol/notifications', JSON.stringify(op));
    await fx.send('s/ds', '511,jdev,uptime');
    const [m] = await ops.next(1, 5000);
    assert.equal(m.format, 'json');
    assert.equal(m.operationId, '4711');
    assert.equal(m.device, 'jdev');
    assert.deepEqual(m.payload, op);
    await until(() => fx.lines('s/us').includes('504,4711'), 5000, '504 by id on hand-over');
    out.receive({ ...m, payload: { status: 'SUCCESSFUL', result: ['up 3 days'] } });
    await until(() => fx.lines('s/us').includes('506,4711,up 3 days'), 5000, '506 by id');
    // a second one of the same fragment comes after the first was answered
    await fx.send('devicecontrol/notifications', JSON.stringify({ ...op, id: '4712' }));
    const m2 = (await ops.next(2, 5000))[1];
    assert.equal(m2.operationId, '4712');
    out.receive({ ...m2, payload: { status: 'FAILED', reason: 'busy' } });
    await until(() => fx.lines('s/us').includes('505,4712,busy'), 5000, '505 by id');
    assert.equal(ops.received.length, 2, 'the static s/ds line was not handed over');
    assert.ok(!fx.lines('s/us').some((l) => /^50[123],/.test(l)), 'nothing by fragment');
  });

  it('c8y-out: msg.operationId sends 504/505/506 by id (child topic for a child); a bad id fails the message', async () => {
    const { out, caught } = await setup('smartrest');
    out.receive({ operationId: 99, payload: { status: 'EXECUTING' } });
    out.receive({ operationId: '99', device: 'child1', payload: { status: 'FAILED', reason: 'no power' } });
    await until(() => fx.lines('s/us').includes('504,99') && fx.lines('s/us/child1').includes('505,99,no power'), 5000, '504 and 505');
    out.receive({ operationId: '9,9', payload: { status: 'SUCCESSFUL' } });
    const [e] = await caught.next(1, 5000);
    assert.match(e.error.message, /operation id/);
  });

  it('507 from msg.action "fail-executing": sent, and the operation in progress of that fragment is finished here (the next one follows)', async () => {
    const { out, ops } = await setup('smartrest');
    await fx.send('s/ds', '510,jdev');
    await ops.next(1, 5000);
    await fx.send('s/ds', '510,jdev');
    out.receive({ action: 'fail-executing', payload: { fragment: 'c8y_Restart', reason: 'agent restarted' } });
    await until(() => fx.lines('s/us').includes('507,c8y_Restart,agent restarted'), 5000, '507');
    await ops.next(2, 5000);
  });

  it('errors of JSON via MQTT on `error` come out of the errors output', async () => {
    const { errs } = await setup();
    await fx.send('error', JSON.stringify({ error: 'measurement/validationError', message: 'time is missing', messageId: '' }));
    const [e] = await errs.next(1, 5000);
    assert.equal(e.topic, 'error');
    assert.equal(e.payload.message, 'time is missing');
  });
});
