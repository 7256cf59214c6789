/**
 * Issue #15 item 4: a connection that starts before its broker listens (the demo's in-process endpoint), or whose
 * broker restarts (a redeploy), shows `connecting` and raises no `client-error` (what nodes warn about); a broker
 * that stays away is still reported, after the grace. Real aedes broker, real sockets.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MqttConnection, type StatusLike } from '../../src/mqtt/connection';
import { freePort, startBroker, until, type TestBroker } from '../support/broker';

const open: MqttConnection[] = [];
const brokers: TestBroker[] = [];
after(async () => {
  for (const c of open) await c.close();
  for (const b of brokers) await b.stop();
});

function watch(c: MqttConnection) {
  const seen = { clientErrors: [] as string[], networkErrors: [] as string[], statuses: [] as StatusLike[] };
  c.on('client-error', (e: Error) => seen.clientErrors.push(e.message));
  c.on('network-error', (e: Error) => seen.networkErrors.push(e.message));
  c.on('status', (s: StatusLike) => seen.statuses.push(s));
  return seen;
}

function connection(port: number, extra: Partial<ConstructorParameters<typeof MqttConnection>[0]> = {}) {
  const c = new MqttConnection({ url: `mqtt://127.0.0.1:${port}`, clientId: `quiet-${port}-${open.length}`, backoff: { initialMs: 100, maxMs: 300, jitter: 0 }, ...extra });
  open.push(c);
  return c;
}

describe('transient network errors are a status, not a warning', () => {
  it('refused at start: status connecting, no client-error; connected once the broker listens', async () => {
    const port = await freePort();
    const c = connection(port);
    const seen = watch(c);
    c.register({ id: 'u', status: () => undefined });
    await until(() => seen.networkErrors.length >= 2, 5000, 'two refused attempts');
    assert.ok(seen.networkErrors.every((m) => /ECONNREFUSED/.test(m)));
    assert.ok(seen.statuses.every((s) => s.fill !== 'red'), `no red status while starting: ${JSON.stringify(seen.statuses)}`);
    assert.equal(seen.statuses[seen.statuses.length - 1].text, 'connecting');
    const b = await startBroker({ port });
    brokers.push(b);
    await until(() => c.state === 'connected', 5000, 'connected');
    assert.deepEqual(seen.clientErrors, []);
  });

  it('a broker restart (reset) while connected raises no client-error when it is back within the grace', async () => {
    const b = await startBroker();
    brokers.push(b);
    const c = connection(b.port);
    const seen = watch(c);
    c.register({ id: 'u', status: () => undefined });
    await until(() => c.state === 'connected', 5000, 'connected');
    await b.restart(300);
    await until(() => c.state === 'connected' && seen.statuses.some((s) => s.text === 'disconnected' || s.text === 'connecting'), 8000, 'reconnected after the restart');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen.clientErrors, []);
  });

  it('a broker that stays away is reported as client-error after the grace, with a red status that says why', async () => {
    const port = await freePort();
    const c = connection(port, { networkErrorGraceMs: 500 });
    const seen = watch(c);
    c.register({ id: 'u', status: () => undefined });
    await until(() => seen.clientErrors.length >= 1, 5000, 'client-error after the grace');
    assert.match(seen.clientErrors[0], /ECONNREFUSED/);
    // ... and the status says why: nothing listens there (e.g. the demo's Datacake stand-in is not running)
    await until(() => seen.statuses.some((s) => s.fill === 'red' && s.text === `disconnected: nothing listens on 127.0.0.1:${port}`), 5000, 'red with the reason once the grace is over');
  });

  it('close and a disconnect on purpose cancel a pending report', async () => {
    const port = await freePort();
    const a = connection(port, { networkErrorGraceMs: 400 });
    const b = connection(port, { networkErrorGraceMs: 400 });
    const seenA = watch(a);
    const seenB = watch(b);
    a.register({ id: 'u', status: () => undefined });
    b.register({ id: 'u', status: () => undefined });
    await until(() => seenA.networkErrors.length >= 1 && seenB.networkErrors.length >= 1, 5000, 'refused');
    await a.close();
    b.suspend({ fill: 'grey', shape: 'ring', text: 'down on purpose' });
    await new Promise((r) => setTimeout(r, 800));
    assert.deepEqual(seenA.clientErrors, []);
    assert.deepEqual(seenB.clientErrors, []);
  });
});
