/**
 * c8y-endpoint attacked as issue #13 found it, in a real Node-RED runtime (node-red-node-test-helper) with MQTT.js
 * clients and raw sockets on loopback: takeover with the bootstrap password, a bootstrap login kicking a device,
 * password guessing, `500` amplification and a device that does not read, a control character in one record,
 * a device editing another device, orphan children, oversize `s/e` lines and a truncated CONNECT.
 * Every wait is bounded; nothing asserts on time.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { helper, catchNode, TAB, settle } from '../support/flow';
import { loadEndpointFlow } from '../support/endpoint-flow';
import { freePort, until } from '../support/broker';
import { connectPacket, deviceClients, inbox, rawConnection } from '../support/endpoint';
import endpointNode = require('../../src/nodes/c8y-endpoint/runtime');
import inNode = require('../../src/nodes/c8y-endpoint-in/runtime');
import outNode = require('../../src/nodes/c8y-endpoint-out/runtime');
import registrationNode = require('../../src/nodes/c8y-endpoint-registration/runtime');
import type { LoginRefusal } from '../../src/endpoint/server';
import { maxPayloadBytes } from '../../src/smartrest/limits';

const nodes = [endpointNode, inNode, outNode, registrationNode, catchNode];
const TENANT = 't4711';
const BOOT = { username: 'management/devicebootstrap', password: 'boot-secret' };
const DEV = { id: 'dev1', password: 'dev1-pw' };
const OTHER = { id: 'dev2', password: 'dev2-pw' };
const BRAKE = { baseDelayMs: 20, maxDelayMs: 100, lockAfter: 5, maxWaiting: 10 };
const LIMITS = { queueBytes: 256 * 1024, drainTimeoutMs: 1500, redeliverIntervalMs: 60_000 };

function flow(port: number) {
  return [
    { id: TAB, type: 'tab' },
    { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: TENANT, bootstrapUser: 'devicebootstrap', serviceUser: '' },
    { id: 'in', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'all', wires: [['records']] },
    { id: 'out', z: TAB, type: 'c8y-endpoint-out', endpoint: 'ep', wires: [['ops']] },
    { id: 'reg', z: TAB, type: 'c8y-endpoint-registration', endpoint: 'ep', allow: 'auto*', wires: [['requests']] },
    { id: 'c1', z: TAB, type: 'catch', scope: null, wires: [['caught']] },
    { id: 'records', z: TAB, type: 'helper' },
    { id: 'ops', z: TAB, type: 'helper' },
    { id: 'requests', z: TAB, type: 'helper' },
    { id: 'caught', z: TAB, type: 'helper' },
  ];
}

/** dev3 is registered but never publishes: it has no inventory entry a device could adopt. */
const CREDS = { ep: { bootstrapPassword: BOOT.password, devices: `${DEV.id}:${DEV.password} ${OTHER.id}:${OTHER.password} dev3:dev3-pw` } };

let port = 0;
let userDir: string;
const clients = deviceClients(() => port);
const device = (d: { id: string; password: string }, password = d.password) => ({ clientId: d.id, username: `${TENANT}/device_${d.id}`, password });

async function setup() {
  port = await freePort();
  return loadEndpointFlow(nodes, flow(port), CREDS, port, ['records', 'ops', 'requests', 'caught'] as const);
}

/** Bootstrap connection that polls s/ucr every 100 ms until stopped. */
async function bootstrap(clientId: string) {
  const c = await clients.connect({ clientId, ...BOOT });
  const box = inbox(c);
  await c.subscribeAsync(['s/dcr', 's/e'], { qos: 1 });
  const timer = setInterval(() => c.publish('s/ucr', '', { qos: 1 }), 100);
  return { c, box, stop: () => clearInterval(timer) };
}

before(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-endpoint-sec-'));
  // c8yEndpoint is this package's own settings.js key, unknown to the helper's settings type
  helper.settings({ userDir, c8yEndpoint: { brake: BRAKE, limits: LIMITS, connectTimeoutMs: 1000 } } as Parameters<typeof helper.settings>[0]);
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
});
after(async () => {
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  fs.rmSync(userDir, { recursive: true, force: true });
});
afterEach(async () => {
  clients.endAll();
  await helper.unload();
  // Operations are durable (they outlive the deploy): each test starts without the previous tests' operations.
  fs.rmSync(path.join(userDir, 'c8y-endpoint', 'ep-operations.json'), { force: true });
});

describe('c8y-endpoint security: registration', { timeout: 90_000 }, () => {
  it('finding 1: the bootstrap password gets no credentials for a registered device; a reset by the flow allows one re-registration', async () => {
    await setup();
    // The victim registered (auto-accepted) some time ago: a redeploy since then (its polls in flight right after
    // the registration are ignored for 30 s, which would hide the refusal).
    const first = await bootstrap('autoVictim');
    const [, , user, password] = (await first.box.next('s/dcr')).split(',');
    first.stop();
    await first.c.endAsync();
    await helper.unload();
    const t = await setup();
    const victim = await clients.connect({ clientId: 'autoVictim', username: `${TENANT}/${user}`, password });
    let victimClosed = false;
    victim.on('close', () => (victimClosed = true));

    // The attacker polls with the victim's ClientId: refused on s/e, no 70.
    const attacker = await bootstrap('autoVictim');
    try {
      assert.match(await attacker.box.next('s/e'), /^41,,device autoVictim is already registered/);
      await settle(300);
      assert.deepEqual(attacker.box.got.filter((m) => m.topic === 's/dcr'), [], 'no credentials for a registered device');
    } finally {
      attacker.stop();
    }
    const refused = await until(() => t.requests.received.some((m) => m.topic === 'registration/refused'), 3000, 'registration/refused').then(() =>
      t.requests.received.find((m) => m.topic === 'registration/refused'),
    );
    assert.equal(refused.payload.deviceId, 'autoVictim');
    // The victim's session and password still work.
    assert.ok(victim.connected && !victimClosed);
    assert.equal(await clients.refusedWith({ clientId: 'autoVictim', username: `${TENANT}/${user}`, password }), 0);

    // A device typed into Devices cannot be re-registered either, and the flow cannot accept it without a reset.
    const typed = await bootstrap(DEV.id);
    try {
      assert.match(await typed.box.next('s/e'), /already registered/);
    } finally {
      typed.stop();
    }
    helper.getNode('reg').receive({ accept: DEV.id });
    const [err] = await t.caught.next(1);
    assert.match(err.error.message, /already registered.*reset/);
    assert.equal(await clients.refusedWith(device(DEV)), 0);

    // The flow resets the victim: its next registration replaces the credentials (and is logged as a warning).
    helper.getNode('reg').receive({ reset: 'autoVictim' });
    await until(() => t.requests.received.some((m) => m.topic === 'registration/reset'), 3000, 'registration/reset');
    const again = await bootstrap('autoVictim');
    let line: string;
    try {
      line = await again.box.next('s/dcr');
    } finally {
      again.stop();
    }
    const [, , , newPassword] = line.split(',');
    assert.notEqual(newPassword, password);
    assert.equal(await clients.refusedWith({ clientId: 'autoVictim', username: `${TENANT}/${user}`, password }), 4, 'the old password is gone');
    assert.equal(await clients.refusedWith({ clientId: 'autoVictim', username: `${TENANT}/${user}`, password: newPassword }), 0);
    const warnings = helper.log().args.map((a: any[]) => a[0]).filter((e: any) => e.level === 30 && e.type === 'c8y-endpoint-registration');
    assert.ok(warnings.some((e: any) => /autoVictim reset/.test(e.msg)), 'the reset is logged');
  });

  it('finding 2: a bootstrap login with a device\'s ClientId never disconnects the device', async () => {
    await setup();
    const dev = await clients.connect(device(DEV));
    const devIn = inbox(dev);
    let closed = false;
    dev.on('close', () => (closed = true));
    await dev.subscribeAsync('s/ds', { qos: 1 });
    for (let i = 0; i < 3; i++) {
      const boot = await clients.connect({ clientId: DEV.id, ...BOOT });
      assert.ok(boot.connected, 'the bootstrap login itself is accepted');
    }
    await dev.publishAsync('s/us', '600', { qos: 1 });
    assert.match(await devIn.next('s/ds'), /^601,/);
    assert.ok(dev.connected && !closed, 'the device session survives bootstrap logins with its ClientId');
  });
});

describe('c8y-endpoint security: login brake', { timeout: 90_000 }, () => {
  it('finding 4: throttles and then refuses a guessing address; a device elsewhere logs in at once; unknown users cost a password check', async () => {
    const t = await setup();
    // Observe the status the endpoint gives its nodes (c8y-endpoint-in shows it).
    const reg = helper.getNode('in') as any;
    const statuses: string[] = [];
    const status = reg.status.bind(reg);
    reg.status = (s: { text?: string }) => (statuses.push(s.text ?? ''), status(s));
    const refusals: LoginRefusal[] = [];
    t.server.on('refused', (r: LoginRefusal) => refusals.push(r));
    // Guessing from 127.0.0.1, bounded: the brake locks within lockAfter + 1 tries.
    let locked = false;
    for (let i = 0; i < BRAKE.lockAfter + 3 && !locked; i++) {
      const code = await clients.refusedWith(device(DEV, `guess-${i}`));
      assert.ok(code === 4 || code === 5, `refused (${code})`);
      locked = code === 5;
    }
    assert.ok(locked, 'the guessing address is refused without a check');
    assert.equal(refusals.at(-1)!.braked, true);
    assert.match(refusals.at(-1)!.reason, /too many failed logins/);
    assert.ok(t.server.loginStats().delayed >= BRAKE.lockAfter - 1, 'the tries before the lock waited');
    // Even the right password is refused from the locked address...
    assert.equal(await clients.refusedWith(device(DEV)), 5);
    // ...while the device logs in at once from another address.
    assert.equal(await clients.refusedWith(device(DEV), '127.0.0.2'), 0);

    // Unknown users, the bootstrap user and a wrong tenant cost one scrypt like a known device (fresh addresses).
    const registry = t.server.registry;
    const cost = async (opts: object, from: string) => {
      const before = registry.hashes;
      assert.equal(await clients.refusedWith({ clientId: 'x1', ...opts }, from), 4);
      return registry.hashes - before;
    };
    assert.equal(await cost(device(OTHER, 'wrong'), '127.0.0.3'), 1);
    assert.equal(await cost({ username: `${TENANT}/device_nobody`, password: 'wrong' }, '127.0.0.4'), 1);
    assert.equal(await cost({ username: BOOT.username, password: 'wrong' }, '127.0.0.5'), 1);
    assert.equal(await cost({ username: 'other-tenant/device_dev1', password: 'wrong' }, '127.0.0.6'), 1);

    // Status and log count refusals and never print a password.
    await until(() => statuses.some((s) => /\d+ refused/.test(s)), 5000, 'refusals in the status');
    const logged = helper.log().args.map((a: any[]) => String(a[0].msg)).filter((m: string) => /login/.test(m));
    assert.ok(logged.some((m) => /logins? refused/.test(m)), 'refusals are summed up in the log');
    for (const m of logged) assert.ok(!/guess-|wrong|dev1-pw/.test(m), `no secret in the log: ${m}`);
  });
});

describe('c8y-endpoint security: fairness', { timeout: 90_000 }, () => {
  it('finding 3: a 500 flood from a device that does not read stays within its queue bound, is disconnected, and other devices go on', async () => {
    const t = await setup();
    // 200 PENDING operations of ~10 KB for dev1.
    const text = 'x'.repeat(10_000);
    for (let i = 0; i < 200; i++) helper.getNode('out').receive({ device: DEV.id, payload: ['511', DEV.id, `${i} ${text}`] });
    await until(() => t.ops.received.length === 200, 20_000, '200 operations created');
    const rss0 = process.memoryUsage().rss;

    // A raw connection that subscribes and never reads, then sends 500 again and again.
    const raw = await rawConnection(port);
    raw.send(connectPacket(DEV.id, `${TENANT}/device_${DEV.id}`, DEV.password));
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 's/ds', qos: 1 }] });
    raw.socket.pause();
    const other = await clients.connect(device(OTHER));
    let flooding = true;
    let sent = 0;
    const flood = (async () => {
      while (flooding && sent < 2000) {
        raw.send({ cmd: 'publish', topic: 's/us', payload: Buffer.from('500'), qos: 0, retain: false, dup: false });
        sent++;
        if (sent % 50 === 0) await settle(5);
      }
    })();
    try {
      // Another device's records keep arriving during the flood.
      for (let i = 0; i < 3; i++) {
        await other.publishAsync('s/us', `211,${20 + i}`, { qos: 1 });
        await until(() => t.records.received.some((m) => m.device === OTHER.id && m.payload.values?.value === 20 + i), 5000, `dev2 record ${i}`);
      }
      // The device that does not read is disconnected (drain timeout; its paused socket does not see the FIN).
      await until(() => !t.server.connectedDevices().includes(DEV.id), 20_000, 'the connection that does not read closed by the endpoint');
    } finally {
      flooding = false;
      await flood;
      raw.socket.destroy();
    }
    const grown = (process.memoryUsage().rss - rss0) / 1e6;
    assert.ok(grown < 150, `RSS grew by ${grown.toFixed(0)} MB during the flood (before the fix: gigabytes)`);
    // The operations are still PENDING: nothing was lost.
    assert.equal(t.server.operations.pending(DEV.id).length, 200);
    assert.ok(t.server.clientCounts().devices >= 1);
  });

  it('finding 3: 500 re-sends only what was not received since the last 500, at most once per interval', async () => {
    await setup();
    helper.getNode('out').receive({ device: DEV.id, payload: [['510', DEV.id], ['511', DEV.id, 'uptime']] });
    const dev = await clients.connect(device(DEV));
    const devIn = inbox(dev);
    await dev.subscribeAsync('s/ds', { qos: 1 });
    await devIn.next('s/ds', (p) => p.startsWith('510'));
    for (let i = 0; i < 10; i++) await dev.publishAsync('s/us', '500', { qos: 1 });
    // 600 as a marker: s/ds is in order, so everything the 500s caused arrived before 601.
    await dev.publishAsync('s/us', '600', { qos: 1 });
    await devIn.next('s/ds', (p) => p.startsWith('601'));
    const deliveries = devIn.got.filter((m) => m.topic === 's/ds' && m.payload.startsWith('510'));
    assert.equal(deliveries.length, 2, `subscription + the first 500 only: ${JSON.stringify(devIn.got)}`);
  });
});

describe('c8y-endpoint security: bad records and ids', { timeout: 90_000 }, () => {
  it('finding 5: a control character costs its own record a 45, the other records are processed', async () => {
    const t = await setup();
    const dev = await clients.connect(device(DEV));
    const devIn = inbox(dev);
    await dev.subscribeAsync('s/e', { qos: 1 });
    await dev.publishAsync('s/us', '200,c8y_A,T,1\n200,c8y_B,T,x\u0000\n200,c8y_C,T,3', { qos: 1 });
    const line = await devIn.next('s/e');
    assert.match(line, /^45,200,field 4: control characters/);
    assert.ok(!line.includes('\u0000'), 'the s/e line stays printable');
    await until(() => t.records.received.length >= 2, 3000, 'records A and C');
    await settle(200);
    assert.deepEqual(t.records.received.map((m) => m.payload.values.fragment), ['c8y_A', 'c8y_C']);
    assert.ok(!devIn.got.some((m) => m.payload.startsWith('50,')), 'no internal error');
  });

  it('finding 6: a device acts only on itself and its children; child ids follow the id grammar', async () => {
    const t = await setup();
    const other = await clients.connect(device(OTHER));
    await other.publishAsync('s/us', '100,Dev two,c8y_Test\n114,c8y_Restart\n101,dev2-kid,Kid', { qos: 1 });
    await until(() => t.server.inventory.get('dev2-kid') !== undefined, 3000, 'dev2 and its child');
    const dev = await clients.connect(device(DEV));
    const devIn = inbox(dev);
    await dev.subscribeAsync('s/e', { qos: 1 });
    await dev.publishAsync('s/us', '101,dev2,Stolen', { qos: 1 });
    assert.match(await devIn.next('s/e', (p) => p.startsWith('41,101')), /dev2 is another root device/);
    await dev.publishAsync('s/us/dev2', '114,c8y_Evil\n200,c8y_T,T,1', { qos: 1 });
    assert.match(await devIn.next('s/e', (p) => /may not act on dev2/.test(p)), /^41,,device dev1 may not act on dev2: it is another device/);
    await dev.publishAsync('s/us', '101,dev2-kid,Mine', { qos: 1 });
    assert.match(await devIn.next('s/e', (p) => /dev2-kid is already/.test(p)), /^41,101,/);
    await dev.publishAsync('s/us/dev2-kid', '200,c8y_T,T,1', { qos: 1 });
    await devIn.next('s/e', (p) => /may not act on dev2-kid/.test(p));
    await dev.publishAsync('s/us/dev3', '114,c8y_Evil', { qos: 1 });
    await devIn.next('s/e', (p) => /may not act on dev3/.test(p));
    await dev.publishAsync('s/us', '101,dev3,Mine', { qos: 1 });
    await devIn.next('s/e', (p) => /^41,101,dev3 is a registered device/.test(p));
    assert.equal(t.server.inventory.get('dev3'), undefined);
    for (const bad of ['a/b', 'a+b', 'a#', '../x', 'x'.repeat(129)]) {
      await dev.publishAsync('s/us', `101,${bad},Bad`, { qos: 1 });
      await devIn.next('s/e', (p) => p.startsWith('41,101') && p.includes(bad.slice(0, 20)), 3000);
      assert.equal(t.server.inventory.get(bad), undefined, bad);
    }
    assert.deepEqual(t.server.inventory.get('dev2')!.supportedOperations, ['c8y_Restart']);
    assert.ok(!t.records.received.some((m) => m.device === DEV.id && m.topic.startsWith('s/us/dev2')), 'nothing reaches the flow as dev2');
  });

  it('finding 8: a child announced through any of its own lines is created under the announcing device', async () => {
    const t = await setup();
    const dev = await clients.connect(device(DEV));
    const devIn = inbox(dev);
    await dev.subscribeAsync(['s/ds', 's/e'], { qos: 1 });
    await dev.publishAsync('s/us/kid1', '114,c8y_Restart', { qos: 1 });
    await dev.publishAsync('s/us/kid2', '123', { qos: 1 });
    await dev.publishAsync('s/us/kid3', '101,grandkid,Grandchild', { qos: 1 });
    await dev.publishAsync('s/us', '105', { qos: 1 });
    const children = await devIn.next('s/ds', (p) => p.startsWith('106'));
    assert.deepEqual(children.split(',').slice(1).sort(), ['kid1', 'kid2', 'kid3']);
    const inv = t.server.inventory;
    assert.deepEqual(['kid1', 'kid2', 'kid3'].map((k) => inv.get(k)?.parent), [DEV.id, DEV.id, DEV.id]);
    assert.equal(inv.get('grandkid')?.parent, 'kid3');
    assert.deepEqual(inv.get('kid1')!.supportedOperations, ['c8y_Restart']);
    // The grandchild belongs to dev1 too: dev1 may act on it, dev2 may not.
    await dev.publishAsync('s/us/grandkid', '200,c8y_T,T,5', { qos: 1 });
    await until(() => t.records.received.some((m) => m.child === 'grandkid'), 3000, 'grandchild record');
  });
});

describe('c8y-endpoint security: limits', { timeout: 90_000 }, () => {
  it('finding 9: s/e lines are cut to the size limit; a truncated CONNECT is closed', async () => {
    await setup();
    const dev = await clients.connect(device(DEV));
    const devIn = inbox(dev);
    await dev.subscribeAsync('s/e', { qos: 1 });
    // A 40 KB topic: refused, and the s/e line does not echo it whole.
    await dev.publishAsync(`s/uc/${'x'.repeat(40_000)}`, '1', { qos: 1 });
    const line = await devIn.next('s/e');
    assert.match(line, /^41,,/);
    assert.ok(Buffer.byteLength(line) <= 16184, `s/e line of ${Buffer.byteLength(line)} bytes`);
    // A 16 KB unknown message id: its 40 line is cut too.
    const id = 'y'.repeat(16_160);
    await dev.publishAsync('s/us', id, { qos: 1 });
    const forty = await devIn.next('s/e', (p) => p.startsWith('40,'));
    assert.ok(Buffer.byteLength(forty) <= maxPayloadBytes('s/e'), `s/e payload of ${Buffer.byteLength(forty)} bytes`);

    // Half a CONNECT, then silence: closed after the CONNECT timeout (1 s here), bounded wait.
    const raw = await rawConnection(port);
    raw.socket.write(Buffer.from([0x10, 0x40, 0x00, 0x04, 0x4d, 0x51]));
    await Promise.race([raw.closed, settle(10_000)]);
    assert.ok(raw.socket.destroyed, 'the truncated CONNECT is closed');
    assert.ok(dev.connected);
  });
});
