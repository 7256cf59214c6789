/** The shared MQTT transport against a real broker (aedes): status fan-out, queue, reconnect, refusals, close. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, ConnectionClosedError, MqttConnection, QueueFullError, type StatusLike } from '../../src/mqtt/connection';
import { topicMatches, effectiveFilter } from '../../src/mqtt/topic-match';
import { freePort, startBroker, until, type TestBroker } from '../support/broker';

function user(id: string) {
  const statuses: StatusLike[] = [];
  return { id, statuses, status: (s: StatusLike) => void statuses.push(s), last: () => statuses[statuses.length - 1] };
}

const FAST = { initialMs: 50, maxMs: 200, jitter: 0.2 };

describe('topic matching', () => {
  it('matches wildcards and shared subscriptions as brokers do', () => {
    const yes: [string, string][] = [['a/+/c', 'a/b/c'], ['a/#', 'a'], ['a/#', 'a/b/c'], ['#', 'x/y'], ['+/+', 'a/b'], ['a/+', 'a/'], ['s/us', 's/us']];
    const no: [string, string][] = [['a/+/c', 'a/b/d'], ['a/+', 'a/b/c'], ['a/b', 'a/bc'], ['+', '$SYS'], ['#', '$SYS/x'], ['a/b/c', 'a/b']];
    for (const [f, t] of yes) assert.ok(topicMatches(f, t), `${f} ~ ${t}`);
    for (const [f, t] of no) assert.ok(!topicMatches(f, t), `${f} !~ ${t}`);
    assert.equal(effectiveFilter('$share/g1/site/+/x'), 'site/+/x');
  });
  it('backs off exponentially with bounded jitter', () => {
    const o = { initialMs: 1000, maxMs: 60000, factor: 2, jitter: 0.5 };
    assert.equal(backoffDelay(0, o, () => 1), 1000);
    assert.equal(backoffDelay(0, o, () => 0), 500);
    assert.equal(backoffDelay(3, o, () => 1), 8000);
    assert.equal(backoffDelay(50, o, () => 1), 60000);
  });
});

describe('MqttConnection against aedes', () => {
  let broker: TestBroker;
  before(async () => (broker = await startBroker()));
  after(() => broker.stop());

  it('connects on first registration, fans status out and replays nothing twice', async () => {
    const c = new MqttConnection({ url: broker.url, clientId: 'fan-out', backoff: FAST });
    const a = user('a');
    const b = user('b');
    c.register(a);
    c.register(b);
    await until(() => c.state === 'connected');
    assert.equal(a.last()?.fill, 'green');
    assert.equal(b.last()?.text, 'connected');
    const got: string[] = [];
    await c.subscribe('t/fan/#', 1, (topic, payload) => got.push(`${topic}=${payload}`));
    await c.publish('t/fan/1', 'x', { qos: 1 });
    await until(() => got.length === 1);
    c.deregister(a);
    assert.deepEqual(a.last(), {});
    await c.close();
    assert.deepEqual(b.last(), {});
    assert.ok(!broker.clients().includes('fan-out'));
  });

  it('queues while offline, delivers in order after a broker restart, and loses no QoS 1 message', async () => {
    const port = await freePort();
    const b2 = await startBroker({ port });
    const c = new MqttConnection({ url: b2.url, clientId: 'restart', backoff: FAST, queueLimit: { messages: 10000, bytes: 1e7 } });
    c.register(user('u'));
    await until(() => c.state === 'connected');
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      sends.push(c.publish('t/seq', String(i), { qos: 1 }));
      if (i === 100 || i === 200) await b2.restart(150);
    }
    await Promise.all(sends);
    // aedes emits 'publish' after it sent the PUBACK, so give its event loop a moment to catch up.
    const seen = () => new Set(b2.published.filter((p) => p.topic === 't/seq').map((p) => Number(p.payload)));
    await until(() => seen().size === 300, 5000, 'all 300 messages at the broker').catch(() => undefined);
    const got = seen();
    for (let i = 0; i < 300; i++) assert.ok(got.has(i), `message ${i} lost`);
    await c.close();
    await b2.stop();
  });

  it('rejects at once when the offline queue is full, and counts it', async () => {
    const port = await freePort(); // nothing listens: offline
    const c = new MqttConnection({ url: `mqtt://127.0.0.1:${port}`, clientId: 'q', backoff: FAST, queueLimit: { messages: 2, bytes: 1000 } });
    c.register(user('u'));
    const p1 = c.publish('t', 'a', { qos: 1 });
    const p2 = c.publish('t', 'b', { qos: 1 });
    await assert.rejects(c.publish('t', 'c', { qos: 1 }), QueueFullError);
    assert.equal(c.droppedCount, 1);
    await c.close();
    await assert.rejects(p1, ConnectionClosedError);
    await assert.rejects(p2, ConnectionClosedError);
  });

  it('stops after a refusal the policy does not retry, and retries the ones it does', async () => {
    let attempts = 0;
    const auth = await startBroker({ authenticate: (_id, u) => (attempts++, u === 'good' ? 0 : u === 'busy' ? 3 : 4) });
    const bad = new MqttConnection({ url: auth.url, clientId: 'bad', username: 'bad', password: 'x', backoff: FAST, retryRefused: (code) => code === 3 });
    const u = user('u');
    bad.register(u);
    await until(() => bad.state === 'refused');
    assert.equal(bad.refusedCode, 4);
    assert.match(u.last()!.text!, /bad username or password/);
    const before = attempts;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(attempts, before, 'no reconnect storm after code 4');
    bad.restart({ username: 'good' });
    await until(() => bad.state === 'connected');
    await bad.close();

    attempts = 0;
    const busy = new MqttConnection({ url: auth.url, clientId: 'busy', username: 'busy', backoff: FAST, retryRefused: (code) => code === 3 });
    busy.register(user('v'));
    await until(() => attempts >= 3, 5000, 'retries after code 3');
    assert.notEqual(busy.state, 'refused');
    await busy.close();
    await auth.stop();
  });

  it('closes while waiting to reconnect without leaving a client or timer behind', async () => {
    const port = await freePort();
    const c = new MqttConnection({ url: `mqtt://127.0.0.1:${port}`, clientId: 'closing', backoff: { initialMs: 10000, maxMs: 10000 } });
    c.register(user('u'));
    await until(() => c.state === 'disconnected');
    await c.close();
    assert.equal(c.state, 'closed');
    // The process would be kept alive by a leaked timer or socket; node:test reports that as a hang.
  });
});
