/**
 * Issue 18 #2: Cumulocity sends a CONNACK with a refusal code in the middle of a session before it closes the
 * connection. A raw-socket MQTT server (mqtt-packet, no broker) accepts the device, then sends such a second
 * CONNACK on demand; c8y-device must report its meaning (status + log), and follow the retry policy of the code.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helper, TAB } from '../support/flow';
import { until } from '../support/broker';
import deviceNode = require('../../src/nodes/c8y-device/runtime');
import outNode = require('../../src/nodes/c8y-out/runtime');
import type { C8yDeviceNode } from '../../src/nodes/c8y-device/types';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const mqttPacket = require('mqtt-packet') as { parser(opts?: object): any; generate(packet: object): Buffer };

/** A bare MQTT 3.1.1 server: CONNACK 0, SUBACK, PUBACK; `connackAll(code)` sends a second CONNACK and closes. */
async function rawServer() {
  const sockets = new Set<net.Socket>();
  let connects = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser();
    parser.on('packet', (p: any) => {
      if (p.cmd === 'connect') {
        connects++;
        socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
      } else if (p.cmd === 'subscribe') socket.write(mqttPacket.generate({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map((s: any) => s.qos) }));
      else if (p.cmd === 'publish' && p.qos === 1) socket.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId }));
      else if (p.cmd === 'pingreq') socket.write(mqttPacket.generate({ cmd: 'pingresp' }));
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (d) => parser.parse(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    get connects() {
      return connects;
    },
    connackAll(code: number) {
      for (const s of sockets) s.end(mqttPacket.generate({ cmd: 'connack', returnCode: code, sessionPresent: false }));
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let userDir: string;
let srv: Awaited<ReturnType<typeof rawServer>>;

before(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-connack-'));
  helper.settings({ userDir, credentialSecret: 'test-secret' });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
  fs.rmSync(userDir, { recursive: true, force: true });
});

describe('a CONNACK in the middle of a session', () => {
  before(async () => {
    srv = await rawServer();
  });
  after(async () => srv.stop());
  afterEach(async () => helper.unload());

  async function deploy() {
    await helper.load([deviceNode, outNode], ([
      { id: TAB, type: 'tab' },
      { id: 'dev', type: 'c8y-device', host: '127.0.0.1', port: srv.port, transport: 'mqtt', tenant: 't1', deviceId: 'mid1', keepalive: 30, queueSize: 10, pending: false },
      { id: 'out1', z: TAB, type: 'c8y-out', device: 'dev', qos: '1', mode: 's', wires: [] },
    ] as any[]), { dev: { user: 'u', password: 'p' } });
    const dev = helper.getNode('dev') as unknown as C8yDeviceNode;
    await until(() => dev.connection?.state === 'connected', 5000, 'connected');
    return { dev, out: helper.getNode('out1') };
  }
  const texts = (n: unknown) => (n as any).status.getCalls().map((c: any) => String(c.args[0]?.text ?? ''));
  const warns = (n: unknown) => (n as any).warn.getCalls().map((c: any) => String(c.args[0]));

  it('CONNACK 5 mid-session: status and log say the server ended the session and why; retried with backoff', async () => {
    const { dev, out } = await deploy();
    const before = srv.connects;
    srv.connackAll(5);
    await until(() => texts(out).some((t: string) => /session ended by the server: CONNACK 5 not authorised.*; retry in \d+ s/.test(t)), 5000, 'status');
    assert.ok(warns(dev).some((w: string) => /^Cumulocity ended the session: CONNACK 5 not authorised\. missing permissions/.test(w)), warns(dev).join(' | '));
    await until(() => dev.connection?.state === 'connected' && srv.connects > before, 10000, 'connected again');
    // One line with the meaning, not MQTT.js's "Protocol error: duplicate CONNACK" beside it.
    assert.deepEqual(warns(dev).filter((w: string) => /CONNACK/.test(w)).length, 1, warns(dev).join(' | '));
  });

  it('CONNACK 4 mid-session: not retried, the status says so', async () => {
    const { dev, out } = await deploy();
    const before = srv.connects;
    srv.connackAll(4);
    await until(() => dev.connection?.state === 'refused', 5000, 'refused');
    assert.ok(texts(out).some((t: string) => /session ended by the server: CONNACK 4 bad username or password.*not retried/.test(t)), texts(out).join(' | '));
    assert.ok(warns(dev).some((w: string) => /^Cumulocity ended the session: CONNACK 4 bad username or password/.test(w)));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(srv.connects, before, 'no new attempt');
  });
});
