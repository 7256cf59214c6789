/**
 * Heavy bridge cases (npm run test:full): the engine behind the broker-bridge node (the node is a thin wrapper),
 * Debian mosquitto as the source, aedes (restartable, with a broker-side log of every PUBLISH) as the target.
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

function connection(url: string, clientId: string, clean = true) {
  const c = new MqttConnection({ url, clientId, clean, manualAcks: true, backoff: { initialMs: 100, maxMs: 300, jitter: 0.5 }, queueLimit: { messages: 20000, bytes: 64 << 20 } });
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
async function floodFromChild(url: string, n: number, topicPrefix: string): Promise<void> {
  const script = `
    const mqtt = require('mqtt');
    const c = mqtt.connect(${JSON.stringify(url)}, { clientId: 'flood-' + process.pid });
    c.on('connect', async () => {
      for (let i = 0; i < ${n}; i++) {
        if (i % 1000 === 999) await new Promise((r) => c.publish(${JSON.stringify(topicPrefix)} + (i % 1000), String(i), { qos: 0 }, r));
        else c.publish(${JSON.stringify(topicPrefix)} + (i % 1000), String(i), { qos: 0 });
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
    const sending = publishMany(M.url, N, (i) => `heavy/${i}`, 1);
    for (let r = 0; r < 5; r++) {
      await new Promise((res) => setTimeout(res, 1500));
      await T.restart(300);
    }
    await sending;
    await until(() => b.engine.stats().totals.forwarded >= N, 120_000, 'all forwarded');
    const copies = T.published.filter((p) => p.topic.startsWith('copy/'));
    const unique = new Set(copies.map((p) => p.topic)).size;
    const st = b.engine.stats();
    console.log(`# 100k: forwarded ${st.totals.forwarded}, at target ${copies.length} (${unique} unique), re-sent ${st.resent}`);
    assert.equal(unique, N, 'zero lost');
    assert.ok(copies.length - N <= st.resent, 'duplicates are only re-sends after reconnects (counted)');
    await b.close();
  });

  it('1,000,000 messages while the target is down: memory stays within the outbox limit plus a constant', { timeout: 300_000 }, async () => {
    await T.stop();
    const limit = { maxMessages: 10_000, maxBytes: 4 << 20, policy: 'drop-oldest' as const };
    const s = connection(M.url, 'h2-src');
    const t = connection(T.url, 'h2-tgt');
    const engine = new BridgeEngine({ rules: compileRules([{ filter: 'flood/#rest', target: 'x/{rest}' }]), source: s, target: t, outbox: limit });
    try {
      await engine.start();
      await until(() => s.state === 'connected', 5000, 'source connected');
      gc();
      const before = process.memoryUsage().heapUsed;
      const N = 1_000_000;
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 200);
      await floodFromChild(M.url, N, 'flood/');
      let last = -1;
      await until(() => {
        const m = engine.stats().totals.matched;
        const stable = m === last;
        last = m;
        return m >= N || stable;
      }, 240_000, 'flood processed');
      await until(() => engine.stats().totals.matched === last, 1000, 'settled').catch(() => undefined);
      clearInterval(sampler);
      gc();
      const retained = process.memoryUsage().heapUsed - before;
      const st = engine.stats();
      console.log(`# 1M: matched ${st.totals.matched}, queued ${st.queue.toTarget.depth} (${st.queue.toTarget.bytes} B), queue-full drops ${st.totals.dropped['queue-full']}, heap +${(retained / 1048576).toFixed(1)} MB retained after GC (+${((peak - before) / 1048576).toFixed(1)} MB peak with garbage)`);
      assert.ok(st.totals.matched > 0.9 * N, 'the flood reached the bridge');
      assert.ok(st.queue.toTarget.depth <= limit.maxMessages);
      assert.equal(st.totals.matched, st.queue.toTarget.depth + st.totals.dropped['queue-full'] + st.queue.toTarget.inflight, 'every message is queued or counted as dropped');
      assert.ok(retained < limit.maxBytes + 16 * 1048576, `heap retained ${retained} bytes with the outbox full`);
    } finally {
      await engine.close();
      await s.close();
      await t.close();
      await T.restart(0);
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
