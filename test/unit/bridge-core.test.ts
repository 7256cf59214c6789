import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fieldName, jsonPath, smartrestToFields } from '../../src/bridge/adapters';
import { LoopBreaker, contentHash } from '../../src/bridge/loop';
import { ENTRY_OVERHEAD, Outbox, type OutboxEntry } from '../../src/bridge/outbox';
import { SLAB_BYTES, SlabPool } from '../../src/bridge/slabs';

const entry = (i: number, extra: Partial<OutboxEntry> = {}): OutboxEntry => ({ topic: `t/${i}`, payload: Buffer.from(String(i)), qos: 1, retain: false, rule: 0, expires: 0, ...extra });

describe('bridge adapters', () => {
  it('smartrest-to-fields: one item per series value', () => {
    const r = smartrestToFields('200,c8y_Temperature,T,21.5,C\n201,S,,c8y_Env,hum,40,%,c8y_Env,press,1013,hPa\n210,-60\n211,20.5\n212,87\n400,c8y_Event,text', 's/us');
    assert.deepEqual(
      r.items.map((i) => [i.vars!.field, i.payload.toString()]),
      [['TEMPERATURE_T', '21.5'], ['ENV_HUM', '40'], ['ENV_PRESS', '1013'], ['RSSI', '-60'], ['TEMPERATURE', '20.5'], ['BATTERY', '87']],
    );
    // the event line is not a field: ignored (counted as skipped by the engine), not an error
    assert.equal(r.skipped, 0);
    assert.equal(r.ignored, 1);
    const bad = smartrestToFields('211,"never closed\n211,19', 's/us');
    assert.equal(bad.skipped, 1);
    assert.match(bad.reason!, /unterminated quote/);
    assert.deepEqual(bad.items.map((i) => i.payload.toString()), ['19']);
    assert.equal(fieldName('c8y_Battery', 'level'), 'BATTERY_LEVEL');
    assert.equal(fieldName('my-frag', 'a.b'), 'MY_FRAG_A_B');
  });

  it('json-path extracts a value', () => {
    assert.equal(jsonPath('{"data":{"values":[{"v":3.5}]}}', 'data.values[0].v').items[0].payload.toString(), '3.5');
    assert.equal(jsonPath('{"a":{"b":[1,2]}}', '$.a').items[0].payload.toString(), '{"b":[1,2]}');
    assert.equal(jsonPath('not json', 'a').skipped, 1);
    assert.equal(jsonPath('{"a":1}', 'b').skipped, 1);
  });
});

describe('bridge loop breaker', () => {
  it('remembers content for the window and consumes one echo per publish', () => {
    const lb = new LoopBreaker(1000);
    const k = contentHash(1, 'a/b', Buffer.from('x'));
    assert.notEqual(k, contentHash(2, 'a/b', Buffer.from('x')));
    assert.notEqual(k, contentHash(1, 'a/b', Buffer.from('y')));
    lb.remember(k, 0);
    assert.equal(lb.isLoop(k, 500), true);
    assert.equal(lb.isLoop(k, 500), false);
    lb.remember(k, 0);
    assert.equal(lb.isLoop(k, 2000), false);
  });

  it('is bounded', () => {
    const lb = new LoopBreaker(60000, 100);
    for (let i = 0; i < 1000; i++) lb.remember(i, 0);
    assert.ok(lb.size <= 100);
  });
});

describe('bridge outbox', () => {
  it('a churning drop-oldest outbox reuses its payload memory; copies stay intact until they leave', () => {
    const o = new Outbox({ maxMessages: 1000, maxBytes: 200 * 1024, policy: 'drop-oldest', onDrop: (e) => o.done(e) });
    const slabsSeen = new Set<ArrayBuffer>();
    for (let i = 0; i < 20000; i++) {
      const socketChunk = Buffer.alloc(4096, i % 251);
      o.push(entry(i, { payload: socketChunk.subarray(100, 1100) }));
    }
    // walk what is left: each copy owns its bytes (not the 4 kB chunk) and still holds its own value
    for (let e = o.shift(); e; e = o.shift()) {
      slabsSeen.add(e.payload.buffer);
      assert.equal(e.payload.length, 1000);
      assert.equal(e.payload.buffer.byteLength, SLAB_BYTES);
      assert.equal(e.payload[999], Number(e.topic.slice(2)) % 251);
      o.done(e);
    }
    // 20,000 copies of 1 kB went through; the slabs in use are about the bound's worth, not 20 MB
    assert.ok(slabsSeen.size <= Math.ceil((200 * 1024) / SLAB_BYTES) + 2, `${slabsSeen.size} slabs`);
  });

  it('slab pool: a slab returns only when every copy left, never one that held a handed-over QoS 0 copy', () => {
    const pool = new SlabPool(4);
    const q = SLAB_BYTES / 4;
    const first = [1, 2, 3, 4].map((v) => pool.copy(Buffer.alloc(q, v))); // fills one slab
    assert.ok(first.every((x) => x.slab === first[0].slab));
    const next = pool.copy(Buffer.alloc(q, 5)); // does not fit: a new slab
    assert.notEqual(next.slab, first[0].slab);
    for (const x of first.slice(0, 3)) pool.release(x.slab!);
    assert.equal(pool.freeCount, 0, 'one copy still lives');
    assert.equal(first[3].payload[0], 4, 'and keeps its bytes');
    pool.release(first[3].slab!);
    assert.equal(pool.freeCount, 1, 'every copy left: reused');
    for (let i = 0; i < 3; i++) pool.copy(Buffer.alloc(q, 6)); // fills the second slab
    const reused = pool.copy(Buffer.alloc(q, 7));
    assert.equal(reused.slab, first[0].slab, 'the free slab is taken again');
    pool.release(next.slab!, true); // handed to a socket as QoS 0
    for (let i = 0; i < 3; i++) pool.release(next.slab!);
    assert.equal(pool.freeCount, 0, 'a slab that held a handed-over QoS 0 copy is left to the garbage collector');
    assert.equal(pool.copy(Buffer.alloc(SLAB_BYTES, 6)).slab, undefined, 'large payloads get their own Buffer');
  });

  it('drop-oldest keeps the newest within count and bytes, reporting drops', () => {
    const drops: string[] = [];
    const ob = new Outbox({ maxMessages: 3, maxBytes: 1e6, policy: 'drop-oldest', onDrop: (e, r) => drops.push(`${e.topic}:${r}`) });
    for (let i = 0; i < 5; i++) ob.push(entry(i));
    assert.equal(ob.length, 3);
    assert.deepEqual(drops, ['t/0:queue-full', 't/1:queue-full']);
    assert.deepEqual([ob.shift()!.topic, ob.shift()!.topic, ob.shift()!.topic], ['t/2', 't/3', 't/4']);
    assert.equal(ob.bytes, 0);
  });

  it('drop-newest refuses new messages; byte bound applies', () => {
    const drops: string[] = [];
    const max = 3 * (ENTRY_OVERHEAD + 4);
    const ob = new Outbox({ maxMessages: 100, maxBytes: max, policy: 'drop-newest', onDrop: (e) => drops.push(e.topic) });
    let accepted = 0;
    for (let i = 0; i < 10; i++) if (ob.push(entry(i))) accepted++;
    assert.ok(ob.bytes <= max);
    assert.equal(accepted, 3);
    assert.equal(accepted + drops.length, 10);
    assert.equal(ob.shift()!.topic, 't/0');
  });

  it('stop-consuming keeps QoS 1 beyond the limit up to twice it, drops QoS 0', () => {
    const drops: string[] = [];
    const ob = new Outbox({ maxMessages: 2, maxBytes: 1e6, policy: 'stop-consuming', onDrop: (e) => drops.push(e.topic) });
    for (let i = 0; i < 3; i++) ob.push(entry(i));
    ob.push(entry(9, { qos: 0 }));
    ob.push(entry(10));
    ob.push(entry(11));
    assert.equal(ob.length, 4);
    assert.deepEqual(drops, ['t/9', 't/11']);
    assert.equal(ob.full, true);
  });

  it('drops expired entries at the head', () => {
    let now = 0;
    const drops: string[] = [];
    const ob = new Outbox({ maxMessages: 10, maxBytes: 1e6, policy: 'drop-oldest', now: () => now, onDrop: (e, r) => drops.push(`${e.topic}:${r}`) });
    ob.push(entry(0, { expires: 100 }));
    ob.push(entry(1, { expires: 0 }));
    now = 200;
    assert.equal(ob.shift()!.topic, 't/1');
    assert.deepEqual(drops, ['t/0:expired']);
  });

  it('persists to a journal and restores across a restart (compacted)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-'));
    const file = path.join(dir, 'q.jsonl');
    try {
      const a = new Outbox({ maxMessages: 100, maxBytes: 1e6, policy: 'drop-oldest', file });
      for (let i = 0; i < 5; i++) a.push(entry(i));
      a.done(a.shift()!);
      a.done(a.shift()!);
      a.close();
      const b = new Outbox({ maxMessages: 100, maxBytes: 1e6, policy: 'drop-oldest', file });
      assert.equal(b.length, 3);
      assert.equal(b.shift()!.payload.toString(), '2');
      b.close();
      assert.equal(fs.readFileSync(file, 'utf8').trim().split('\n').length, 3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
