/**
 * Heavy bridge cases (npm run test:full): the engine behind the broker-bridge node (the node is a thin wrapper),
 * Debian mosquitto as the source, aedes (restartable, with a broker-side log of every PUBLISH) as the target;
 * and two Debian mosquitto instances bridged both ways over MQTT 5.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import mqtt from 'mqtt';
import { BridgeEngine } from '../../src/bridge/engine';
import { compileRules, type RuleConfig } from '../../src/bridge/rules';
import { MqttConnection } from '../../src/mqtt/connection';
import { startBroker, until, type TestBroker } from '../support/broker';
import { mosquittoAvailable, startMosquitto, type Mosquitto } from '../support/mosquitto';

const skip = !mosquittoAvailable() && 'mosquitto is not installed';

/** A full garbage collection, so that retained memory is measured rather than garbage not yet collected. */
function gc(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** Heap and Buffer memory (payloads live outside the JS heap). */
function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Live heap + buffers after full collections. V8 frees ArrayBuffer backing stores on a background sweeper after a
 * GC, so `arrayBuffers` read right after gc() still counts buffers already dead (seen: 15–60 MB after a 1 GB flood).
 * Collect again after short pauses until two readings agree within 1 MB.
 */
async function settledMemory(): Promise<number> {
  gc();
  let last = memory();
  for (let round = 0; round < 10; round++) {
    await new Promise((r) => setTimeout(r, 100));
    gc();
    const now = memory();
    if (Math.abs(now - last) < 1048576) return now;
    last = now;
  }
  return last;
}

function connection(url: string, clientId: string, clean = true, extra: Partial<ConstructorParameters<typeof MqttConnection>[0]> = {}) {
  const c = new MqttConnection({ url, clientId, clean, manualAcks: true, backoff: { initialMs: 100, maxMs: 300, jitter: 0.5 }, queueLimit: { messages: 20000, bytes: 64 << 20 }, ...extra });
  c.register({ id: 'test', status: () => undefined });
  return c;
}

async function bridge(source: string, target: string, rules: RuleConfig[], id: string, outbox?: ConstructorParameters<typeof BridgeEngine>[0]['outbox']) {
  const s = connection(source, `${id}-src`);
  const t = connection(target, `${id}-tgt`);
  const engine = new BridgeEngine({ rules: compileRules(rules), source: s, target: t, outbox, drainRate: 0 });
  await engine.start();
  await until(() => s.state === 'connected' && t.state === 'connected', 5000, 'connected');
  return {
    engine,
    async close() {
      await engine.close();
      await s.close();
      await t.close();
    },
  };
}

/**
 * Publishes n QoS 0 messages from a separate process (so that the publisher's buffers do not count in this
 * process's memory), waiting for the socket write of every 1000th message.
 */
async function floodFromChild(url: string, n: number, topicPrefix: string, payloadBytes = 0): Promise<void> {
  const script = `
    const mqtt = require('mqtt');
    const pad = 'x'.repeat(${payloadBytes});
    const c = mqtt.connect(${JSON.stringify(url)}, { clientId: 'flood-' + process.pid });
    c.on('connect', async () => {
      for (let i = 0; i < ${n}; i++) {
        if (i % 1000 === 999) await new Promise((r) => c.publish(${JSON.stringify(topicPrefix)} + (i % 1000), i + pad, { qos: 0 }, r));
        else c.publish(${JSON.stringify(topicPrefix)} + (i % 1000), i + pad, { qos: 0 });
      }
      c.end(false, {}, () => process.exit(0));
    });`;
  const child = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), stdio: 'inherit' });
  await new Promise<void>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`flood exited ${code}`)))));
}

/** Publishes n QoS q messages with at most `window` unacknowledged. */
async function publishMany(url: string, n: number, topic: (i: number) => string, qos: 0 | 1, window = 2000): Promise<void> {
  const c = await mqtt.connectAsync(url, { clientId: `pub-${Math.random().toString(16).slice(2)}` });
  let outstanding = 0;
  let wake: (() => void) | undefined;
  for (let i = 0; i < n; i++) {
    if (qos === 0) {
      c.publish(topic(i), String(i), { qos: 0 });
      if (i % 5000 === 0) await new Promise((r) => setImmediate(r));
      continue;
    }
    while (outstanding >= window) await new Promise<void>((r) => (wake = r));
    outstanding++;
    c.publish(topic(i), String(i), { qos: 1 }, () => {
      outstanding--;
      wake?.();
      wake = undefined;
    });
  }
  while (outstanding > 0) await new Promise<void>((r) => (wake = r));
  await c.endAsync();
}

describe('broker-bridge heavy', { skip, concurrency: false }, () => {
  let M: Mosquitto;
  let T: TestBroker;
  before(async () => {
    M = await startMosquitto();
    T = await startBroker();
  });
  after(async () => {
    await M?.stop();
    await T?.stop();
  });

  it('100,000 QoS 1 messages while the target restarts 5 times: none lost, duplicates counted', { timeout: 240_000 }, async () => {
    T.published.length = 0;
    const b = await bridge(M.url, T.url, [{ filter: 'heavy/+n', target: 'copy/{n}' }], 'h1');
    const N = 100_000;
    let sent = false;
    const sending = publishMany(M.url, N, (i) => `heavy/${i}`, 1).then(() => (sent = true));
    const restartsDuringStream: number[] = [];
    for (let r = 0; r < 5; r++) {
      // spread over the stream: the next restart once another 15 % went through
      await until(() => b.engine.stats().totals.forwarded >= (r + 1) * 0.15 * N || sent, 60_000, `progress before restart ${r + 1}`);
      restartsDuringStream.push(b.engine.stats().totals.forwarded);
      await T.restart(300);
    }
    await sending;
    assert.ok(restartsDuringStream.every((f) => f < N), `all 5 restarts happened mid-stream (forwarded at each: ${restartsDuringStream.join(', ')})`);
    await until(() => b.engine.stats().totals.forwarded >= N, 120_000, 'all forwarded');
    const copies = T.published.filter((p) => p.topic.startsWith('copy/'));
    const unique = new Set(copies.map((p) => p.topic)).size;
    const st = b.engine.stats();
    console.log(`# 100k: forwarded ${st.totals.forwarded}, at target ${copies.length} (${unique} unique), re-sent ${st.resent}`);
    assert.equal(unique, N, 'zero lost');
    assert.ok(copies.length - N <= st.resent, 'duplicates are only re-sends after reconnects (counted)');
    assert.deepEqual(st.totals.dropped, { unmapped: 0, loop: 0, expired: 0, 'queue-full': 0, error: 0, skipped: 0 }, 'nothing dropped');
    await b.close();
  });

  it('1,000,000 messages of 1 kB while the target is down: memory stays within the outbox limit plus a constant', { timeout: 300_000 }, async () => {
    await T.stop();
    // 1 kB payloads: the byte bound (4 MB, about 3,300 entries) is what stops the growth, not the count
    const limit = { maxMessages: 10_000, maxBytes: 4 << 20, policy: 'drop-oldest' as const };
    const s = connection(M.url, 'h2-src');
    const t = connection(T.url, 'h2-tgt');
    const engine = new BridgeEngine({ rules: compileRules([{ filter: 'flood/#rest', target: 'x/{rest}' }]), source: s, target: t, outbox: limit });
    try {
      await engine.start();
      await until(() => s.state === 'connected', 5000, 'source connected');
      const before = await settledMemory();
      const N = 1_000_000;
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, memory())), 100);
      await floodFromChild(M.url, N, 'flood/', 1000);
      let last = -1;
      await until(() => {
        const m = engine.stats().totals.matched;
        const stable = m === last;
        last = m;
        return m >= N || stable;
      }, 240_000, 'flood processed');
      await until(() => engine.stats().totals.matched === last, 1000, 'settled').catch(() => undefined);
      clearInterval(sampler);
      const retained = (await settledMemory()) - before;
      const st = engine.stats();
      const mb = (n: number) => (n / 1048576).toFixed(1);
      console.log(`# 1M × 1 kB: matched ${st.totals.matched}, queued ${st.queue.toTarget.depth} (${st.queue.toTarget.bytes} B), queue-full drops ${st.totals.dropped['queue-full']}, heap + buffers +${mb(retained)} MB retained after GC, +${mb(peak - before)} MB peak (with garbage)`);
      assert.ok(st.totals.matched > 0.9 * N, 'the flood reached the bridge');
      assert.ok(st.queue.toTarget.depth <= limit.maxMessages);
      assert.ok(st.queue.toTarget.bytes <= limit.maxBytes, 'the byte bound holds');
      assert.ok(st.queue.toTarget.depth < 5000, `the byte bound is what limits (${st.queue.toTarget.depth} entries)`);
      assert.equal(st.totals.matched, st.queue.toTarget.depth + st.totals.dropped['queue-full'] + st.queue.toTarget.inflight, 'every message is queued or counted as dropped');
      assert.ok(retained < limit.maxBytes + 8 * 1048576, `heap + buffers retained ${mb(retained)} MB with the outbox full (limit ${mb(limit.maxBytes)} MB + 8 MB)`);
      // 1 GB went through: even with uncollected garbage (GC timing decides) the peak stays far below it
      assert.ok(peak - before < 400 * 1048576, `peak ${mb(peak - before)} MB`);
    } finally {
      await engine.close();
      await s.close();
      await t.close();
      await T.restart(0);
    }
  });

  it('stop-consuming through a 10 s target outage with keepalive 2 s: the source session stays, nothing lost or dropped', { timeout: 120_000 }, async () => {
    T.published.length = 0;
    const s = connection(M.url, 'h4-src', true, { keepalive: 2 });
    const t = connection(T.url, 'h4-tgt');
    let sourceDrops = 0;
    s.on('disconnected', () => sourceDrops++);
    const engine = new BridgeEngine({ rules: compileRules([{ filter: 'hold/+n', target: 'held/{n}' }]), source: s, target: t, outbox: { maxMessages: 100, policy: 'stop-consuming' }, drainRate: 0 });
    try {
      await engine.start();
      await until(() => s.state === 'connected' && t.state === 'connected', 5000, 'connected');
      await T.stop();
      const N = 2000;
      await publishMany(M.url, N, (i) => `hold/${i}`, 1);
      await until(() => s.incomingHeld, 10_000, 'the source reader held');
      const held = engine.stats();
      assert.ok(held.queue.toTarget.depth <= 200, `outbox ${held.queue.toTarget.depth}`);
      await new Promise((r) => setTimeout(r, 10_000)); // 5 keepalive periods with nothing read from the source
      assert.equal(sourceDrops, 0, 'the source connection was not lost (PINGREQs kept it alive)');
      assert.equal(s.state, 'connected');
      await T.restart(0);
      await until(() => new Set(T.published.filter((p) => p.topic.startsWith('held/')).map((p) => p.topic)).size === N, 60_000, 'all delivered');
      const st = engine.stats();
      assert.equal(st.totals.dropped['queue-full'], 0);
      assert.equal(sourceDrops, 0);
    } finally {
      await engine.close();
      await s.close();
      await t.close();
    }
  });

  it('two mosquitto brokers bridged both ways over MQTT 5: No-Local alone prevents the loop', { timeout: 60_000 }, async () => {
    const A = await startMosquitto();
    const B = await startMosquitto();
    const watchers: mqtt.MqttClient[] = [];
    const s = connection(A.url, 'h5-a', true, { protocolVersion: 5 });
    const t = connection(B.url, 'h5-b', true, { protocolVersion: 5 });
    // loopWindowMs 0: the content breaker is off, so only the brokers' No-Local can stop the echo
    const engine = new BridgeEngine({ rules: compileRules([{ filter: 'plant/#rest', target: 'plant/{rest}', direction: 'both' }]), source: s, target: t, loopWindowMs: 0, drainRate: 0 });
    try {
      await engine.start();
      await until(() => s.state === 'connected' && t.state === 'connected', 5000, 'connected');
      const seen: Record<string, string[]> = { A: [], B: [] };
      for (const [name, url] of [['A', A.url], ['B', B.url]] as const) {
        const w = await mqtt.connectAsync(url, { clientId: `watch-${name}` });
        watchers.push(w);
        w.on('message', (topic, payload) => seen[name].push(`${topic}=${payload}`));
        await w.subscribeAsync('plant/#', { qos: 1 });
      }
      const pa = await mqtt.connectAsync(A.url, { clientId: 'pub-a' });
      const pb = await mqtt.connectAsync(B.url, { clientId: 'pub-b' });
      watchers.push(pa, pb);
      await pa.publishAsync('plant/line1/temp', '20', { qos: 1 });
      await pb.publishAsync('plant/line2/temp', '30', { qos: 1 });
      await until(() => seen.A.includes('plant/line2/temp=30') && seen.B.includes('plant/line1/temp=20'), 5000, 'both ways');
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(seen.A.sort(), ['plant/line1/temp=20', 'plant/line2/temp=30'], 'each message once on A');
      assert.deepEqual(seen.B.sort(), ['plant/line1/temp=20', 'plant/line2/temp=30'], 'each message once on B');
      const st = engine.stats();
      assert.equal(st.totals.forwarded, 2);
      assert.equal(st.totals.dropped.loop, 0, 'the brokers did not send our own publishes back');
    } finally {
      for (const w of watchers) await w.endAsync(true).catch(() => undefined);
      await engine.close();
      await s.close();
      await t.close();
      await A.stop();
      await B.stop();
    }
  });

  it('two bridge instances on a $share/ subscription split the stream: nothing lost or duplicated', { timeout: 120_000 }, async () => {
    T.published.length = 0;
    const rules = [{ filter: '$share/bridges/load/+n', target: 'split/{n}' }];
    const a = await bridge(M.url, T.url, rules, 'sa');
    const b = await bridge(M.url, T.url, rules, 'sb');
    const N = 20_000;
    await publishMany(M.url, N, (i) => `load/${i}`, 1);
    await until(() => T.published.filter((p) => p.topic.startsWith('split/')).length >= N, 60_000, 'all at the target');
    await new Promise((r) => setTimeout(r, 500));
    const copies = T.published.filter((p) => p.topic.startsWith('split/'));
    const fa = a.engine.stats().totals.forwarded;
    const fb = b.engine.stats().totals.forwarded;
    console.log(`# $share: instance A ${fa}, instance B ${fb}`);
    assert.equal(new Set(copies.map((p) => p.topic)).size, N, 'nothing lost');
    assert.equal(copies.length, N, 'nothing duplicated');
    assert.ok(fa > N * 0.2 && fb > N * 0.2, 'both instances carried load');
    await a.close();
    await b.close();
  });
});
