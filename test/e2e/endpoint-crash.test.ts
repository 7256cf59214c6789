/**
 * Durable operations against a crash: a real `node-red` process with a `c8y-endpoint` is killed with SIGKILL while
 * it writes a burst of operations, then started again on the same user dir. The operations file must be whole JSON
 * (atomic replace), every operation in it comes back (the device gets each PENDING line), and new ids follow the
 * old ones. Free ports only (no fixed-port lock needed).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { deployAndWait, freePort, injectNode, startNodeRed, type NodeRedProcess } from '../support/nodered';
import { until } from '../support/broker';

const TENANT = 'crash';
const DEVICES = Array.from({ length: 10 }, (_, i) => ({ id: `crash-${i}`, password: `crash-pw-${i}` }));

let userDir: string;
const processes: NodeRedProcess[] = [];

after(async () => {
  for (const nr of processes) await nr.stop().catch(() => undefined);
  if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
});

function flow(port: number) {
  const tab = 'crash-tab';
  return [
    { id: tab, type: 'tab', label: 'crash' },
    {
      id: 'crash-ep',
      type: 'c8y-endpoint',
      host: '127.0.0.1',
      port,
      tenant: TENANT,
      credentials: { devices: DEVICES.map((d) => `${d.id}:${d.password}`).join(' ') },
    },
    { id: 'crash-burst', z: tab, type: 'inject', name: 'burst', props: [], repeat: '', once: false, wires: [['crash-fn']] },
    {
      id: 'crash-fn',
      z: tab,
      type: 'function',
      name: '5 operations for each device',
      // Each call: 50 operations with distinct command texts (n<counter>), one message each.
      func: `const out = [];
let n = context.get('n') || 0;
for (let k = 0; k < 5; k++) for (let i = 0; i < ${DEVICES.length}; i++) out.push({ device: 'crash-' + i, payload: { messageId: 511, values: { command: 'n' + (n++) } } });
context.set('n', n);
return [out];`,
      outputs: 1,
      wires: [['crash-out']],
    },
    { id: 'crash-out', z: tab, type: 'c8y-endpoint-out', endpoint: 'crash-ep', wires: [[]] },
  ];
}

interface StoredOp {
  id: string;
  deviceId: string;
  line: string;
  status: string;
}

function readOps(file: string): StoredOp[] {
  return Object.values((JSON.parse(fs.readFileSync(file, 'utf8')) as { records: Record<string, StoredOp> }).records);
}

describe('c8y-endpoint: a crash (SIGKILL) during operation writes', () => {
  it('leaves a whole operations file, restores every operation in it, and keeps ids growing', { timeout: 180_000 }, async () => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-endpoint-crash-'));
    const port = await freePort();
    const file = path.join(userDir, 'c8y-endpoint', 'crash-ep-operations.json');
    const first = await startNodeRed({ userDir });
    processes.push(first);
    await deployAndWait(first, flow(port));
    await until(() => first.log.some((l) => /listening on 127\.0\.0\.1/.test(l)), 30_000, 'endpoint listening');

    // Bursts until the file holds a good number of operations, then more bursts and a SIGKILL amid them.
    let seen = 0;
    for (let round = 0; seen < 300 && round < 200; round++) {
      await injectNode(first.url, 'crash-burst');
      if (fs.existsSync(file)) seen = readOps(file).length;
    }
    assert.ok(seen >= 300, `operations written before the crash: ${seen}`);
    const bursts = Array.from({ length: 10 }, () => injectNode(first.url, 'crash-burst').catch(() => undefined));
    await new Promise((r) => setTimeout(r, 30));
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    await Promise.all(bursts);

    // Whole JSON, never half a file; whatever it holds must come back.
    const stored = readOps(file);
    assert.ok(stored.length >= seen, `${stored.length} stored, ${seen} seen before`);
    assert.ok(stored.every((o) => o.status === 'PENDING'));

    const second = await startNodeRed({ userDir });
    processes.push(second);
    await until(() => second.log.some((l) => /listening on 127\.0\.0\.1/.test(l)), 60_000, 'endpoint listening after the restart');
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'crash-3', username: `${TENANT}/device_crash-3`, password: 'crash-pw-3', reconnectPeriod: 0 });
    const lines: string[] = [];
    dev.on('message', (_t, p) => lines.push(...p.toString().split('\n')));
    await dev.subscribeAsync('s/ds', { qos: 1 });
    const expected = stored.filter((o) => o.deviceId === 'crash-3').map((o) => o.line).sort();
    await until(() => lines.length >= expected.length, 30_000, `${expected.length} pending lines`);
    assert.deepEqual([...lines].sort(), expected);
    await dev.endAsync();

    // New operations get ids after every restored one.
    const maxOld = Math.max(...stored.map((o) => Number(o.id)));
    await injectNode(second.url, 'crash-burst');
    await until(() => readOps(file).length > stored.length, 30_000, 'new operations written');
    const fresh = readOps(file).filter((o) => !stored.some((s) => s.id === o.id));
    assert.ok(fresh.length > 0 && fresh.every((o) => Number(o.id) > maxOld), 'new ids follow the old ones');
  });
});
