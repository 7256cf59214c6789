/**
 * The shared transport's `failWhenRefused` option (issue 14 #6): after a refusal that is not retried, queued
 * publishes and every new one fail at once; without the option they keep waiting for a restart.
 * (A separate file from mqtt-connection.test.ts, which other work on the transport also touches.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionRefusedError, MqttConnection } from '../../src/mqtt/connection';
import { startBroker, until, type TestBroker } from '../support/broker';

const noop = { id: 'u', status: () => undefined };

describe('MqttConnection: publishes after a refusal that is not retried', () => {
  let broker: TestBroker;
  before(async () => (broker = await startBroker({ authenticate: (_id, user) => (user === 'good' ? 0 : 5) })));
  after(() => broker.stop());

  async function outcome(p: Promise<void>): Promise<string> {
    return p.then(
      () => 'sent',
      (err: Error) => err.name,
    );
  }

  it('failWhenRefused: the queued ones and every later one fail at once with ConnectionRefusedError', async () => {
    const c = new MqttConnection({ url: broker.url, clientId: 'refused-fail', username: 'bad', password: 'x', retryRefused: () => false, failWhenRefused: true });
    const queued = [c.publish('t/1', 'a', { qos: 1 }), c.publish('t/1', 'b', { qos: 0 })].map(outcome);
    c.register(noop);
    assert.equal(c.queued, 2);
    assert.deepEqual(await Promise.all(queued), ['ConnectionRefusedError', 'ConnectionRefusedError']);
    assert.equal(c.state, 'refused');
    assert.equal(c.queued, 0);
    await assert.rejects(c.publish('t/1', 'c', { qos: 1 }), (err: Error) => err instanceof ConnectionRefusedError && /not authorized/.test(err.message));
    // a restart with good credentials accepts publishes again
    c.restart({ username: 'good' });
    await c.publish('t/1', 'd', { qos: 1 });
    assert.deepEqual(broker.published.filter((p) => p.topic === 't/1').map((p) => p.payload), ['d']);
    await c.close();
  });

  it('without the option the queue is kept for a restart (a device that re-registers)', async () => {
    const c = new MqttConnection({ url: broker.url, clientId: 'refused-keep', username: 'bad', password: 'x', retryRefused: () => false });
    const p = c.publish('t/2', 'kept', { qos: 1 });
    c.register(noop);
    await until(() => c.state === 'refused');
    assert.equal(c.queued, 1);
    c.restart({ username: 'good' });
    await p;
    assert.deepEqual(broker.published.filter((x) => x.topic === 't/2').map((x) => x.payload), ['kept']);
    await c.close();
  });
});
