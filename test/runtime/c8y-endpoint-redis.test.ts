/**
 * c8y-endpoint with state `Redis` in a real Node-RED runtime (node-red-node-test-helper) against Debian's
 * redis-server on a loopback port: open operations live in Redis, not in the user dir, so a second Node-RED with
 * another user dir (another machine) takes them over; a Redis restart shows in the status and loses nothing; bad
 * settings give a clear error.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { helper, collect, TAB } from '../support/flow';
import { freePort, until } from '../support/broker';
import { redisAvailable, startRedis, type RedisServer } from '../support/redis';
import endpointNode = require('../../src/nodes/c8y-endpoint/runtime');
import inNode = require('../../src/nodes/c8y-endpoint-in/runtime');
import outNode = require('../../src/nodes/c8y-endpoint-out/runtime');
import type { C8yEndpointNode } from '../../src/nodes/c8y-endpoint/types';
import { RedisStore } from '../../src/endpoint/store-redis';
import type { C8yEndpointOutOutput } from '../../src/nodes/c8y-endpoint-out/types';

const skip = redisAvailable() ? false : 'redis-server is not installed';
const nodes = [endpointNode, inNode, outNode];
const TENANT = 't17';
const DEV = { id: 'redis-dev', password: 'redis-pw-1' };

let port: number;
let redis: RedisServer;
const dirs: string[] = [];
const clients: MqttClient[] = [];

function flow(ep: Record<string, unknown> = {}) {
  return [
    { id: TAB, type: 'tab' },
    { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: TENANT, serviceUser: '', state: 'redis', redisUrl: redis.url, redisPrefix: 'test17', ...ep },
    { id: 'in', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'all', reportErrors: false, wires: [[]] },
    { id: 'out', z: TAB, type: 'c8y-endpoint-out', endpoint: 'ep', wires: [['ops']] },
    { id: 'ops', z: TAB, type: 'helper' },
  ];
}

/** A fresh Node-RED runtime on a new user dir: another instance (machine) as far as files go. */
async function newRuntime(leaseMs = 1500) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-endpoint-redis-'));
  dirs.push(dir);
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  // A short lease, so that a standby takes over within seconds in the tests (default 15 s).
  helper.settings({ userDir: dir, c8yEndpoint: { leaseMs } } as never);
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
  return dir;
}

async function deploy(ep: Record<string, unknown> = {}) {
  await helper.load(nodes, flow(ep), { ep: { devices: `${DEV.id}:${DEV.password}` } });
  const node = helper.getNode('ep') as unknown as C8yEndpointNode;
  const ops = collect(helper.getNode('ops'));
  // Observe the status the endpoint gives its nodes (c8y-endpoint-in shows it).
  const inn = helper.getNode('in') as unknown as { status(s: { text?: string; fill?: string }): void };
  const statuses: { text?: string; fill?: string }[] = [];
  const status = inn.status.bind(inn);
  inn.status = (s) => (statuses.push(s), status(s));
  return { node, ops, statuses };
}

async function connect(): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: DEV.id, username: `${TENANT}/device_${DEV.id}`, password: DEV.password, reconnectPeriod: 0, connectTimeout: 5000 });
  clients.push(c);
  return c;
}

describe('c8y-endpoint: state in Redis', { skip }, () => {
  before(async () => {
    redis = await startRedis({ persistence: true });
    port = await freePort();
    await new Promise<void>((resolve) => helper.startServer(() => resolve()));
  });
  after(async () => {
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
    await redis?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await helper.unload();
  });

  it('keeps open operations in Redis: another Node-RED with another user dir delivers them, ids keep growing', async () => {
    const dirA = await newRuntime();
    let t = await deploy();
    await until(() => t.node.server()?.addresses.mqtt === port, 10_000, 'endpoint A listening');
    helper.getNode('out').receive({ device: DEV.id, payload: { messageId: 510, values: {} } });
    helper.getNode('out').receive({ device: DEV.id, payload: { messageId: 511, values: { command: 'uptime' } } });
    const created = (await t.ops.next(2)) as C8yEndpointOutOutput[];
    assert.deepEqual(created.map((m) => m.topic), ['operation/PENDING', 'operation/PENDING']);
    await helper.unload();
    // Nothing of the operations in A's user dir: they are in Redis under the prefix.
    const files = fs.existsSync(path.join(dirA, 'c8y-endpoint')) ? fs.readdirSync(path.join(dirA, 'c8y-endpoint')) : [];
    assert.deepEqual(files.filter((f) => /operations|sequences/.test(f)), []);
    assert.equal(await redis.command('HLEN', 'test17:operations'), ':2');

    // Instance B: another runtime, another user dir, the same Redis and prefix.
    await newRuntime();
    t = await deploy();
    await until(() => t.node.server()?.addresses.mqtt === port, 10_000, 'endpoint B listening');
    const dev = await connect();
    const got: string[] = [];
    // One message may carry several lines.
    dev.on('message', (topic, payload) => got.push(...payload.toString().split('\n').map((l) => `${topic}|${l}`)));
    await dev.subscribeAsync('s/ds', { qos: 1 });
    await until(() => got.includes('s/ds|510,redis-dev') && got.includes('s/ds|511,redis-dev,uptime'), 10_000, 'operations of A delivered by B').catch((e) => {
      throw new Error(`${e.message}: got ${JSON.stringify(got)}, ops ${JSON.stringify(t.ops.received.map((m: any) => [m.topic, m.payload?.failureReason]))}, pending ${JSON.stringify(t.node.server()?.operations.all(DEV.id))}`);
    });
    await dev.publishAsync('s/us', '501,c8y_Restart\n503,c8y_Restart', { qos: 1 });
    await until(() => t.ops.received.length >= 2, 10_000, 'status changes reported by B');
    assert.deepEqual(t.ops.received.map((m: C8yEndpointOutOutput) => `${m.operationId}:${m.topic}`), [`${created[0].operationId}:operation/EXECUTING`, `${created[0].operationId}:operation/SUCCESSFUL`]);
    helper.getNode('out').receive({ device: DEV.id, payload: { messageId: 510, values: {} } });
    const fresh = ((await t.ops.next(3, 10_000)) as C8yEndpointOutOutput[])[2];
    assert.equal(fresh.topic, 'operation/PENDING');
    assert.ok(Number(fresh.operationId) > Number(created[1].operationId), 'the id sequence continues across instances');
    await until(async () => (await redis.command('HLEN', 'test17:operations')) === ':2', 10_000, 'the finished operation leaves Redis');
  });

  it('one active instance per prefix: a standby waits while another holds the lease, takes over when it is freed, and stops serving when it loses it', async () => {
    await newRuntime();
    // The test process plays instance A holding the lease.
    const a = await RedisStore.open({ url: redis.url, prefix: 'lease17' });
    try {
      assert.equal(await a.lease('active', 'instance-A', 60_000), true);
      const t = await deploy({ redisPrefix: 'lease17' });
      await until(() => t.statuses.some((s) => /standby: another instance is active/.test(s.text ?? '')), 10_000, 'standby status');
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(t.node.server(), undefined, 'a standby does not listen');
      await a.release('active', 'instance-A');
      await until(() => t.node.server()?.addresses.mqtt === port, 10_000, 'the standby takes over');
      assert.equal(await a.lease('active', 'instance-A', 60_000), false, 'A cannot take it back while B renews it');
      // Someone else takes the lease (B's renewals were lost, say): B stops serving devices.
      assert.equal(await redis.command('SET', 'lease17:lease:active', 'instance-C'), '+OK');
      await until(() => t.node.server() === undefined, 10_000, 'B stops serving');
      await until(() => /standby/.test(t.statuses.at(-1)?.text ?? ''), 10_000, 'B back to standby');
      await redis.command('DEL', 'lease17:lease:active');
      await until(() => t.node.server()?.addresses.mqtt === port, 10_000, 'B serves again');
    } finally {
      await a.close();
    }
  });

  it('a Redis restart shows in the status and loses no operation created meanwhile', async () => {
    // A lease longer than the outage: a shorter one would (rightly) stop serving, see the lease test.
    await newRuntime(60_000);
    const t = await deploy({ redisPrefix: 'restart17' });
    await until(() => t.node.server()?.addresses.mqtt === port, 10_000, 'endpoint listening');
    await redis.down(true);
    await until(() => t.statuses.some((s) => /Redis unreachable/.test(s.text ?? '') && s.fill === 'yellow'), 10_000, 'status says Redis is unreachable');
    helper.getNode('out').receive({ device: DEV.id, payload: { messageId: 510, values: {} } });
    const [op] = (await t.ops.next(1)) as C8yEndpointOutOutput[];
    assert.equal(op.topic, 'operation/PENDING', 'the endpoint keeps working while Redis is down');
    await redis.up();
    await until(() => !/Redis unreachable/.test(t.statuses.at(-1)?.text ?? '') && t.statuses.at(-1)?.fill === 'green', 10_000, 'status back to green');
    await until(async () => (await redis.command('HLEN', 'restart17:operations')) === ':1', 10_000, 'the operation reached Redis');
  });

  it('an endpoint deployed while Redis is down says so and starts once Redis is back', async () => {
    await newRuntime();
    await redis.down();
    try {
      const t = await deploy({ redisPrefix: 'late17' });
      await until(() => t.statuses.some((s) => /cannot reach Redis/.test(s.text ?? '')), 30_000, 'error status');
      assert.equal(t.node.server(), undefined);
      await redis.up();
      await until(() => t.node.server()?.addresses.mqtt === port, 30_000, 'endpoint listening after Redis is back');
    } finally {
      await redis.up().catch(() => undefined);
    }
  });

  it('bad Redis settings give a clear error in the status, and a password is never in it', async () => {
    await newRuntime();
    const bad = await freePort();
    const t = await deploy({ redisUrl: `redis://someone:hunter2@127.0.0.1:${bad}`, redisPrefix: 'x' });
    const seen = t.statuses.map((s) => s.text ?? '');
    const ep = t.node;
    void seen;
    const texts = () => t.statuses.map((s) => s.text ?? '');
    await until(() => texts().some((s) => /cannot reach Redis/.test(s)), 20_000, 'error status');
    assert.ok(texts().every((s) => !s.includes('hunter2')), JSON.stringify(texts()));
    assert.equal(ep.server(), undefined);
    await helper.unload();
    await deploy({ redisUrl: '', redisPrefix: 'x' });
    // This error comes before the test can watch the status: the log has it (node.error of the endpoint).
    const logged = () => helper.log().args.map((a: any[]) => String(a[0]?.msg));
    await until(() => logged().some((m: string) => /endpoint: state is Redis but no Redis URL is set/.test(m)), 10_000, 'missing URL error');
    assert.ok(logged().every((m: string) => !m.includes('hunter2')), 'no password in the log');
  });
});
