/**
 * c8y-endpoint with state in Redis across real `node-red` processes (issue 17, active/standby): instance A serves,
 * instance B (another user dir) is standby; A is killed with SIGKILL while a device holds acknowledged and open
 * operations; B takes over when A's lease expires, the device reconnects to B and gets exactly the operations it had
 * not acknowledged, and B reports their status changes; A restarted rejoins as standby and duplicates nothing.
 * Debian's redis-server on a free loopback port; free ports only (no fixed-port lock needed).
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { deployAndWait, freePort, injectNode, startNodeRed, type NodeRedProcess } from '../support/nodered';
import { until } from '../support/broker';
import { redisAvailable, startRedis, type RedisServer } from '../support/redis';

const TENANT = 'fo';
const DEV = { id: 'fo-dev', password: 'fo-pw-1' };
const LEASE_MS = 3000;
const skip = redisAvailable() ? false : 'redis-server is not installed';

const processes: NodeRedProcess[] = [];
let redis: RedisServer | undefined;
after(async () => {
  for (const nr of processes) await nr.stop().catch(() => undefined);
  await redis?.stop();
});

function flow(port: number, redisUrl: string) {
  const tab = 'fo-tab';
  return [
    { id: tab, type: 'tab', label: 'failover' },
    { id: 'fo-ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: TENANT, state: 'redis', redisUrl, redisPrefix: 'fo', credentials: { devices: `${DEV.id}:${DEV.password}` } },
    { id: 'fo-inject', z: tab, type: 'inject', name: 'five', props: [], repeat: '', once: false, wires: [['fo-fn']] },
    {
      id: 'fo-fn',
      z: tab,
      type: 'function',
      name: '5 commands',
      func: `let n = context.get('n') || 0; const out = [];
for (let k = 0; k < 5; k++) out.push({ device: '${DEV.id}', payload: { messageId: 511, values: { command: 'c' + (n++) } } });
context.set('n', n); return [out];`,
      outputs: 1,
      wires: [['fo-out']],
    },
    { id: 'fo-out', z: tab, type: 'c8y-endpoint-out', endpoint: 'fo-ep', wires: [['fo-debug']] },
    { id: 'fo-debug', z: tab, type: 'debug', active: true, tosidebar: false, console: true, complete: 'topic', targetType: 'msg' },
  ];
}

function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('c8y-endpoint: active/standby in Redis across Node-RED processes', { skip }, () => {
  it('SIGKILL of the active instance: the standby takes over, the device gets what it had not acknowledged, nothing is duplicated', { timeout: 240_000 }, async () => {
    redis = await startRedis({ persistence: true });
    const [pa, pb] = [await freePort(), await freePort()];
    const settings = { extraSettings: { c8yEndpoint: { leaseMs: LEASE_MS } } };
    const a = await startNodeRed(settings);
    processes.push(a);
    await deployAndWait(a, flow(pa, redis.url));
    await until(() => a.log.some((l) => /listening on 127\.0\.0\.1/.test(l)), 60_000, 'A listening');
    const b = await startNodeRed(settings);
    processes.push(b);
    await deployAndWait(b, flow(pb, redis.url));
    // B is standby: deployed, but not listening while A holds the lease.
    await new Promise((r) => setTimeout(r, LEASE_MS));
    assert.equal(await listens(pb), false, 'the standby does not listen');

    await injectNode(a.url, 'fo-inject');
    await until(async () => (await redis!.command('HLEN', 'fo:operations')) === ':5', 30_000, '5 operations in Redis');

    // The device on A (the balancer's job is done by MQTT.js' server list here): takes two operations to the end.
    const dev = mqtt.connect({
      servers: [{ host: '127.0.0.1', port: pa }, { host: '127.0.0.1', port: pb }],
      clientId: DEV.id,
      username: `${TENANT}/device_${DEV.id}`,
      password: DEV.password,
      reconnectPeriod: 300,
      connectTimeout: 3000,
    });
    const lines: string[] = [];
    let connects = 0;
    dev.on('connect', () => {
      connects++;
      void dev.subscribeAsync('s/ds', { qos: 1 }).catch(() => undefined);
    });
    dev.on('message', (_t, p) => lines.push(...p.toString().split('\n')));
    try {
      await until(() => lines.length >= 5, 30_000, 'the 5 PENDING lines on A');
      assert.deepEqual(lines.slice(0, 5), [0, 1, 2, 3, 4].map((i) => `511,${DEV.id},c${i}`));
      await dev.publishAsync('s/us', '501,c8y_Command\n503,c8y_Command,done0\n501,c8y_Command\n503,c8y_Command,done1', { qos: 1 });
      await until(async () => (await redis!.command('HLEN', 'fo:operations')) === ':3', 30_000, 'the two finished operations leave Redis');

      const exited = new Promise((r) => a.child.once('exit', r));
      a.child.kill('SIGKILL');
      await exited;
      lines.length = 0;
      const bLog = b.log.length;
      await until(() => b.log.slice(bLog).some((l) => /listening on 127\.0\.0\.1/.test(l)), 60_000, 'B takes over');
      await until(() => connects >= 2 && lines.length >= 3, 60_000, 'the device on B gets its open operations');
      assert.deepEqual([...lines].sort(), [2, 3, 4].map((i) => `511,${DEV.id},c${i}`), 'exactly the unacknowledged ones');
      // B reports the status changes of A's operations (the debug node logs c8y-endpoint-out's topic).
      await dev.publishAsync('s/us', '501,c8y_Command\n503,c8y_Command,done2', { qos: 1 });
      await until(() => b.log.some((l) => /operation\/SUCCESSFUL/.test(l)), 30_000, 'B reports SUCCESSFUL');
      await until(async () => (await redis!.command('HLEN', 'fo:operations')) === ':2', 30_000, 'B wrote it to Redis');

      // A restarted on its user dir: standby, and nothing is duplicated.
      const a2 = await startNodeRed({ ...settings, userDir: a.userDir });
      processes.push(a2);
      await until(() => a2.log.some((l) => /Started flows/.test(l)), 60_000, 'A restarted with its flow');
      await new Promise((r) => setTimeout(r, LEASE_MS * 2));
      assert.equal(await listens(pa), false, 'the restarted A is standby');
      assert.equal(await redis.command('HLEN', 'fo:operations'), ':2');
      assert.ok(b.log.some((l) => /listening on 127\.0\.0\.1/.test(l)) && (await listens(pb)), 'B still serves');
    } finally {
      dev.end(true);
    }
  });
});
