/**
 * c8y-device / c8y-in / c8y-out / c8y-device-registration in a real Node-RED runtime against an independent
 * fixture written from the Cumulocity documentation (test/support/c8y-fixture.ts). No MQTT mocks.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helper, catchNode, collect, TAB, settle } from '../support/flow';
import { freePort, startC8yFixture, type C8yFixture } from '../support/c8y-fixture';
import deviceNode = require('../../src/nodes/c8y-device/runtime');
import inNode = require('../../src/nodes/c8y-in/runtime');
import outNode = require('../../src/nodes/c8y-out/runtime');
import registrationNode = require('../../src/nodes/c8y-device-registration/runtime');
import type { C8yDeviceNode } from '../../src/nodes/c8y-device/types';
import { STORE_FILE } from '../../src/c8y/credstore';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const completeNode = require('@node-red/nodes/core/common/24-complete.js');
const nodes = [deviceNode, inNode, outNode, registrationNode, catchNode, completeNode];
const USER = { user: 'alice', password: 'pw-1' };

let fx: C8yFixture;
let userDir: string;

async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await settle(20);
  }
}

/** Whether a node's status was ever set to `fill` with a text matching `re`. */
function statusSeen(n: unknown, fill: string, re: RegExp): boolean {
  return (n as any).status.getCalls().some((c: any) => c.args[0]?.fill === fill && re.test(String(c.args[0]?.text ?? '')));
}

function deviceConfig(extra: Record<string, unknown> = {}) {
  return {
    id: 'dev', type: 'c8y-device', host: '127.0.0.1', port: fx.port, transport: 'mqtt', tenant: 't100', deviceId: 'dev1', keepalive: 30,
    devName: 'Device 1', devType: 'c8y_NodeRed', children: 'child1,Child 1', hwSerial: 'S-1', hwModel: 'NR', hwRevision: '1',
    operations: 'c8y_Restart,c8y_Command', interval: 10, pending: true, queueSize: 100, ...extra,
  };
}

function flow(o: { device?: Record<string, unknown>; in?: Record<string, unknown>; reg?: Record<string, unknown> | false } = {}) {
  const f: any[] = [
    { id: TAB, type: 'tab' },
    deviceConfig(o.device),
    { id: 'in1', z: TAB, type: 'c8y-in', device: 'dev', executing: true, errors: true, outputs: 2, ...o.in, wires: [['ops'], ['errs']] },
    { id: 'ops', z: TAB, type: 'helper' },
    { id: 'errs', z: TAB, type: 'helper' },
    { id: 'out1', z: TAB, type: 'c8y-out', device: 'dev', qos: '1', mode: 's', wires: [] },
    { id: 'out2', z: TAB, type: 'c8y-out', device: 'dev', qos: '1', mode: 's', wires: [] },
    { id: 'c1', z: TAB, type: 'catch', scope: ['out1', 'reg'], wires: [['caught']] },
    { id: 'caught', z: TAB, type: 'helper' },
    { id: 'k1', z: TAB, type: 'complete', scope: ['out1'], wires: [['completed']] },
    { id: 'completed', z: TAB, type: 'helper' },
  ];
  if (o.reg !== false && o.reg) {
    f.push({ id: 'reg', z: TAB, type: 'c8y-device-registration', host: '127.0.0.1', port: fx.port, transport: 'mqtt', user: 'management/devicebootstrap', device: 'dev', interval: 0.1, slowAfter: 60, limit: 0, start: 'auto', ...o.reg, wires: [['creds']] });
    f.push({ id: 'creds', z: TAB, type: 'helper' });
  }
  return f;
}

async function setup(o: Parameters<typeof flow>[0] & { creds?: Record<string, unknown> | null; wait?: boolean } = {}) {
  const creds: Record<string, unknown> = {};
  if (o.creds !== null) creds.dev = o.creds ?? USER;
  if (o.reg) creds.reg = { password: 'boot-pw' };
  await helper.load(nodes, flow(o), creds);
  const got = {
    dev: helper.getNode('dev') as unknown as C8yDeviceNode,
    ops: collect(helper.getNode('ops')),
    errs: collect(helper.getNode('errs')),
    caught: collect(helper.getNode('caught')),
    completed: collect(helper.getNode('completed')),
    out: helper.getNode('out1'),
    in: helper.getNode('in1'),
    creds: o.reg ? collect(helper.getNode('creds')) : undefined,
  };
  if (o.wait !== false) await until(() => got.dev.connection?.state === 'connected', 5000, 'connected');
  return got;
}

before(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-device-test-'));
  helper.settings({ userDir, credentialSecret: 'test-secret' });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
  fs.rmSync(userDir, { recursive: true, force: true });
});

describe('c8y-device against the documented fixture', () => {
  before(async () => {
    fx = await startC8yFixture({ users: { [USER.user]: USER.password }, bootstrapPassword: 'boot-pw', grant: { username: 'device_dev1', password: 'granted-pw' }, acceptAfter: 3 });
  });
  after(async () => fx.stop());
  afterEach(async () => {
    await helper.unload();
    fx.forceCode = undefined;
    fx.published.length = 0;
    fx.attempts.length = 0;
    fx.polls = 0;
    fs.rmSync(path.join(userDir, STORE_FILE), { force: true });
  });

  it('connects as d:<id> with <tenant>/<user>, runs the startup phase in order, subscribes, then 500; one connection for all nodes', async () => {
    const got = await setup();
    await until(() => fx.lines('s/us').includes('500'), 3000, '500');
    assert.deepEqual(fx.attempts.map((a) => [a.clientId, a.username, a.code]), [['d:dev1', 't100/alice', 0]]);
    assert.deepEqual(fx.clients(), ['d:dev1']);
    assert.deepEqual(fx.lines('s/us'), ['100,Device 1,c8y_NodeRed', '101,child1,Child 1,c8y_MQTTChildDevice', '110,S-1,NR,1', '114,c8y_Restart,c8y_Command', '117,10', '500']);
    assert.deepEqual(fx.subscriptions('d:dev1').sort(), ['s/ds', 's/e']);
    // status of every node follows the connection
    await settle(20);
    assert.ok((got.out as any).status.calledWithMatch({ text: 'connected' }));
    assert.ok((got.in as any).status.calledWithMatch({ text: 'connected' }));
  });

  it('measurements: QoS 1, done only after the broker has it; child via msg.device; ready CSV', async () => {
    const got = await setup();
    await until(() => fx.lines('s/us').includes('500'), 3000, '500');
    const gate = fx.hold();
    got.out.receive({ payload: { messageId: 200, values: { fragment: 'c8y_Temperature', series: 'T', value: 21.5, unit: 'C' } } });
    await until(() => gate.held() === 1, 3000, 'the PUBLISH at the broker');
    await settle(200);
    assert.equal(got.completed.received.length, 0, 'no done() while the broker holds the PUBACK');
    gate.release();
    await got.completed.next(1);
    assert.ok(fx.lines('s/us').includes('200,c8y_Temperature,T,21.5,C'), 'on the wire when done() was called');
    got.out.receive({ payload: '200,c8y_Temperature,T,22,C', device: 'child1' });
    await got.completed.next(2);
    assert.deepEqual(fx.lines('s/us/child1'), ['200,c8y_Temperature,T,22,C']);
    assert.ok(fx.published.filter((p) => p.topic.startsWith('s/us')).every((p) => p.qos === 1));
  });

  it('bad input: msg.payload that cannot be encoded → done(err), nothing published', async () => {
    const got = await setup();
    const before = fx.published.length;
    got.out.receive({ payload: 42 });
    got.out.receive({ payload: { messageId: 200, values: { fragment: 'c8y_T' } } });
    const errs = await got.caught.next(2);
    assert.match(errs[0].error.message, /expected a record/);
    assert.ok(errs[1].error.message.length > 0);
    await settle(50);
    assert.equal(fx.published.length, before);
  });

  it('offline queue: bounded, overflow fails the message (Catch) and is logged, never silent', async () => {
    fx.forceCode = 4; // refused and not retried: stays offline
    const got = await setup({ wait: false, device: { queueSize: 2 } });
    await until(() => got.dev.connection?.state === 'refused', 3000, 'refused');
    for (let i = 0; i < 3; i++) got.out.receive({ payload: ['200', 'c8y_T', 'T', String(i), ''] });
    const [caught] = await got.caught.next(1);
    assert.match(caught.error.message, /offline queue full/);
    assert.equal(got.dev.connection?.queued, 2);
    assert.ok((got.dev as any).warn.getCalls().some((c: any) => /offline queue full/.test(String(c.args[0]))));
  });

  it('a ":" in the device id is refused at runtime: no connection, red status', async () => {
    const got = await setup({ wait: false, device: { deviceId: 'bad:id' } });
    await settle(100);
    assert.equal(got.dev.connection, undefined);
    assert.equal(fx.attempts.length, 0);
    assert.ok(statusSeen(got.out, 'red', /contains ":"/));
  });

  for (const code of [1, 2, 4]) {
    it(`CONNACK ${code}: status and log say what it means, not retried`, async () => {
      fx.forceCode = code;
      const warnings: string[] = [];
      const got = await setup({ wait: false });
      (got.dev as any).on('call:warn', (c: any) => warnings.push(String(c.args[0])));
      await until(() => got.dev.connection?.state === 'refused', 3000, 'refused');
      await settle(1500);
      assert.equal(fx.attempts.length, 1, 'one attempt only');
      assert.ok(statusSeen(got.out, 'red', new RegExp(`CONNACK ${code} .*not retried`)), 'status says what happened');
      assert.ok(warnings.some((w) => w.includes(`CONNACK ${code}`)) || (got.dev as any).warn.calledWithMatch(new RegExp(`CONNACK ${code}`)));
    });
  }

  for (const code of [3, 5]) {
    it(`CONNACK ${code}: retried with backoff and jitter, then connects`, async () => {
      fx.forceCode = code;
      const got = await setup({ wait: false });
      await until(() => fx.attempts.length >= 3, 8000, '3 attempts');
      const gaps = fx.attempts.slice(1).map((a, i) => a.at - fx.attempts[i].at);
      assert.ok(gaps[0] >= 400, `first retry waits (backoff), got ${gaps[0]} ms`);
      assert.ok(gaps[1] >= gaps[0] * 0.6, `the delay grows: ${gaps.join(', ')}`);
      assert.ok(statusSeen(got.out, 'red', new RegExp(`CONNACK ${code} .*retry in`)), 'status says retry');
      fx.forceCode = undefined;
      await until(() => got.dev.connection?.state === 'connected', 10000, 'connected after the refusals');
    });
  }

  it('broker restart mid-stream: QoS 1 messages queued and delivered, none lost', async () => {
    const got = await setup();
    const N = 30;
    for (let i = 0; i < N; i++) {
      got.out.receive({ payload: ['200', 'c8y_Counter', 'n', String(i), ''] });
      if (i === 10) void fx.restart(300);
      await settle(15);
    }
    await got.completed.next(N, 15000);
    const seen = new Set(fx.lines('s/us').filter((l) => l.startsWith('200,c8y_Counter')).map((l) => l.split(',')[3]));
    for (let i = 0; i < N; i++) assert.ok(seen.has(String(i)), `message ${i} delivered`);
    assert.equal(got.caught.received.length, 0);
    assert.ok(fx.attempts.length >= 2, 'reconnected');
    assert.ok(fx.lines('s/us').filter((l) => l === '100,Device 1,c8y_NodeRed').length >= 2, 'startup phase on every connect');
  });

  it('redeploy 5 times: one connection while loaded, none after unload, no growing handles', async () => {
    const handles: number[] = [];
    for (let i = 0; i < 5; i++) {
      await setup();
      await settle(50);
      assert.equal(fx.clients().length, 1, 'one connection for c8y-in and two c8y-out');
      await helper.unload();
      await until(() => fx.clients().length === 0, 3000, 'no client after unload');
      await settle(50);
      handles.push(process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length);
    }
    assert.equal(fx.attempts.length, 5, 'exactly one connection per deploy');
    assert.ok(handles[4] <= handles[0], `timers/sockets do not grow: ${handles.join(', ')}`);
  });

  it('operations: one at a time per fragment in arrival order, 501 on hand-over, 503/502 from results, child topic', async () => {
    const got = await setup();
    await until(() => fx.lines('s/us').includes('500'), 3000, '500');
    await settle(50);
    await fx.send('s/ds', '511,dev1,"echo a"\n511,dev1,"echo b"\n510,dev1\n510,child1');
    const first = await got.ops.next(3);
    assert.deepEqual(first.map((m) => [m.payload.name, m.device]), [['c8y_Command', 'dev1'], ['c8y_Restart', 'dev1'], ['c8y_Restart', 'child1']]);
    assert.equal(first[0].payload.values.command, 'echo a');
    await settle(100);
    assert.equal(got.ops.received.length, 3, 'the second c8y_Command waits');
    await until(() => fx.lines('s/us').filter((l) => l.startsWith('501')).length === 2, 2000, '501 lines');
    assert.deepEqual(fx.lines('s/us').filter((l) => l.startsWith('50') && l !== '500'), ['501,c8y_Command', '501,c8y_Restart']);
    assert.deepEqual(fx.lines('s/us/child1'), ['501,c8y_Restart']);
    // result of the first command → 503, then the second command comes
    got.out.receive({ ...first[0], payload: { status: 'SUCCESSFUL', result: ['a'] } });
    const second = (await got.ops.next(4))[3];
    assert.equal(second.payload.values.command, 'echo b');
    assert.ok(fx.lines('s/us').includes('503,c8y_Command,a'));
    // FAILED, and a Catch-node style error message
    got.out.receive({ ...second, payload: { status: 'FAILED', reason: 'exit 1' } });
    got.out.receive({ operation: first[2].operation, payload: 'x', error: { message: 'no reboot for children' } });
    await until(() => fx.lines('s/us/child1').length === 2 && fx.lines('s/us').includes('502,c8y_Command,exit 1'), 2000, 'results');
    assert.deepEqual(fx.lines('s/us/child1'), ['501,c8y_Restart', '502,c8y_Restart,no reboot for children']);
    // s/e lines on the second output
    await fx.send('s/e', '41,100,Device already exists, "really"');
    const [err] = await got.errs.next(1);
    assert.equal(err.topic, 's/e');
    assert.equal(err.payload.fields[1], 'Device already exists, "really"');
    // a bad result payload fails the message
    got.out.receive({ ...first[1], payload: { status: 'DONE' } });
    const [caught] = await got.caught.next(1);
    assert.match(caught.error.message, /SUCCESSFUL/);
  });

  it('clean session, keepalive and the last will are in the CONNECT; the will reaches the broker on a connection loss', async () => {
    const got = await setup();
    const a = fx.attempts[0];
    assert.equal(a.clean, true);
    assert.equal(a.keepalive, 30);
    assert.deepEqual(a.will, { topic: 's/us', payload: '400,c8y_ConnectionEvent,"Device connection was lost."', qos: 1 });
    fx.kick('d:dev1');
    await until(() => fx.lines('s/us').includes('400,c8y_ConnectionEvent,"Device connection was lost."'), 3000, 'last will');
    await until(() => got.dev.connection?.state === 'connected' && fx.attempts.length === 2, 8000, 'reconnected');
  });

  it('results that do not belong to the operation in progress are refused and release nothing', async () => {
    const got = await setup();
    await until(() => fx.lines('s/us').includes('500'), 3000, '500');
    await settle(50);
    await fx.send('s/ds', '510,dev1\n510,dev1');
    const [op] = await got.ops.next(1);
    const results = () => fx.lines('s/us').filter((l) => /^50[23]/.test(l));
    // another connection's operation, one from before a redeploy, an unknown sequence number
    got.out.receive({ operation: { ...op.operation, connection: 'other-device' }, payload: { status: 'SUCCESSFUL' } });
    got.out.receive({ operation: { ...op.operation, instance: 'old' }, payload: { status: 'SUCCESSFUL' } });
    got.out.receive({ operation: { ...op.operation, seq: op.operation.seq + 5 }, payload: { status: 'SUCCESSFUL' } });
    const caught = await got.caught.next(3);
    assert.match(caught[0].error.message, /another c8y-device connection/);
    assert.match(caught[1].error.message, /before the connection was restarted/);
    assert.match(caught[2].error.message, /not in progress/);
    await settle(100);
    assert.deepEqual(results(), [], 'nothing published');
    assert.equal(got.ops.received.length, 1, 'the second operation still waits');
    // the right one: 503, then the second comes; answering the first twice is refused
    got.out.receive({ ...op, payload: { status: 'SUCCESSFUL' } });
    await got.ops.next(2);
    got.out.receive({ ...op, payload: { status: 'SUCCESSFUL' } });
    const [twice] = await got.caught.next(4).then((c) => c.slice(3));
    assert.match(twice.error.message, /not in progress/);
    assert.deepEqual(results(), ['503,c8y_Restart']);
    // a Catch node's message for a result this c8y-out itself failed on is not sent again (no Catch loop)
    got.out.receive({ ...got.ops.received[1], payload: { status: 'SUCCESSFUL' }, error: { message: 'queue full', source: { id: 'out1' } } });
    await settle(100);
    assert.deepEqual(results(), ['503,c8y_Restart']);
    assert.ok((got.out as any).warn.calledWithMatch(/this node failed on it before/));
  });

  it('c8y-in redeployed alone (modified nodes): the operation in progress goes to the new c8y-in and can be answered', async () => {
    const got = await setup();
    await until(() => fx.lines('s/us').includes('500'), 3000, '500');
    await settle(50);
    await fx.send('s/ds', '511,dev1,"first"\n511,dev1,"second"');
    await got.ops.next(1);
    const f = flow();
    const in1 = f.find((n) => n.id === 'in1');
    in1.name = 'changed';
    await helper.setFlows(f, 'nodes', { dev: USER });
    const ops = collect(helper.getNode('ops'));
    const [again] = await ops.next(1, 3000);
    assert.equal(again.payload.values.command, 'first');
    assert.equal(fx.attempts.length, 1, 'the connection was not restarted');
    helper.getNode('out1').receive({ ...again, payload: { status: 'SUCCESSFUL' } });
    const [second] = await ops.next(2, 3000).then((m) => m.slice(1));
    assert.equal(second.payload.values.command, 'second');
    assert.deepEqual(fx.lines('s/us').filter((l) => l.startsWith('503')), ['503,c8y_Command']);
  });

  it('c8y-out takes mode and child from an upstream msg.topic (smartrest-encode output)', async () => {
    const got = await setup();
    got.out.receive({ topic: 't/us/child1', payload: '211,19.5' });
    await got.completed.next(1);
    assert.deepEqual(fx.lines('t/us/child1'), ['211,19.5']);
  });

  it('registration while the device is connected: the device connection waits, then reconnects with the new credentials', async () => {
    const got = await setup({ reg: { start: 'always', interval: 0.1 } });
    let overlap = false;
    const watch = setInterval(() => {
      const c = fx.clients();
      if (c.includes('dev1') && c.includes('d:dev1')) overlap = true;
    }, 5);
    try {
      await got.creds!.next(1, 5000);
      await until(() => fx.attempts.some((a) => a.clientId === 'd:dev1' && a.username === 't100/device_dev1' && a.code === 0), 5000, 'device with the new credentials');
    } finally {
      clearInterval(watch);
    }
    assert.equal(overlap, false, 'bootstrap ClientId dev1 and d:dev1 were never connected at the same time');
    await until(() => got.dev.connection?.state === 'connected', 5000, 'connected');
  });

  it('credentials refused (CONNACK 4) with an auto registration: the device registers again', async () => {
    const got = await setup({ wait: false, creds: { user: 'alice', password: 'wrong' }, reg: {} });
    const reg = helper.getNode('reg');
    await until(() => statusSeen(reg, 'green', /not needed/), 3000, 'registration not needed at first');
    const [msg] = await got.creds!.next(1, 8000);
    assert.equal(msg.payload.username, 'device_dev1');
    await until(() => got.dev.connection?.state === 'connected', 5000, 'connected with the issued credentials');
    assert.ok((reg as any).warn.calledWithMatch(/were refused: registering the device again/));
  });

  it('token: msg.action "request-token" → empty s/uat, the 71 line comes out of c8y-in', async () => {
    const got = await setup();
    got.out.receive({ action: 'request-token' });
    await got.completed.next(1);
    const [tok] = await got.ops.next(1);
    assert.equal(tok.topic, 's/dat');
    assert.equal(tok.payload.messageId, 71);
    assert.equal(tok.payload.values.token, 'jwt-for-d:dev1');
    assert.equal(tok.operation, undefined);
    assert.ok(fx.published.some((p) => p.topic === 's/uat' && p.payload === ''));
  });

  it('registration: poll limit stops with a red status; a wrong bootstrap password (4) is not retried', async () => {
    const got = await setup({ creds: null, wait: false, reg: { interval: 0.05, limit: 2, deviceId: 'other', device: '' } });
    const reg = helper.getNode('reg');
    await until(() => statusSeen(reg, 'red', /gave up after 2 polls/), 5000, 'gave up');
    assert.equal(fx.published.filter((p) => p.topic === 's/ucr').length, 2);
    assert.equal(got.creds!.received.length, 0);
    await until(() => fx.clients().length === 0, 3000, 'bootstrap connection closed');
    await helper.unload();
    fx.attempts.length = 0;
    await helper.load(nodes, flow({ reg: { deviceId: 'other', device: '' } }), { dev: USER, reg: { password: 'wrong' } });
    await until(() => fx.attempts.some((a) => a.username === 'management/devicebootstrap'), 3000, 'bootstrap attempt');
    await settle(1500);
    assert.equal(fx.attempts.filter((a) => a.username === 'management/devicebootstrap').length, 1);
    assert.ok(statusSeen(helper.getNode('reg'), 'red', /CONNACK 4/));
  });

  it('bootstrap: polls s/ucr, gets 70, stores the credentials, the device node reconnects with them (also after a restart)', async () => {
    const got = await setup({ creds: null, wait: false, reg: {} });
    assert.equal(got.dev.connection?.state, 'idle', 'no credentials: the device does not connect');
    // data sent before the registration waits in the bounded queue
    got.out.receive({ payload: ['200', 'c8y_Early', 'T', '1', ''] });
    const [msg] = await got.creds!.next(1, 5000);
    assert.deepEqual(msg.payload, { tenant: 't100', username: 'device_dev1', password: 'granted-pw' });
    assert.ok(fx.polls >= 3);
    const polls = fx.published.filter((p) => p.topic === 's/ucr');
    assert.ok(polls.every((p) => p.payload === '' && p.clientId === 'dev1'), JSON.stringify(polls));
    await until(() => got.dev.connection?.state === 'connected', 5000, 'device connected with the new credentials');
    assert.deepEqual(fx.attempts.filter((a) => a.code === 0).map((a) => [a.clientId, a.username]), [['dev1', 'management/devicebootstrap'], ['d:dev1', 't100/device_dev1']]);
    await got.completed.next(1);
    assert.ok(fx.published.some((p) => p.clientId === 'd:dev1' && p.payload.startsWith('200,c8y_Early,T,1')), 'queued message delivered after the registration');
    const file = fs.readFileSync(path.join(userDir, STORE_FILE), 'utf8');
    assert.doesNotMatch(file, /granted-pw|device_dev1/, 'stored encrypted');
    // "restart": a fresh load without credentials in the node uses the stored ones, no registration
    await helper.unload();
    fx.attempts.length = 0;
    const again = await setup({ creds: null, reg: {} });
    await settle(200);
    assert.equal(again.creds!.received.length, 0);
    assert.deepEqual(fx.attempts.map((a) => [a.clientId, a.username, a.code]), [['d:dev1', 't100/device_dev1', 0]]);
  });
});

describe('c8y-device end to end against the project c8y-endpoint', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const endpointModules = [require('../../src/nodes/c8y-endpoint/runtime'), require('../../src/nodes/c8y-endpoint-in/runtime'), require('../../src/nodes/c8y-endpoint-out/runtime'), require('../../src/nodes/c8y-endpoint-registration/runtime')];
  after(async () => helper.unload());

  it('bootstrap → credentials → reconnect → startup → measurements → operation → EXECUTING → SUCCESSFUL / FAILED', async () => {
    const port = await freePort();
    const f: any[] = [
      { id: TAB, type: 'tab' },
      { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: 'edge', bootstrapUser: 'devicebootstrap', serviceUser: '' },
      { id: 'epReg', z: TAB, type: 'c8y-endpoint-registration', endpoint: 'ep', allow: 'e2e-*', wires: [[]] },
      { id: 'epIn', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'all', reportErrors: false, wires: [['records']] },
      { id: 'epOut', z: TAB, type: 'c8y-endpoint-out', endpoint: 'ep', wires: [['opStatus']] },
      { id: 'records', z: TAB, type: 'helper' },
      { id: 'opStatus', z: TAB, type: 'helper' },
      { id: 'dev', type: 'c8y-device', host: '127.0.0.1', port, transport: 'mqtt', tenant: '', deviceId: 'e2e-dev1', devName: 'E2E device', devType: 'c8y_NodeRED', operations: 'c8y_Command,c8y_Restart', interval: 5, pending: true, queueSize: 100 },
      { id: 'reg', z: TAB, type: 'c8y-device-registration', host: '127.0.0.1', port, transport: 'mqtt', user: 'management/devicebootstrap', device: 'dev', interval: 0.2, start: 'auto', wires: [['creds']] },
      { id: 'creds', z: TAB, type: 'helper' },
      { id: 'in1', z: TAB, type: 'c8y-in', device: 'dev', executing: true, errors: false, outputs: 1, wires: [['ops']] },
      { id: 'ops', z: TAB, type: 'helper' },
      { id: 'out1', z: TAB, type: 'c8y-out', device: 'dev', qos: '1', mode: 's', wires: [] },
    ];
    await helper.load([...nodes, ...endpointModules], f, { ep: { bootstrapPassword: 'boot-e2e' }, reg: { password: 'boot-e2e' } });
    const dev = helper.getNode('dev') as unknown as C8yDeviceNode;
    const records = collect(helper.getNode('records'));
    const opStatus = collect(helper.getNode('opStatus'));
    const ops = collect(helper.getNode('ops'));
    const [creds] = await collect(helper.getNode('creds')).next(1, 10000);
    assert.equal(creds.payload.tenant, 'edge');
    assert.equal(creds.payload.username, 'device_e2e-dev1');
    await until(() => dev.connection?.state === 'connected', 10000, 'device connected with the issued credentials');
    // startup phase seen by the endpoint, in order
    await until(() => records.received.some((m) => m.payload.messageId === 500), 5000, '500 at the endpoint');
    const ids = records.received.map((m) => m.payload.messageId);
    assert.deepEqual(ids.slice(0, 4), [100, 114, 117, 500]);
    // a measurement
    helper.getNode('out1').receive({ payload: { messageId: 200, values: { fragment: 'c8y_Temperature', series: 'T', value: 23.5, unit: 'C' } } });
    await until(() => records.received.some((m) => m.payload.messageId === 200), 5000, 'measurement');
    const meas = records.received.find((m) => m.payload.messageId === 200);
    assert.equal(meas.device, 'e2e-dev1');
    assert.deepEqual(meas.payload.fields, ['c8y_Temperature', 'T', '23.5', 'C']);
    // operation down → EXECUTING (501 from c8y-in) → SUCCESSFUL (503 from c8y-out)
    helper.getNode('epOut').receive({ device: 'e2e-dev1', payload: { messageId: 511, values: { command: 'uptime' } } });
    const [op] = await ops.next(1, 5000);
    assert.equal(op.payload.name, 'c8y_Command');
    assert.equal(op.payload.values.command, 'uptime');
    await until(() => opStatus.received.some((m) => m.topic === 'operation/EXECUTING'), 5000, 'EXECUTING at the endpoint');
    helper.getNode('out1').receive({ ...op, payload: { status: 'SUCCESSFUL', result: ['up 3 days'] } });
    await until(() => opStatus.received.some((m) => m.topic === 'operation/SUCCESSFUL'), 5000, 'SUCCESSFUL at the endpoint');
    const done = opStatus.received.find((m) => m.topic === 'operation/SUCCESSFUL');
    assert.equal(done.payload.fragment, 'c8y_Command');
    assert.deepEqual(done.payload.parameters, ['up 3 days']);
    assert.ok(records.received.some((m) => m.payload.messageId === 501 && m.payload.fields[0] === 'c8y_Command'));
    assert.ok(records.received.some((m) => m.payload.messageId === 503 && m.payload.fields.join(',') === 'c8y_Command,up 3 days'));
    // a second operation, FAILED
    helper.getNode('epOut').receive({ device: 'e2e-dev1', payload: { messageId: 510, values: {} } });
    const op2 = (await ops.next(2, 5000))[1];
    assert.equal(op2.payload.name, 'c8y_Restart');
    helper.getNode('out1').receive({ ...op2, payload: { status: 'FAILED', reason: 'not now' } });
    await until(() => opStatus.received.some((m) => m.topic === 'operation/FAILED'), 5000, 'FAILED at the endpoint');
    assert.equal(opStatus.received.find((m) => m.topic === 'operation/FAILED').payload.failureReason, 'not now');
  });
});
