/**
 * The device life cycle against c8y-endpoint driven by clients nobody here wrote: Debian's mosquitto_pub and
 * mosquitto_sub (MQTT 3.1.1). Skipped with a message when the binaries are absent.
 *
 * mosquitto_pub and mosquitto_sub are separate processes but one device: the endpoint keeps one connection per
 * device id, so each mosquitto_pub run replaces the mosquitto_sub connection, which reconnects (1 s) and
 * subscribes again. That is why the answer to a poll arrives through the subscription (credentials when the
 * subscriber subscribes s/dcr again, PENDING operations when it subscribes s/ds again), and why answers such as
 * 124 (which need the publisher to listen) are covered by the MQTT.js runtime test instead.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { helper, catchNode, collect, TAB, settle } from '../support/flow';
import endpointNode = require('../../src/nodes/c8y-endpoint/runtime');
import inNode = require('../../src/nodes/c8y-endpoint-in/runtime');
import outNode = require('../../src/nodes/c8y-endpoint-out/runtime');
import registrationNode = require('../../src/nodes/c8y-endpoint-registration/runtime');
import type { C8yEndpointNode } from '../../src/nodes/c8y-endpoint/types';

const HAVE = ['mosquitto_pub', 'mosquitto_sub'].every((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0);
const TENANT = 't900';
const BOOT_PW = 'boot-pw';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function until(fn: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await settle(25);
  }
}

let port: number;
let userDir: string;
const procs: ChildProcess[] = [];

function base(clientId: string, user: string, password: string): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-i', clientId, '-u', user, '-P', password];
}

/** mosquitto_pub once; resolves with its exit code and stderr. */
function pub(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('mosquitto_pub', ['-q', '1', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(p);
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stderr }));
  });
}

/** A long-running mosquitto_sub; `out()` is everything it printed (`topic payload` per message). */
function sub(args: string[]) {
  const p = spawn('mosquitto_sub', ['-q', '1', '-v', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let out = '';
  let err = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (err += d));
  return { proc: p, out: () => out, err: () => err };
}

function flow() {
  return [
    { id: TAB, type: 'tab' },
    { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: TENANT, bootstrapUser: 'devicebootstrap' },
    { id: 'in', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'all', wires: [['records']] },
    { id: 'out', z: TAB, type: 'c8y-endpoint-out', endpoint: 'ep', wires: [['ops']] },
    { id: 'reg', z: TAB, type: 'c8y-endpoint-registration', endpoint: 'ep', allow: '', wires: [['requests']] },
    { id: 'c1', z: TAB, type: 'catch', scope: null, wires: [['caught']] },
    { id: 'records', z: TAB, type: 'helper' },
    { id: 'ops', z: TAB, type: 'helper' },
    { id: 'requests', z: TAB, type: 'helper' },
    { id: 'caught', z: TAB, type: 'helper' },
  ];
}

describe('c8y-endpoint with mosquitto_pub / mosquitto_sub as the device', { skip: HAVE ? false : 'mosquitto_pub/mosquitto_sub not installed (apt-get install mosquitto-clients)' }, () => {
  before(async () => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-endpoint-interop-'));
    port = await freePort();
    helper.settings({ userDir });
    await new Promise<void>((resolve) => helper.startServer(() => resolve()));
  });
  after(async () => {
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
    fs.rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await helper.unload();
  });

  it('bootstraps, reconnects with the credentials, sends data and handles an operation', async () => {
    await helper.load([endpointNode, inNode, outNode, registrationNode, catchNode], flow(), { ep: { bootstrapPassword: BOOT_PW } });
    const ep = helper.getNode('ep') as unknown as C8yEndpointNode;
    await until(() => ep.server()?.addresses.mqtt === port, 5000, 'endpoint listening');
    const server = ep.server()!;
    const records = collect(helper.getNode('records'));
    const ops = collect(helper.getNode('ops'));
    const requests = collect(helper.getNode('requests'));
    const id = 'mosq-dev-1';
    const bootArgs = base(id, 'management/devicebootstrap', BOOT_PW);

    // Bootstrap: a subscriber waiting for one line on s/dcr, and empty polls on s/ucr until it arrives.
    const creds = sub([...bootArgs, '-t', 's/dcr', '-C', '1']);
    await until(() => server.connectedDevices().includes(id), 5000, 'mosquitto_sub connected');
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await pub([...bootArgs, '-t', 's/ucr', '-n']);
        await settle(1500);
      }
    })();
    try {
      const [request] = await requests.next(1, 10000);
      assert.deepEqual([request.topic, request.payload.deviceId, request.payload.state], ['registration/request', id, 'pending']);
      helper.getNode('reg').receive({ accept: id });
      await until(() => /s\/dcr 70,/.test(creds.out()), 15000, 'the 70 line on s/dcr');
    } finally {
      polling = false;
      await poller;
    }
    const line = creds.out().trim().split('\n')[0].replace(/^s\/dcr /, '');
    const [code, tenant, username, password] = line.split(',');
    assert.deepEqual([code, tenant, username], ['70', TENANT, `device_${id}`]);
    await until(() => creds.proc.exitCode !== null, 5000, 'mosquitto_sub -C 1 to exit');

    // Reconnect with the credentials: 100, 101, 114 in one publish.
    const devArgs = base(id, `${tenant}/${username}`, password);
    let r = await pub([...devArgs, '-t', 's/us', '-m', '100,Mosquitto device,c8y_Mosquitto\n101,mosq-child,Child\n114,c8y_Restart']);
    assert.equal(r.code, 0, r.stderr);
    await until(() => server.inventory.get(id)?.name === 'Mosquitto device', 5000, 'device created');
    assert.equal(server.inventory.get('mosq-child')?.parent, id);

    // Measurements, alarms, events.
    r = await pub([...devArgs, '-t', 's/us', '-m', '211,23.5\n301,c8y_HighTemp,"too hot, really"\n400,c8y_Boot,booted']);
    assert.equal(r.code, 0, r.stderr);
    const got = (await records.next(6)).slice(3);
    assert.deepEqual(got.map((m) => `${m.kind}:${m.payload.messageId}`), ['measurement:211', 'alarm:301', 'event:400']);
    assert.equal(got[0].payload.values.value, 23.5);
    assert.equal(got[1].payload.values.text, 'too hot, really');
    assert.equal(got[0].device, id);

    // Subscribe to s/ds; an operation sent through c8y-endpoint-out arrives.
    const ds = sub([...devArgs, '-t', 's/ds', '-t', 's/e']);
    await until(() => server.connectedDevices().includes(id), 5000, 'device subscriber connected');
    await settle(200);
    helper.getNode('out').receive({ device: id, payload: { messageId: 510, values: {} } });
    await until(() => ds.out().includes(`s/ds 510,${id}`), 10000, 'the operation on s/ds');
    const [pending] = await ops.next(1);
    assert.equal(pending.payload.status, 'PENDING');

    // 501 / 503 back.
    assert.equal((await pub([...devArgs, '-t', 's/us', '-m', '501,c8y_Restart'])).code, 0);
    assert.equal((await pub([...devArgs, '-t', 's/us', '-m', '503,c8y_Restart'])).code, 0);
    const changes = await ops.next(3, 10000);
    assert.deepEqual(changes.map((m) => m.payload.status), ['PENDING', 'EXECUTING', 'SUCCESSFUL']);
    const status = records.received.filter((m) => m.kind === 'operation-status');
    assert.deepEqual(status.map((m) => m.payload.messageId), [501, 503]);
  });

  it('refuses what Cumulocity refuses, with the CONNACK codes mosquitto_pub reports', async () => {
    await helper.load([endpointNode, inNode, outNode, registrationNode, catchNode], flow(), { ep: { bootstrapPassword: BOOT_PW, devices: 'mosq-static:secret-1' } });
    const ep = helper.getNode('ep') as unknown as C8yEndpointNode;
    await until(() => ep.server()?.addresses.mqtt === port, 5000, 'endpoint listening');
    const caught = collect(helper.getNode('caught'));
    const wrong = await pub([...base('mosq-static', `${TENANT}/device_mosq-static`, 'nope'), '-t', 's/us', '-m', '211,1']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /bad user name or password|not authori[sz]ed/i);
    const colon = await pub([...base('a:b', `${TENANT}/device_mosq-static`, 'secret-1'), '-t', 's/us', '-m', '211,1']);
    assert.notEqual(colon.code, 0);
    assert.match(colon.stderr, /identifier rejected/i);
    // Unknown template: s/e line to a subscriber, error to the flow.
    const dev = base('mosq-static', `${TENANT}/device_mosq-static`, 'secret-1');
    assert.equal((await pub([...dev, '-t', 's/us', '-m', '999,x'])).code, 0);
    const [err] = await caught.next(1);
    assert.equal(err.smartrestError.line, '40,999,No static template for this message id');
    // Subscribing to an upstream topic is refused (SUBACK 128): mosquitto_sub reports it and exits.
    const bad = sub([...dev, '-t', 's/us', '-C', '1', '-W', '5']);
    await until(() => bad.proc.exitCode !== null, 8000, 'mosquitto_sub to give up');
    assert.match(bad.err(), /denied|refused|fail/i);
  });
});
