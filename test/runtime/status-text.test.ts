/**
 * Issue 14 #12: status texts of nodes on the shared transport (src/mqtt/connection.ts) reach Status nodes as words,
 * not as Node-RED i18n keys (`node-red:common.status.connected`). The Datacake nodes are tested in datacake.test.ts;
 * this file checks a node of another family on the same transport (c8y-out on c8y-device).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helper, collect, TAB } from '../support/flow';
import { until } from '../support/broker';
import { startC8yFixture, type C8yFixture } from '../support/c8y-fixture';
import deviceNode = require('../../src/nodes/c8y-device/runtime');
import outNode = require('../../src/nodes/c8y-out/runtime');

// eslint-disable-next-line @typescript-eslint/no-require-imports
const statusNode = require('@node-red/nodes/core/common/25-status.js');

let fx: C8yFixture;
let userDir: string;

before(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'status-text-test-'));
  helper.settings({ userDir, credentialSecret: 'test-secret' });
  await helper.startServer();
  fx = await startC8yFixture({ users: { alice: 'pw-1' } });
});
after(async () => {
  await helper.unload();
  await fx.stop();
  await helper.stopServer();
  fs.rmSync(userDir, { recursive: true, force: true });
});

describe('status texts on the shared transport', () => {
  it('c8y-out: a Status node gets "connecting" / "connected", no i18n key', async () => {
    const flow = [
      { id: TAB, type: 'tab' },
      { id: 'dev', type: 'c8y-device', host: '127.0.0.1', port: fx.port, transport: 'mqtt', tenant: 't100', deviceId: 'dev1', keepalive: 30, queueSize: 100 },
      { id: 'out1', z: TAB, type: 'c8y-out', device: 'dev', qos: '1', mode: 's', wires: [] },
      { id: 's1', z: TAB, type: 'status', scope: ['out1'], wires: [['statuses']] },
      { id: 'statuses', z: TAB, type: 'helper' },
    ];
    await helper.load([deviceNode, outNode, statusNode], flow, { dev: { user: 'alice', password: 'pw-1' } });
    const statuses = collect(helper.getNode('statuses'));
    await until(() => statuses.received.some((m) => m.status.fill === 'green'), 5000, 'connected status');
    const texts = statuses.received.map((m) => String(m.status.text));
    assert.ok(texts.every((t) => !/node-red:|common\.status/.test(t)), texts.join(' | '));
    assert.ok(texts.includes('connected'), texts.join(' | '));
  });
});
