/**
 * Issue 18, device side: the transports devices really use. c8y-device against Debian mosquitto configured for
 * TLS with server verification, two-way TLS (client certificate, CN = device id, no password), MQTT over
 * WebSocket (plain and TLS), and the three certificate failures (wrong CA, expired, host name mismatch), which
 * must say what is wrong (status + log) and back off instead of looping. Then TLS with a client certificate and
 * WebSocket against the project's own c8y-endpoint. Certificates are made per run with openssl.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { helper, collect, TAB } from '../support/flow';
import { freePort, until } from '../support/broker';
import { makeCerts, type TestCerts } from '../support/certs';
import { mosquittoAvailable, startMosquitto, type Mosquitto } from '../support/mosquitto';
import deviceNode = require('../../src/nodes/c8y-device/runtime');
import outNode = require('../../src/nodes/c8y-out/runtime');
import type { C8yDeviceNode } from '../../src/nodes/c8y-device/types';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tlsNode = require('@node-red/nodes/core/network/05-tls.js');
const nodes = [deviceNode, outNode, tlsNode];
const DEVICE = 'tls-dev1';

let certs: TestCerts;
let mosq: Mosquitto;
let userDir: string;
const ports: Record<'tls' | 'mtls' | 'ws' | 'wss' | 'expired' | 'wrongHost', number> = { tls: 0, mtls: 0, ws: 0, wss: 0, expired: 0, wrongHost: 0 };
let watcher: mqtt.MqttClient;
const seen: { topic: string; payload: string }[] = [];

function statusTexts(n: unknown): string[] {
  return (n as any).status.getCalls().map((c: any) => String(c.args[0]?.text ?? ''));
}

function warnings(n: unknown): string[] {
  return (n as any).warn.getCalls().map((c: any) => String(c.args[0]));
}

async function deploy(device: Record<string, unknown>, tls: Record<string, unknown> | undefined, creds: Record<string, unknown> = { user: 'u', password: 'p' }) {
  const f: any[] = [
    { id: TAB, type: 'tab' },
    { id: 'dev', type: 'c8y-device', host: '127.0.0.1', tenant: 't1', deviceId: DEVICE, keepalive: 30, queueSize: 10, pending: false, ...(tls ? { tls: 'tlsconf' } : {}), ...device },
    { id: 'out1', z: TAB, type: 'c8y-out', device: 'dev', qos: '1', mode: 's', wires: [] },
  ];
  if (tls) f.push({ id: 'tlsconf', type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: true, ...tls });
  await helper.load(nodes, f, { dev: creds });
  return { dev: helper.getNode('dev') as unknown as C8yDeviceNode, out: helper.getNode('out1') };
}

/** A measurement through c8y-out must reach the broker (the watcher on the plain listener sees it). */
async function measurementArrives(value: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    helper.getNode('out1').receive({ payload: { messageId: 200, values: { fragment: 'c8y_T', series: 'T', value, unit: 'C' } } });
    (helper.getNode('out1') as any).on('call:error', (c: any) => reject(new Error(String(c.args[0]))));
    until(() => seen.some((m) => m.topic === 's/us' && m.payload === `200,c8y_T,T,${value},C`), 8000, `measurement ${value}`).then(resolve, reject);
  });
}

before(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-transports-'));
  helper.settings({ userDir, credentialSecret: 'test-secret' });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
  fs.rmSync(userDir, { recursive: true, force: true });
});
afterEach(async () => helper.unload());

// One suite at a time (they share the Node-RED test runtime).
describe('c8y-device transports', () => {
describe('against Debian mosquitto', { skip: !mosquittoAvailable() }, () => {
  before(async () => {
    certs = makeCerts(DEVICE);
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    const tlsListener = (port: number, pair: { cert: string; key: string }, extra: string[] = []) => [`listener ${port} 127.0.0.1`, `cafile ${certs.ca}`, `certfile ${pair.cert}`, `keyfile ${pair.key}`, ...extra];
    mosq = await startMosquitto({
      config: [
        ...tlsListener(ports.tls, certs.server),
        ...tlsListener(ports.mtls, certs.server, ['require_certificate true', 'use_identity_as_username true']),
        `listener ${ports.ws} 127.0.0.1`, 'protocol websockets',
        ...tlsListener(ports.wss, certs.server, ['protocol websockets']),
        ...tlsListener(ports.expired, certs.expired),
        ...tlsListener(ports.wrongHost, certs.wrongHost),
      ],
    });
    watcher = mqtt.connect(mosq.url, { clientId: 'watcher', reconnectPeriod: 0 });
    watcher.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
    await new Promise<void>((resolve, reject) => watcher.once('connect', () => watcher.subscribe('#', { qos: 1 }, (err) => (err ? reject(err) : resolve()))).once('error', reject));
  });
  after(async () => {
    watcher?.end(true);
    await mosq?.stop();
    certs?.remove();
  });
  afterEach(() => {
    seen.length = 0;
  });

  it('TLS with server verification (the default transport): connects with the CA of the TLS configuration and publishes', async () => {
    const { dev } = await deploy({ transport: 'mqtts', port: ports.tls }, { ca: certs.ca });
    await until(() => dev.connection?.state === 'connected', 8000, 'connected over TLS');
    await measurementArrives(1);
  });

  it('two-way TLS: a client certificate (CN = device id) and no password are enough', async () => {
    const { dev } = await deploy({ transport: 'mqtts', port: ports.mtls }, { ca: certs.ca, cert: certs.client.cert, key: certs.client.key }, {});
    assert.ok(dev.hasCredentials(), 'a client certificate counts as a credential');
    await until(() => dev.connection?.state === 'connected', 8000, 'connected with a client certificate');
    await measurementArrives(2);
  });

  it('two-way TLS without a client certificate: the status says the server refused it, and it backs off', async () => {
    const { dev, out } = await deploy({ transport: 'mqtts', port: ports.mtls }, { ca: certs.ca });
    const drops: number[] = [];
    dev.connection!.on('disconnected', (delay: number) => drops.push(delay));
    await until(() => drops.length >= 1, 8000, 'a failed attempt');
    await until(() => statusTexts(out).some((t) => /TLS: the server refused the client certificate; retry in \d+ s/.test(t)), 3000, 'status');
    assert.ok(warnings(dev).some((w) => /refused the client certificate.*CERTIFICATE_REQUIRED/.test(w)), warnings(dev).join(' | '));
    assert.ok(drops.every((d) => d >= 500), `backoff delays ${drops.join(', ')}`);
  });

  it('MQTT over WebSocket on /mqtt, plain', async () => {
    const { dev } = await deploy({ transport: 'ws', port: ports.ws, wsPath: '/mqtt' }, undefined);
    assert.equal(dev.connection && (dev.connection as any).options.url, `ws://127.0.0.1:${ports.ws}/mqtt`);
    await until(() => dev.connection?.state === 'connected', 8000, 'connected over WebSocket');
    await measurementArrives(3);
  });

  it('MQTT over WebSocket with TLS (wss) on /mqtt', async () => {
    const { dev } = await deploy({ transport: 'wss', port: ports.wss }, { ca: certs.ca });
    assert.equal((dev.connection as any).options.url, `wss://127.0.0.1:${ports.wss}/mqtt`);
    await until(() => dev.connection?.state === 'connected', 8000, 'connected over wss');
    await measurementArrives(4);
  });

  const failures: { name: string; port: () => number; ca: () => string; status: RegExp; log: RegExp }[] = [
    { name: 'a wrong CA', port: () => ports.tls, ca: () => certs.otherCa, status: /TLS: server certificate not trusted \(unknown CA\); retry in \d+ s/, log: /not trusted.*CA that signed/ },
    { name: 'an expired server certificate', port: () => ports.expired, ca: () => certs.ca, status: /TLS: server certificate expired; retry in \d+ s/, log: /expired.*CERT_HAS_EXPIRED/ },
    { name: 'a host name mismatch', port: () => ports.wrongHost, ca: () => certs.ca, status: /TLS: server certificate is not for host 127\.0\.0\.1; retry in \d+ s/, log: /not for host 127\.0\.0\.1.*ERR_TLS_CERT_ALTNAME_INVALID/ },
  ];
  for (const f of failures) {
    it(`${f.name}: status and log say what is wrong; retried with a growing backoff, not in a tight loop`, async () => {
      const { dev, out } = await deploy({ transport: 'mqtts', port: f.port() }, { ca: f.ca() });
      const drops: number[] = [];
      dev.connection!.on('disconnected', (delay: number) => drops.push(delay));
      await until(() => drops.length >= 2, 10000, 'two failed attempts');
      assert.ok(statusTexts(out).some((t) => f.status.test(t)), `status: ${statusTexts(out).join(' | ')}`);
      assert.ok(warnings(dev).some((w) => f.log.test(w)), `log: ${warnings(dev).join(' | ')}`);
      // One log line per distinct problem, not one per attempt.
      assert.equal(warnings(dev).filter((w) => f.log.test(w)).length, 1);
      // Backoff (1 s doubling, jitter 50 %): the first retry waits at least 0.5 s, the second at least 1 s.
      assert.ok(drops[0] >= 500 && drops[1] >= 1000, `backoff delays ${drops.join(', ')}`);
      assert.notEqual(dev.connection!.state, 'connected');
    });
  }
});

describe('against the project c8y-endpoint', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const endpointModules = [require('../../src/nodes/c8y-endpoint/runtime'), require('../../src/nodes/c8y-endpoint-in/runtime')];
  let epCerts: TestCerts;
  before(async () => {
    epCerts = makeCerts(DEVICE);
  });
  after(() => epCerts.remove());

  async function endpointFlow(device: Record<string, unknown>, devTls: Record<string, unknown> | undefined, creds: Record<string, unknown>, epExtra: Record<string, unknown>) {
    const port = await freePort();
    const f: any[] = [
      { id: TAB, type: 'tab' },
      { id: 'epTls', type: 'tls-config', cert: epCerts.server.cert, key: epCerts.server.key, ca: epCerts.ca, verifyservercert: true },
      { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: 'edge', bootstrapUser: 'devicebootstrap', serviceUser: '', ...epExtra },
      { id: 'epIn', z: TAB, type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'all', reportErrors: false, wires: [['records']] },
      { id: 'records', z: TAB, type: 'helper' },
      { id: 'dev', type: 'c8y-device', host: '127.0.0.1', tenant: 'edge', deviceId: DEVICE, keepalive: 30, queueSize: 10, pending: false, ...(devTls ? { tls: 'devTls' } : {}), ...device },
      { id: 'out1', z: TAB, type: 'c8y-out', device: 'dev', qos: '1', mode: 's', wires: [] },
    ];
    if (devTls) f.push({ id: 'devTls', type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: true, ...devTls });
    await helper.load([...nodes, ...endpointModules], f, { ep: { bootstrapPassword: 'boot', devices: `${DEVICE}:pw-static-1` }, dev: creds });
    return { dev: helper.getNode('dev') as unknown as C8yDeviceNode, records: collect(helper.getNode('records')) };
  }

  it('TLS with a client certificate (CN = device id, no password): the endpoint takes the device from the certificate', async () => {
    const tlsPort = await freePort();
    const { dev, records } = await endpointFlow({ transport: 'mqtts', port: tlsPort }, { ca: epCerts.ca, cert: epCerts.client.cert, key: epCerts.client.key }, {}, { usetls: true, tls: 'epTls', tlsPort });
    await until(() => dev.connection?.state === 'connected', 10000, 'connected to the endpoint over TLS');
    helper.getNode('out1').receive({ payload: { messageId: 200, values: { fragment: 'c8y_T', series: 'T', value: 7, unit: 'C' } } });
    await until(() => records.received.some((m) => m.payload.messageId === 200), 8000, 'measurement at the endpoint');
    assert.equal(records.received.find((m) => m.payload.messageId === 200).device, DEVICE);
  });

  it('MQTT over WebSocket on /mqtt with a password', async () => {
    const wsPort = await freePort();
    const { dev, records } = await endpointFlow({ transport: 'ws', port: wsPort }, undefined, { user: `device_${DEVICE}`, password: 'pw-static-1' }, { usews: true, wsPort });
    await until(() => dev.connection?.state === 'connected', 10000, 'connected to the endpoint over WebSocket');
    helper.getNode('out1').receive({ payload: { messageId: 200, values: { fragment: 'c8y_T', series: 'T', value: 8, unit: 'C' } } });
    await until(() => records.received.some((m) => m.payload.messageId === 200), 8000, 'measurement at the endpoint');
  });
});
});
