/**
 * The endpoint server without Node-RED (as test/runtime/mqtt-connection.test.ts tests the transport): an
 * EndpointServer with an in-memory registry and inventory, MQTT.js devices on loopback, its events and its close.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { EndpointServer, type EndpointProblem, type EndpointRecord, type LoginRefusal, type RegistrationRequest } from '../../src/endpoint/server';
import { DeviceRegistry } from '../../src/endpoint/registry';
import { Inventory } from '../../src/endpoint/inventory';
import type { Operation } from '../../src/endpoint/operations';
import { until } from '../support/broker';
import { deviceClients, inbox } from '../support/endpoint';

const TENANT = 'srv';
const BOOT = { username: 'management/boot', password: 'boot-pw' };

describe('EndpointServer without Node-RED', { timeout: 60_000 }, () => {
  let server: EndpointServer;
  const events = { records: [] as EndpointRecord[], problems: [] as EndpointProblem[], requests: [] as RegistrationRequest[], operations: [] as Operation[], refused: [] as LoginRefusal[] };
  const clients = deviceClients(() => server.addresses.mqtt!);

  before(async () => {
    const registry = new DeviceRegistry();
    await registry.set('plain-1', 'pw-1');
    server = await EndpointServer.start({ port: 0, tenant: TENANT, bootstrap: { username: 'boot', password: BOOT.password }, registry, inventory: new Inventory(), brake: { baseDelayMs: 10, maxDelayMs: 20 } });
    server.on('record', (r: EndpointRecord) => events.records.push(r));
    server.on('problem', (p: EndpointProblem) => events.problems.push(p));
    server.on('registration', (r: RegistrationRequest) => events.requests.push(r));
    server.on('operation', (o: Operation) => events.operations.push(o));
    server.on('refused', (r: LoginRefusal) => events.refused.push(r));
  });
  after(async () => {
    clients.endAll();
    await server.close();
  });

  it('authenticates a device, emits its records and answers, and delivers operations', async () => {
    const dev = await clients.connect({ clientId: 'd:plain-1', username: `${TENANT}/device_plain-1`, password: 'pw-1' });
    const box = inbox(dev);
    await dev.subscribeAsync(['s/ds', 's/e'], { qos: 1 });
    await dev.publishAsync('s/us', '100,Plain,c8y_Plain\n211,21.5\n999', { qos: 1 });
    await until(() => events.records.length === 2, 3000, 'two records');
    assert.deepEqual(events.records.map((r) => [r.device, r.kind, r.record.messageId]), [['plain-1', 'inventory', 100], ['plain-1', 'measurement', 211]]);
    assert.equal(await box.next('s/e'), '40,999,No static template for this message id');
    assert.equal(events.problems[0].code, 40);
    const [op] = server.sendOperation({ device: 'plain-1', payload: ['510', 'plain-1'] });
    assert.equal(await box.next('s/ds'), '510,plain-1');
    assert.deepEqual([op.status, events.operations.at(-1)?.id], ['PENDING', op.id]);
    assert.equal(server.inventory.get('plain-1')?.name, 'Plain');
    assert.equal(server.clientCounts().devices, 1);
    assert.equal(await clients.refusedWith({ clientId: 'plain-1', username: `${TENANT}/device_plain-1`, password: 'nope' }), 4);
    assert.equal(events.refused.at(-1)?.code, 4);
    assert.equal(server.loginStats().refused, 1);
  });

  it('registers a device through the bootstrap user; the flow accepts it', async () => {
    const boot = await clients.connect({ clientId: 'fresh-1', ...BOOT });
    const box = inbox(boot);
    await boot.subscribeAsync('s/dcr', { qos: 1 });
    await boot.publishAsync('s/ucr', '', { qos: 1 });
    await until(() => events.requests.some((r) => r.deviceId === 'fresh-1'), 3000, 'a request');
    server.accept('fresh-1');
    await boot.publishAsync('s/ucr', '', { qos: 1 });
    const [code, tenant, user] = (await box.next('s/dcr')).split(',');
    assert.deepEqual([code, tenant, user], ['70', TENANT, 'device_fresh-1']);
    assert.ok(server.registry.has('fresh-1'));
    assert.throws(() => server.accept('fresh-1'), /already registered/);
  });

  it('closes every connection and frees its port', async () => {
    const port = server.addresses.mqtt!;
    const dev = await clients.connect({ clientId: 'plain-1', username: `${TENANT}/device_plain-1`, password: 'pw-1' });
    const closed = new Promise<void>((r) => dev.once('close', () => r()));
    await server.close();
    await closed;
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    await new Promise<void>((r) => probe.close(() => r()));
  });
});
