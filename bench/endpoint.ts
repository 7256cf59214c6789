/**
 * Benchmark of the Cumulocity endpoint (issue #3). Not a test: prints a Markdown table and writes
 * bench/results/endpoint.json. Run with `node scripts/bench.js endpoint`.
 *
 * Setup: Node-RED runtime (node-red-node-test-helper) in this process with `c8y-endpoint` + `c8y-endpoint-in`
 * (filter: measurements) → a counting helper node. N simulated devices run in a separate process (this file with
 * `--devices`, MQTT.js, one TCP connection each, real credentials) and publish `200,c8y_Bench,t,<send time>` on
 * `s/us`.
 * Comparison: the same devices publish to Debian's mosquitto, and the flow is core `mqtt in` (topic `s/us`) →
 * `smartrest-decode` → the same counter.
 *
 * Phases per case: flood (closed loop: every device publishes QoS 1 with one message in flight, 6 s) → records/s
 * reaching the flow during the window
 * and endpoint CPU per record (process.cpuUsage of this process, which holds the broker and the flow);
 * fixed rate (OFFERED records/s spread over the devices, 6 s) → p50/p99 latency from publish to the flow.
 * Memory: RSS of this process with 10,000 idle connected devices (endpoint only).
 * For profiling: BENCH_KINDS=endpoint|mosquitto, BENCH_COUNTS=1000, BENCH_MEMORY=0 select parts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { helper } from '../test/support/flow';
import { procCpuMs } from './support/proc';
import { unspy } from './support/unspy';
import endpointNode = require('../dist/nodes/c8y-endpoint/runtime');
import inNode = require('../dist/nodes/c8y-endpoint-in/runtime');
import decodeNode = require('../dist/nodes/smartrest-decode/runtime');

const FLOOD_MS = 6000;
const RATE_MS = 6000;
const OFFERED = 5000;
const PASSWORD = 'bench-password-0001';
const TENANT = 'bench';

const now = () => performance.timeOrigin + performance.now();

// ------------------------------------------------------------------------------------------------------------------
// Device process

interface DeviceCommand {
  cmd: 'connect' | 'flood' | 'rate' | 'stop';
  url?: string;
  count?: number;
  prefix?: string;
  auth?: boolean;
  ms?: number;
  rate?: number;
}

async function deviceMain(): Promise<void> {
  let clients: import('mqtt').MqttClient[] = [];
  let running = false;
  process.on('message', async (m: DeviceCommand) => {
    if (m.cmd === 'connect') {
      const batch = 200;
      for (let i = 0; i < m.count!; i += batch) {
        const part = await Promise.all(
          Array.from({ length: Math.min(batch, m.count! - i) }, (_, k) => {
            const id = `${m.prefix}${i + k}`;
            return mqtt.connectAsync(m.url!, {
              clientId: id,
              ...(m.auth ? { username: `${TENANT}/device_${id}`, password: PASSWORD } : {}),
              reconnectPeriod: 0,
              connectTimeout: 120_000,
              keepalive: 600,
            });
          }),
        );
        clients.push(...part);
      }
      process.send!({ connected: clients.length });
    } else if (m.cmd === 'flood') {
      running = true;
      let sent = 0;
      const end = Date.now() + m.ms!;
      await Promise.all(
        clients.map(async (c) => {
          // Closed loop: QoS 1, one message in flight per device (the next one after the PUBACK).
          while (running && Date.now() < end) {
            await new Promise<void>((r) => c.publish('s/us', `200,c8y_Bench,t,${now()}`, { qos: 1 }, () => r()));
            sent++;
          }
        }),
      );
      process.send!({ sent });
    } else if (m.cmd === 'rate') {
      // OFFERED records/s in ticks of 10 ms, round-robin over the devices.
      let sent = 0;
      let k = 0;
      const start = Date.now();
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          const due = Math.floor(((Date.now() - start) / 1000) * m.rate!) - sent;
          for (let i = 0; i < due; i++) {
            clients[k++ % clients.length].publish('s/us', `200,c8y_Bench,t,${now()}`, { qos: 0 });
            sent++;
          }
          if (Date.now() - start >= m.ms!) {
            clearInterval(timer);
            resolve();
          }
        }, 10);
      });
      process.send!({ sent });
    } else if (m.cmd === 'stop') {
      running = false;
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      clients = [];
      process.send!({ stopped: true });
    }
  });
  process.send!({ ready: true });
}

// ------------------------------------------------------------------------------------------------------------------
// Main process

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function devices(): { proc: ChildProcess; ask(m: DeviceCommand): Promise<any> } {
  const proc = fork(__filename, ['--devices'], { execArgv: ['--import', 'tsx', '--max-old-space-size=4096'], stdio: 'inherit' });
  const waiting: ((m: any) => void)[] = [];
  proc.on('message', (m) => waiting.shift()?.(m));
  const ready = new Promise((r) => waiting.push(r));
  return {
    proc,
    async ask(m: DeviceCommand) {
      await ready;
      const p = new Promise((r) => waiting.push(r));
      proc.send(m);
      return p;
    },
  };
}

/** Registry file with `count` devices sharing one precomputed hash (same password, same salt: bench only). */
function writeRegistry(file: string, prefix: string, count: number): void {
  const salt = crypto.randomBytes(16);
  const hash = crypto.scryptSync(PASSWORD, salt, 32, { N: 1 << 10, r: 8, p: 1 });
  const devicesList = Array.from({ length: count }, (_, i) => ({
    deviceId: `${prefix}${i}`,
    username: `device_${prefix}${i}`,
    salt: salt.toString('base64'),
    hash: hash.toString('base64'),
    cost: 1 << 10,
    created: new Date().toISOString(),
    source: 'registration',
  }));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ version: 1, devices: devicesList }));
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface CaseResult {
  path: string;
  devices: number;
  floodRecordsPerSecond: number;
  cpuMicrosPerRecord: number;
  /** Broker and flow together: for the mosquitto path this process plus mosquitto's own CPU. */
  serverCpuMicrosPerRecord: number;
  offered: number;
  deliveredAtRate: number;
  p50ms: number;
  p99ms: number;
}


async function main(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mqttNodes = require('@node-red/nodes/core/network/10-mqtt.js');
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-endpoint-'));
  helper.settings({ userDir, mqttReconnectTime: 1000, logging: { console: { level: 'warn', metrics: false, audit: false } } });
  await new Promise<void>((r) => helper.startServer(() => r()));
  const results: CaseResult[] = [];
  const hasMosquitto = spawnSync('sh', ['-c', 'command -v mosquitto']).status === 0;

  async function runCase(kind: 'endpoint' | 'mosquitto', count: number): Promise<CaseResult> {
    const port = await freePort();
    const prefix = `b${count}-`;
    let mosq: ChildProcess | undefined;
    let flow: any[];
    if (kind === 'endpoint') {
      writeRegistry(path.join(userDir, 'c8y-endpoint', 'ep-devices.json'), prefix, count);
      flow = [
        { id: 'tab', type: 'tab' },
        { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: TENANT },
        { id: 'in', z: 'tab', type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'measurement', wires: [['count']] },
        { id: 'count', z: 'tab', type: 'helper' },
      ];
    } else {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-mosq-'));
      fs.chmodSync(dir, 0o755);
      fs.writeFileSync(path.join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\nlog_dest stderr\nlog_type error\n`);
      fs.chmodSync(path.join(dir, 'm.conf'), 0o644);
      mosq = spawn('mosquitto', ['-c', path.join(dir, 'm.conf')], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 500));
      flow = [
        { id: 'tab', type: 'tab' },
        { id: 'br', type: 'mqtt-broker', broker: '127.0.0.1', port: String(port), clientid: 'bench-flow', protocolVersion: '4', cleansession: true, keepalive: '60', autoConnect: true },
        { id: 'min', z: 'tab', type: 'mqtt in', topic: 's/us', qos: '0', datatype: 'utf8', broker: 'br', wires: [['dec']] },
        { id: 'dec', z: 'tab', type: 'smartrest-decode', output: 'record', quote: 'backslash', xid: '', templates: '', wires: [['count']] },
        { id: 'count', z: 'tab', type: 'helper' },
      ];
    }
    await helper.load(kind === 'endpoint' ? [endpointNode, inNode] : [mqttNodes, decodeNode], flow);
    unspy(flow);
    let received = 0;
    let latencies: number[] | undefined;
    helper.getNode('count').on('input', (msg: any) => {
      received++;
      if (latencies) latencies.push(now() - msg.payload.values.value);
    });
    await new Promise((r) => setTimeout(r, 1500));
    const dev = devices();
    const url = `mqtt://127.0.0.1:${port}`;
    await dev.ask({ cmd: 'connect', url, count, prefix, auth: kind === 'endpoint' });
    await new Promise((r) => setTimeout(r, 500));

    // Flood.
    received = 0;
    const cpu0 = process.cpuUsage();
    const broker0 = mosq ? procCpuMs(mosq.pid!) * 1000 : 0;
    const t0 = Date.now();
    await dev.ask({ cmd: 'flood', ms: FLOOD_MS });
    const flooded = received;
    const elapsed = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const brokerCpu = mosq ? procCpuMs(mosq.pid!) * 1000 - broker0 : 0;
    // Drain whatever is still queued (mosquitto → mqtt in has no end-to-end back-pressure).
    for (let last = -1; last !== received; ) {
      last = received;
      await new Promise((r) => setTimeout(r, 1000));
    }
    // Fixed rate.
    received = 0;
    latencies = [];
    const rate = await dev.ask({ cmd: 'rate', ms: RATE_MS, rate: OFFERED });
    await new Promise((r) => setTimeout(r, 1000));
    const lat = latencies.sort((a, b) => a - b);
    latencies = undefined;
    const delivered = received;
    await dev.ask({ cmd: 'stop' });
    dev.proc.kill();
    await helper.unload();
    mosq?.kill();
    const result: CaseResult = {
      path: kind === 'endpoint' ? 'c8y-endpoint → c8y-endpoint-in' : 'mosquitto → mqtt in → smartrest-decode',
      devices: count,
      floodRecordsPerSecond: Math.round(flooded / elapsed),
      cpuMicrosPerRecord: Math.round(((cpu.user + cpu.system) / Math.max(1, flooded)) * 10) / 10,
      serverCpuMicrosPerRecord: Math.round(((cpu.user + cpu.system + brokerCpu) / Math.max(1, flooded)) * 10) / 10,
      offered: rate.sent,
      deliveredAtRate: delivered,
      p50ms: Math.round(percentile(lat, 50) * 100) / 100,
      p99ms: Math.round(percentile(lat, 99) * 100) / 100,
    };
    console.error(JSON.stringify(result));
    return result;
  }

  // Memory first, while this process is still fresh (node-red-node-test-helper's sinon spies keep every call).
  // Memory: 10,000 idle devices connected to the endpoint.
  const idle = process.env.BENCH_MEMORY === '0' ? 0 : 10_000;
  const port = await freePort();
  writeRegistry(path.join(userDir, 'c8y-endpoint', 'ep-devices.json'), 'idle-', idle);
  const idleFlow: any[] = [
    { id: 'tab', type: 'tab' },
    { id: 'ep', type: 'c8y-endpoint', host: '127.0.0.1', port, tenant: TENANT },
    { id: 'in', z: 'tab', type: 'c8y-endpoint-in', endpoint: 'ep', filter: 'all', wires: [[]] },
  ];
  await helper.load([endpointNode, inNode], idleFlow);
  unspy(idleFlow);
  await new Promise((r) => setTimeout(r, 1000));
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const dev = devices();
  const t0 = Date.now();
  await dev.ask({ cmd: 'connect', url: `mqtt://127.0.0.1:${port}`, count: idle, prefix: 'idle-', auth: true });
  const connectSeconds = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  global.gc?.();
  const rss = process.memoryUsage().rss;
  const server = (helper.getNode('ep') as any).server();
  const connected = server?.clientCounts().devices;
  await dev.ask({ cmd: 'stop' });
  dev.proc.kill();
  await helper.unload();
  const kinds = (process.env.BENCH_KINDS ?? 'endpoint,mosquitto').split(',');
  for (const count of (process.env.BENCH_COUNTS ?? '100,1000').split(',').map(Number)) {
    if (kinds.includes('endpoint')) results.push(await runCase('endpoint', count));
    if (hasMosquitto && kinds.includes('mosquitto')) results.push(await runCase('mosquitto', count));
  }

  await new Promise<void>((r) => helper.stopServer(() => r()));
  fs.rmSync(userDir, { recursive: true, force: true });

  const memory = { idleDevices: idle, connected, connectSeconds, rssMB: Math.round(rss / 1048576), rssBeforeMB: Math.round(rssBefore / 1048576) };
  console.log('\n## Endpoint benchmark\n');
  console.log(`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version}. Flood ${FLOOD_MS / 1000} s; latency at ${OFFERED} records/s offered.\n`);
  console.log('| path | devices | records/s (flood) | Node-RED CPU µs/record | broker + flow CPU µs/record | offered / delivered (fixed rate) | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) console.log(`| ${r.path} | ${r.devices} | ${r.floodRecordsPerSecond} | ${r.cpuMicrosPerRecord} | ${r.serverCpuMicrosPerRecord} | ${r.offered} / ${r.deliveredAtRate} | ${r.p50ms} | ${r.p99ms} |`);
  console.log(`\nMemory: ${memory.connected} of ${idle} idle devices connected in ${memory.connectSeconds} s; RSS ${memory.rssMB} MB (before: ${memory.rssBeforeMB} MB).`);
  const e1000 = results.find((r) => r.devices === 1000 && r.path.startsWith('c8y'));
  const m1000 = results.find((r) => r.devices === 1000 && r.path.startsWith('mosq'));
  console.log('\nTargets:');
  console.log(`- ≥ 10,000 records/s with 1,000 devices: ${e1000?.floodRecordsPerSecond} → ${e1000 && e1000.floodRecordsPerSecond >= 10000 ? 'met' : 'NOT met'}`);
  if (m1000 && e1000) console.log(`- ≥ 1.5× mosquitto + core nodes: ${(e1000.floodRecordsPerSecond / m1000.floodRecordsPerSecond).toFixed(2)}× → ${e1000.floodRecordsPerSecond >= 1.5 * m1000.floodRecordsPerSecond ? 'met' : 'NOT met'}`);
  console.log(`- < 500 MB RSS with 10,000 idle devices: ${memory.rssMB} MB → ${memory.rssMB < 500 ? 'met' : 'NOT met'}`);
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'endpoint.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, results, memory }, null, 2) + '\n');
  process.exit(0);
}

if (process.argv.includes('--devices')) void deviceMain();
else main().catch((err) => {
  console.error(err);
  process.exit(1);
});
