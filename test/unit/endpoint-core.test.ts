/** Pure endpoint core: ClientId, topic rules, registry, inventory, operations, answers. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseClientId, ClientIdError } from '../../src/endpoint/clientid';
import { devicePublish, deviceSubscribe, servicePublish, serviceSubscribe } from '../../src/endpoint/acl';
import { DeviceRegistry, parseStaticDevices, sameSecret } from '../../src/endpoint/registry';
import { Inventory } from '../../src/endpoint/inventory';
import { encodeOperations, OperationStore } from '../../src/endpoint/operations';
import { ANSWERED_IDS, answerRecord, emptyAnswer, UPSTREAM_IDS } from '../../src/endpoint/answers';
import { describeRecord } from '../../src/smartrest/records';
import type { DecodedRecord } from '../../src/smartrest/types';
import { nextMessageId } from '../../src/nodes/shared/msgid';

describe('endpoint ClientId', () => {
  it('parses [d:]<deviceId>[:<X-ID>]', () => {
    assert.deepEqual(parseClientId('dev1'), { deviceId: 'dev1' });
    assert.deepEqual(parseClientId('d:dev1'), { deviceId: 'dev1' });
    assert.deepEqual(parseClientId('d:dev1:tmpl'), { deviceId: 'dev1', xid: 'tmpl' });
  });
  it('refuses empty ids and a ":" inside the device id', () => {
    for (const bad of ['', 'd:', 'x:dev', 'd:a:b:c', 'dev:1', 'd:dev1:', 'a/b', 'd:a+b']) assert.throws(() => parseClientId(bad), ClientIdError, bad);
  });
});

describe('endpoint topic rules', () => {
  it('lets devices publish upstream and subscribe downstream topics only', () => {
    for (const t of ['s/us', 't/us', 'q/us/child', 'c/us', 's/uc/x', 's/uc/x/child', 's/ud', 's/ut/x', 's/ucr', 's/uat']) assert.equal(devicePublish('device', t).allow, true, t);
    for (const t of ['s/ds', 's/e', 'x/y', 't/ds', 'devices/a/s/us', 's/dcr']) assert.equal(devicePublish('device', t).allow, false, t);
    for (const t of ['s/ds', 's/dc/x', 's/dd', 's/e', 's/dcr', 's/dat', 's/dt']) assert.equal(deviceSubscribe('device', t), undefined, t);
    for (const t of ['s/us', 's/#', '#', 's/dc/+', 't/ds', 'devices/#']) assert.ok(deviceSubscribe('device', t), t);
  });
  it('gives the same, shared, frozen decision for a topic seen again, and stays right past its cache size', () => {
    const a = devicePublish('device', 's/us/child-1');
    assert.equal(devicePublish('device', 's/us/child-1'), a);
    assert.ok(Object.isFrozen(a));
    assert.ok(a.allow && Object.isFrozen(a.info) && a.info.child === 'child-1');
    // The bootstrap user has its own decisions for the same topic.
    assert.equal(devicePublish('bootstrap', 's/us/child-1').allow, false);
    // Many distinct child topics (more than the cache holds): each still decided on its own topic.
    for (let i = 0; i < 3000; i++) {
      const d = devicePublish('device', `s/us/c${i}`);
      assert.ok(d.allow && d.info.child === `c${i}`);
    }
    assert.equal(devicePublish('device', 's/ds').allow, false);
  });
  it('limits the bootstrap user to s/ucr and s/dcr (+ s/e)', () => {
    assert.equal(devicePublish('bootstrap', 's/ucr').allow, true);
    assert.equal(devicePublish('bootstrap', 's/us').allow, false);
    assert.equal(deviceSubscribe('bootstrap', 's/dcr'), undefined);
    assert.equal(deviceSubscribe('bootstrap', 's/e'), undefined);
    assert.ok(deviceSubscribe('bootstrap', 's/ds'));
  });
  it('keeps the service account in devices/<id>/', () => {
    assert.equal(serviceSubscribe('devices/+/s/us'), undefined);
    assert.ok(serviceSubscribe('#'));
    const p = servicePublish('devices/dev1/s/ds');
    assert.ok(p.allow && p.deviceId === 'dev1' && p.topic === 's/ds');
    assert.equal(servicePublish('devices/dev1/s/us').allow, false);
    assert.equal(servicePublish('s/ds').allow, false);
  });
});

describe('endpoint registry', () => {
  it('stores salted hashes atomically, verifies, and survives a reload', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reg-'));
    const file = path.join(dir, 'sub', 'devices.json');
    try {
      const reg = new DeviceRegistry(file);
      const { username, password } = await reg.issue('dev1');
      assert.equal(username, 'device_dev1');
      const text = fs.readFileSync(file, 'utf8');
      assert.ok(!text.includes(password));
      assert.deepEqual(fs.readdirSync(path.dirname(file)), ['devices.json'], 'no temporary file left');
      assert.equal((await reg.verify('device_dev1', password))?.deviceId, 'dev1');
      assert.equal((await reg.verify('device_dev1', password))?.deviceId, 'dev1', 'memoised');
      assert.equal(await reg.verify('device_dev1', 'wrong'), undefined);
      const again = new DeviceRegistry(file);
      assert.equal((await again.verify('device_dev1', Buffer.from(password)))?.deviceId, 'dev1');
      await again.set('static1', 'pw', 'static');
      assert.ok(!fs.readFileSync(file, 'utf8').includes('static1'), 'static entries are not persisted');
      assert.equal(again.remove('dev1'), true);
      assert.equal(new DeviceRegistry(file).size, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it('parses editor device lists and compares secrets', () => {
    assert.deepEqual(parseStaticDevices('a:1 b:2,\nc:x:y'), [{ deviceId: 'a', password: '1' }, { deviceId: 'b', password: '2' }, { deviceId: 'c', password: 'x:y' }]);
    assert.throws(() => parseStaticDevices('nopassword'));
    assert.equal(sameSecret('a', 'a'), true);
    assert.equal(sameSecret('a', 'b'), false);
    assert.equal(sameSecret(undefined, ''), false);
  });
});

describe('endpoint inventory', () => {
  it('creates devices and children idempotently and persists them', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inv-'));
    try {
      const file = path.join(dir, 'inv.json');
      const inv = new Inventory(file);
      const a = inv.ensureDevice('dev1', 'Dev', 't');
      assert.equal(a.created, true);
      assert.equal(inv.ensureDevice('dev1', 'Other').mo.name, 'Dev');
      inv.ensureChild('dev1', 'c1');
      inv.ensureChild('dev1', 'c1');
      assert.deepEqual(inv.children('dev1'), ['c1']);
      inv.setSupportedOperations('dev1', ['c8y_Restart', '']);
      assert.ok(inv.addCollection('x1', '10,1,POST,EVENT,,c8y_E,,'));
      assert.equal(inv.addCollection('x1', '10,1,POST,EVENT,,c8y_E,,'), undefined);
      inv.flush();
      const again = new Inventory(file);
      assert.equal(again.get('dev1')?.id, a.mo.id);
      assert.deepEqual(again.get('dev1')?.supportedOperations, ['c8y_Restart']);
      assert.ok(again.collection('x1'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('endpoint operations', () => {
  it('encodes operation records for a target and refuses the rest', () => {
    assert.deepEqual(encodeOperations({ messageId: 510, values: {} }, 'd1'), [{ line: '510,d1', fragment: 'c8y_Restart', messageId: 510, target: 'd1' }]);
    assert.equal(encodeOperations('511,d1,"a, b"', 'd1')[0].line, '511,d1,"a, b"');
    assert.throws(() => encodeOperations(['510', 'other'], 'd1'), /targets "other"/);
    assert.throws(() => encodeOperations({ messageId: 211, values: { value: 1 } }, 'd1'), /not a downstream operation/);
    assert.equal(encodeOperations(['77', 'x'], 'd1', { xid: 'c', fragment: 'f' })[0].line, '77,x');
  });
  it('moves status as the platform does', () => {
    const ops = new OperationStore();
    const mk = (fragment: string, target = 'd1') => ops.create({ deviceId: 'd1', target, fragment, messageId: 510, topic: 's/ds', line: '' });
    const a = mk('c8y_Restart');
    const b = mk('c8y_Restart');
    const c = mk('c8y_Command', 'child');
    assert.deepEqual(ops.pending('d1').map((o) => o.id), [a.id, b.id, c.id]);
    assert.equal(ops.setByFragment('d1', 'd1', 'c8y_Restart', 'EXECUTING').id, a.id, 'oldest first');
    assert.throws(() => ops.setByFragment('d1', 'd1', 'c8y_Command', 'EXECUTING'), /no PENDING operation/);
    assert.equal(ops.setByFragment('d1', 'd1', 'c8y_Restart', 'SUCCESSFUL', { parameters: ['x'] }).parameters?.[0], 'x');
    assert.throws(() => ops.setByFragment('d1', 'd1', 'c8y_Restart', 'FAILED'), /no EXECUTING/);
    assert.throws(() => ops.setById('other', b.id, 'EXECUTING'), /not found/);
    ops.setById('d1', b.id, 'EXECUTING');
    ops.setById('d1', c.id, 'EXECUTING');
    assert.deepEqual(ops.failExecuting('d1', 'd1', undefined, 'crash').map((o) => o.id), [b.id]);
    assert.throws(() => ops.setById('d1', b.id, 'SUCCESSFUL'), /already FAILED/);
    assert.equal(ops.get(c.id)?.status, 'EXECUTING');
  });
  it('answers 105, 123, 500, 600, 602 and reports unknown operations as refused', () => {
    const inventory = new Inventory();
    const operations = new OperationStore();
    const ctx = { deviceId: 'd1', target: 'd1', inventory, operations, platformVersion: 'v1' };
    const out = emptyAnswer();
    for (const line of [['101', 'c1'], ['105'], ['123'], ['500'], ['600'], ['602'], ['501', 'c8y_X']]) answerRecord(ctx, describeRecord(line), out);
    assert.equal(out.replies[0], '106,c1');
    assert.match(out.replies[1], /^124,\d+$/);
    assert.equal(out.replies[2], '601,v1');
    assert.match(out.replies[3], /^603,100,/);
    assert.equal(out.redeliver, true);
    assert.deepEqual(out.errors.map((e) => `${e.code},${e.id}`), ['41,501']);
  });
  // ANSWERED_IDS are the handler table's keys: each must do something, and no other upstream id may.
  it('acts on exactly the ids in ANSWERED_IDS', () => {
    const effect = (messageId: number) => {
      const inventory = new Inventory();
      const operations = new OperationStore();
      // One EXECUTING operation, so that 507 (fail what is executing) has something to act on.
      const op = operations.create({ deviceId: 'd1', target: 'd1', fragment: 'c8y_X', messageId: 510, topic: 's/ds', line: '' });
      operations.setById('d1', op.id, 'EXECUTING');
      const ctx = { deviceId: 'd1', target: 'd1', inventory, operations, platformVersion: 'v1' };
      const out = emptyAnswer();
      const rec: DecodedRecord = { messageId, fields: [], values: { uniqueChildId: 'c1', fragment: 'c8y_X', operationId: '1' } };
      answerRecord(ctx, rec, out);
      return out.replies.length + out.errors.length + out.changed.length + Number(out.redeliver) + inventory.list().length;
    };
    for (const id of UPSTREAM_IDS) assert.equal(effect(id) > 0, ANSWERED_IDS.has(id), String(id));
    for (const id of ANSWERED_IDS) assert.ok(UPSTREAM_IDS.includes(id as number), `${id} is an upstream static id`);
  });
});

describe('message ids', () => {
  it('are 16 hex digits like Node-RED ids, distinct, and counted', () => {
    const ids = Array.from({ length: 1000 }, () => nextMessageId());
    for (const id of ids) assert.match(id, /^[0-9a-f]{16}$/);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(parseInt(ids[999].slice(8), 16) - parseInt(ids[0].slice(8), 16), 999);
    assert.equal(ids[0].slice(0, 8), ids[999].slice(0, 8));
  });
});

describe('one id grammar (smartrest/ids.ts)', () => {
  it('refuses "/", wildcards, control characters and more than 128 bytes for every kind; ":" only in device ids', async () => {
    const { idProblem } = await import('../../src/smartrest/ids.js');
    for (const kind of ['device', 'child', 'xid'] as const) {
      for (const bad of ['', 'a/b', '../x', 'a+b', '#', 'a\nb', 'a\u0000', 'a\u007f', 'é'.repeat(65)]) assert.ok(idProblem(bad, kind), `${kind} ${JSON.stringify(bad)}`);
      for (const good of ['dev-1', 'a.b_c', 'é'.repeat(64), 'x'.repeat(128)]) assert.equal(idProblem(good, kind), undefined, `${kind} ${good}`);
    }
    assert.ok(idProblem('a:b', 'device'));
    assert.equal(idProblem('aa:bb:cc', 'child'), undefined);
    assert.ok(idProblem(42, 'child'));
  });
});

describe('endpoint login brake (policy)', () => {
  it('lets a clean address through at once, doubles the delay per failure, then refuses', async () => {
    const { LoginBrake } = await import('../../src/endpoint/auth.js');
    const brake = new LoginBrake({ baseDelayMs: 100, maxDelayMs: 500, lockAfter: 6, forgetMs: 60_000 });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const gate = brake.admit('t/device_x', '10.0.0.1');
      assert.equal(gate.refuse, undefined);
      delays.push(gate.delayMs);
      brake.failed('t/device_x', '10.0.0.1');
    }
    assert.deepEqual(delays, [0, 100, 200, 400, 500, 500]);
    assert.match(brake.admit('t/device_x', '10.0.0.1').refuse ?? '', /too many failed logins/);
    // Another address: no delay, even for the user under attack.
    assert.deepEqual(brake.admit('t/device_x', '10.0.0.2'), { delayMs: 0 });
    // An address with one failure trying the attacked user waits as long as that user's count says (and is locked).
    brake.failed('t/device_y', '10.0.0.3');
    assert.ok(brake.admit('t/device_x', '10.0.0.3').refuse);
    assert.deepEqual(brake.admit('t/device_y', '10.0.0.3'), { delayMs: 100 });
    brake.close();
  });
});

describe('endpoint delivery helpers', () => {
  it('cuts text to a byte bound on character boundaries and escapes control characters', async () => {
    const { cutUtf8, escapeControls } = await import('../../src/endpoint/delivery.js');
    assert.equal(cutUtf8('abc', 10), 'abc');
    assert.equal(cutUtf8('aé€😀', 6), 'aé€');
    assert.equal(cutUtf8('aé€😀', 5), 'aé');
    assert.equal(Buffer.byteLength(cutUtf8('😀'.repeat(100), 41)), 40);
    assert.equal(escapeControls('a\u0000b\u001fc'), 'a\\u0000b\\u001fc');
  });
});
