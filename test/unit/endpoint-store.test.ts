/**
 * The endpoint's durable state without Node-RED: the store contract for the file and memory stores, the file
 * store's atomic files, time-ordered ids, operations restored from a store, and the availability tracker on an
 * injected clock.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore } from '../../src/endpoint/store-file';
import { IdSequence, MemoryStore, type EndpointStore } from '../../src/endpoint/store';
import { OPEN_BYTES_LIMIT, OPEN_LIMIT, OPEN_TOTAL_LIMIT, OperationStore, type Operation } from '../../src/endpoint/operations';
import { AvailabilityTracker, type AvailabilityChange } from '../../src/endpoint/availability';
import { storeContract } from '../support/store-contract';

const dirs: string[] = [];
function tmpPrefix(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'endpoint-store-'));
  dirs.push(dir);
  return path.join(dir, 'c8y-endpoint', 'ep1');
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

storeContract('FileStore', {
  open: async () => new FileStore(tmpPrefix()),
  reopen: async (s) => new FileStore((s as FileStore).prefix),
});
storeContract('MemoryStore', {
  open: async () => new MemoryStore(),
  reopen: async (s) => (s as MemoryStore).reopen(),
});

describe('FileStore files', () => {
  it('replaces each file atomically: a temporary file is renamed, the file is always whole JSON', async () => {
    const prefix = tmpPrefix();
    const s = new FileStore(prefix, 0);
    const file = s.fileOf('operations');
    const seen: string[] = [];
    const watcher = setInterval(() => {
      if (fs.existsSync(file)) seen.push(fs.readFileSync(file, 'utf8'));
    }, 1);
    for (let i = 0; i < 30; i++) await s.write('operations', [{ key: String(i), value: 'y'.repeat(50_000) }]);
    clearInterval(watcher);
    await s.close();
    for (const text of seen) JSON.parse(text);
    assert.equal((fs.statSync(file).mode & 0o777).toString(8), '600');
    assert.deepEqual(fs.readdirSync(path.dirname(file)).sort(), ['ep1-operations.json'], 'no temporary file left');
  });
  it('a crash before the rename leaves the old file, which still loads', async () => {
    const prefix = tmpPrefix();
    const s = new FileStore(prefix);
    await s.write('operations', [{ key: 'a', value: 1 }]);
    await s.close();
    // What a crash in the middle of the next write leaves behind: a partial temporary file.
    fs.writeFileSync(`${s.fileOf('operations')}.999.tmp`, '{"version":1,"rec');
    const r = new FileStore(prefix);
    assert.deepEqual([...(await r.load('operations'))], [['a', 1]]);
  });
  it('refuses a broken or foreign file with a clear error instead of starting empty', async () => {
    const prefix = tmpPrefix();
    fs.mkdirSync(path.dirname(prefix), { recursive: true });
    fs.writeFileSync(`${prefix}-operations.json`, '{"version":1,"records":{"a"');
    await assert.rejects(new FileStore(prefix).load('operations'), /ep1-operations\.json is not valid JSON.*move it away/);
    fs.writeFileSync(`${prefix}-operations.json`, '[1,2]');
    await assert.rejects(new FileStore(prefix).load('operations'), /not an endpoint store file/);
  });
  it('coalesces a burst of writes into one file write and reports write failures', async () => {
    const prefix = tmpPrefix();
    const s = new FileStore(prefix, 20);
    const writes = Array.from({ length: 500 }, (_, i) => s.write('operations', [{ key: String(i), value: i }]));
    assert.equal(fs.existsSync(s.fileOf('operations')), false, 'nothing written within the window');
    await Promise.all(writes);
    assert.equal(Object.keys(JSON.parse(fs.readFileSync(s.fileOf('operations'), 'utf8')).records).length, 500);
    // A directory where the file should go: the write fails with the file's name.
    const blocked = new FileStore(path.join(prefix, 'x'), 0);
    await blocked.load('operations');
    fs.mkdirSync(blocked.fileOf('operations'), { recursive: true });
    await assert.rejects(blocked.write('operations', [{ key: 'a', value: 1 }]), /cannot write .*x-operations\.json/);
  });
});

describe('IdSequence', () => {
  it('hands out increasing, time-ordered numeric ids that a restart does not repeat', () => {
    let t = 1_800_000_000_000;
    const a = new IdSequence(0, () => t);
    const first = a.next();
    assert.equal(first, String(t * 1000));
    const burst = Array.from({ length: 5000 }, () => a.next());
    assert.equal(new Set(burst).size, 5000);
    assert.ok(burst.every((id, i) => i === 0 || Number(id) > Number(burst[i - 1])));
    // Restart with the stored counter, and the clock went back an hour: still no repeat.
    t -= 3_600_000;
    const b = new IdSequence(a.value, () => t);
    assert.ok(Number(b.next()) > Number(burst[4999]));
    // Restart without the counter (lost file), clock moved on: the time alone keeps ids new.
    t += 3_600_000 + 10;
    assert.ok(Number(new IdSequence(0, () => t).next()) > Number(burst[4999]));
    assert.ok(Number.isSafeInteger(Number(first)) && /^\d{16}$/.test(first));
  });
});

const op = (deviceId: string, line = '510,' + deviceId, source?: string) => ({ deviceId, target: deviceId, fragment: 'c8y_Restart', messageId: 510, topic: 's/ds', line, ...(source ? { source } : {}) });

async function settled(store: EndpointStore) {
  await new Promise((r) => setImmediate(r));
  await store.flush();
}

describe('OperationStore with a store', () => {
  it('restores PENDING and EXECUTING operations and the id counter, not finished ones', async () => {
    const store = new MemoryStore();
    const a = new OperationStore();
    await a.restore(store);
    const p = a.create(op('d1', '510,d1', 'out-node'));
    const x = a.create(op('d1'));
    const done = a.create(op('d1'));
    a.setById('d1', x.id, 'EXECUTING');
    a.setById('d1', done.id, 'SUCCESSFUL');
    await settled(store);
    const b = new OperationStore();
    assert.deepEqual(await b.restore(store.reopen()), []);
    assert.deepEqual(b.all('d1').map((o) => [o.id, o.status, o.source]), [[p.id, 'PENDING', 'out-node'], [x.id, 'EXECUTING', undefined]]);
    assert.equal(b.get(done.id), undefined);
    const next = b.create(op('d1'));
    assert.ok(Number(next.id) > Number(done.id), 'ids keep growing after a restart');
    // 504–506 act on restored operations.
    assert.equal(b.setById('d1', x.id, 'SUCCESSFUL').status, 'SUCCESSFUL');
  });
  it('drops operations of removed devices and beyond the bounds as FAILED with a reason', async () => {
    const store = new MemoryStore();
    const a = new OperationStore();
    await a.restore(store);
    for (let i = 0; i < 3; i++) a.create(op('gone'));
    const kept = a.create(op('d1'));
    await settled(store);
    // A stored file from a version with a larger bound: more than OPEN_LIMIT open operations for one device.
    const stored = store.reopen();
    const extra: Operation[] = Array.from({ length: OPEN_LIMIT + 2 }, (_, i) => ({ ...op('busy'), id: String(100 + i), status: 'PENDING', created: '', updated: '' }));
    await stored.write('operations', extra.map((o) => ({ key: o.id, value: o })));
    const b = new OperationStore();
    const dropped = await b.restore(stored, (d) => d !== 'gone');
    const reasons = dropped.map((o) => `${o.deviceId}:${o.status}:${o.failureReason}`);
    assert.equal(reasons.filter((r) => r === 'gone:FAILED:dropped: device gone was removed').length, 3);
    assert.deepEqual(dropped.filter((o) => o.deviceId === 'busy').map((o) => o.id), ['1100', '1101'], 'the newest beyond the bound');
    assert.equal(dropped.find((o) => o.deviceId === 'busy')!.failureReason, 'dropped: device busy already has 1000 open operations (limit 1000)');
    assert.equal(b.get(kept.id)?.status, 'PENDING');
    assert.equal(b.pending('busy').length, OPEN_LIMIT);
    await settled(stored);
    // Dropped operations are gone from the store too.
    const c = new OperationStore();
    assert.deepEqual(await c.restore(stored.reopen(), () => true), []);
    assert.equal(c.all('gone').length, 0);
  });
  it('refuses new operations beyond the per-device, total and byte bounds, and a finished one frees its place', () => {
    const ops = new OperationStore();
    for (let i = 0; i < OPEN_LIMIT; i++) ops.create(op('d1'));
    assert.throws(() => ops.create(op('d1')), /already has 1000 open operations/);
    const first = ops.pending('d1')[0];
    ops.setById('d1', first.id, 'FAILED');
    ops.create(op('d1'));
    for (let d = 1; ops.openTotal < OPEN_TOTAL_LIMIT; d++) ops.create(op(`dev${Math.floor(d / OPEN_LIMIT)}`));
    assert.throws(() => ops.create(op('fresh')), /endpoint already holds 100000 open operations/);
    const big = new OperationStore();
    const line = 'x'.repeat(16_000);
    for (let i = 0; (i + 1) * 16_000 <= OPEN_BYTES_LIMIT; i++) big.create(op(`b${Math.floor(i / OPEN_LIMIT)}`, line));
    assert.throws(() => big.create(op('fresh', line)), /would exceed 67108864 bytes/);
  });
  it('reports store write failures and keeps working in memory', async () => {
    const store = new MemoryStore();
    const ops = new OperationStore();
    await ops.restore(store);
    const errors: Error[] = [];
    ops.onStoreError = (e) => errors.push(e);
    await store.close();
    const o = ops.create(op('d1'));
    await new Promise((r) => setImmediate(r));
    assert.match(errors[0]?.message ?? '', /closed/);
    assert.equal(ops.get(o.id)?.status, 'PENDING');
  });
});

describe('AvailabilityTracker', () => {
  function tracker() {
    let t = 1_000_000;
    const changes: AvailabilityChange[] = [];
    const tr = new AvailabilityTracker((c) => changes.push(c), () => t);
    return { tr, changes, advance: (ms: number) => (t += ms), states: () => changes.splice(0).map((c) => `${c.device}:${c.state}:${c.reason}`) };
  }
  it('reports connection changes once each', () => {
    const { tr, states } = tracker();
    tr.connected('d1');
    tr.connected('d1');
    tr.disconnected('d1', 'connection lost, last will sent');
    tr.disconnected('d1', 'again');
    tr.disconnected('never', 'x');
    assert.deepEqual(states(), ['d1:CONNECTED:connected', 'd1:DISCONNECTED:connection lost, last will sent']);
    assert.equal(tr.connectedCount, 0);
  });
  it('turns UNAVAILABLE when the required interval passes without a message, AVAILABLE on the next', () => {
    const { tr, states, advance } = tracker();
    tr.connected('d1');
    tr.requiredInterval('d1', 2);
    tr.message('d1');
    advance(119_000);
    tr.sweep();
    assert.deepEqual(states(), ['d1:CONNECTED:connected', 'd1:AVAILABLE:message received']);
    advance(2000);
    tr.sweep();
    tr.sweep();
    assert.deepEqual(states(), ['d1:UNAVAILABLE:no message within the required interval of 2 minutes']);
    assert.equal(tr.unavailable, 1);
    tr.message('d1');
    tr.message('d1');
    assert.deepEqual(states(), ['d1:AVAILABLE:message received']);
    assert.equal(tr.unavailable, 0);
    // A disconnected monitored device still turns unavailable.
    tr.disconnected('d1', 'disconnected');
    advance(200_000);
    tr.sweep();
    assert.deepEqual(states(), ['d1:DISCONNECTED:disconnected', 'd1:UNAVAILABLE:no message within the required interval of 2 minutes']);
  });
  it('stops monitoring at an interval of 0 or less and keeps no entry for idle devices', () => {
    const { tr, states, advance } = tracker();
    tr.requiredInterval('c1', 1);
    tr.requiredInterval('c1', 0);
    tr.requiredInterval('c2', -5);
    tr.requiredInterval('c3', Number.NaN);
    tr.message('c1');
    advance(10 * 60_000);
    tr.sweep();
    assert.deepEqual(states(), []);
    assert.equal(tr.state('c1'), undefined);
    assert.equal(tr.state('c2'), undefined);
  });
  it('counts a restored interval from the start and sweeps on one timer', async () => {
    const changes: AvailabilityChange[] = [];
    let t = 0;
    const tr = new AvailabilityTracker((c) => changes.push(c), () => t);
    tr.requiredInterval('d9', 1, true);
    tr.start(5);
    t = 61_000;
    const end = Date.now() + 10_000;
    while (!changes.length && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    tr.stop();
    assert.deepEqual(changes.map((c) => c.state), ['UNAVAILABLE']);
  });
});
