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
 * Phases per case: flood (closed loop: every device publishes QoS 1 with W messages in flight, 6 s) → records/s
 * reaching the flow during the window, CPU per record of what serves them (this process, which holds the broker
 * and the flow, plus mosquitto's own CPU on that path) and of the simulator; fixed rate (OFFERED records/s spread
 * over the devices, 6 s) → p50/p99 latency from publish to the flow.
 * Cases: 100 and 1,000 devices × W = 1 and W = 10 (10 is paho's default max-inflight, the client most devices and
 * agents use) × both paths.
 * Reference row: the same devices against a bare Node.js responder (support/floor.ts: one read and one write per
 * packet, nothing else), the least CPU per record any Node.js server can spend on this load; it says how much of a
 * path's cost is socket work that no broker code can remove.
 * Second simulator: with W = 1, MQTT.js costs about as much per message as the servers and saturates its core first,
 * so those rows measure it. The same W = 1 load is then run with support/raw-devices.ts as the device client
 * (`--devices --raw`: packets built by hand on plain sockets) for 1,000 devices, where the servers' core is what
 * fills up (BENCH_RAW_COUNTS=<counts>, empty to skip).
 * Memory: RSS of this process with 10,000 idle connected devices (endpoint only).
 *
 * CPU placement (decision): with taskset available the simulator runs on CPU 0, and this process plus mosquitto on
 * CPU 1, so both paths get the same single core and the load generator cannot take CPU from what it measures (real
 * devices are remote). The table shows the server's and the simulator's load, so that each ratio is read for what
 * limited it. BENCH_PIN=0 turns placement off.
 * For profiling: BENCH_KINDS=endpoint|mosquitto|floor, BENCH_COUNTS=1000, BENCH_INFLIGHT=10, BENCH_MEMORY=0 select parts;
 * BENCH_SIMULATOR_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' passes Node options to the simulator process;
 * BENCH_PROFILE=/tmp/prof writes a CPU profile of this process for each flood.
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
import { startFloor } from './support/floor';
import { procCpuMs } from './support/proc';
import { RawDevice } from './support/raw-devices';
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
const PIN = process.env.BENCH_PIN !== '0' && spawnSync('sh', ['-c', 'command -v taskset']).status === 0;
const GENERATOR_CPU = 0;
const SERVER_CPU = 1;
function pin(pid: number, cpu: number): void {
  spawnSync('taskset', ['-a', '-cp', String(cpu), String(pid)], { stdio: 'ignore' });
}
const QOS1 = { qos: 1 } as const;

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
  inflight?: number;
}

/** The calls of a device client the simulator uses: MQTT.js's, or the lean RawDevice's (`--raw`). */
interface DeviceClient {
  publish(topic: string, message: string, options: { qos: 0 | 1 }, done?: () => void): unknown;
  endAsync(force?: boolean): Promise<unknown>;
}

async function deviceMain(raw: boolean): Promise<void> {
  let clients: DeviceClient[] = [];
  let running = false;
  // A normal exit on kill, so that `--cpu-prof` (through BENCH_SIMULATOR_ARGS) can write the simulator's profile.
  process.on('SIGTERM', () => process.exit(0));
  process.on('message', async (m: DeviceCommand) => {
    if (m.cmd === 'connect') {
      const batch = 200;
      for (let i = 0; i < m.count!; i += batch) {
        const part = await Promise.all(
          Array.from({ length: Math.min(batch, m.count! - i) }, (_, k) => {
            const id = `${m.prefix}${i + k}`;
            if (raw) return RawDevice.connect(m.url!, { clientId: id, ...(m.auth ? { username: `${TENANT}/device_${id}`, password: PASSWORD } : {}) });
            return mqtt.connectAsync(m.url!, {
              clientId: id,
              ...(m.auth ? { username: `${TENANT}/device_${id}`, password: PASSWORD } : {}),
              reconnectPeriod: 0,
              connectTimeout: 120_000,
              keepalive: 600,
              // MQTT.js re-arms its ping timer on every packet received by default; at tens of thousands of PUBACKs per
              // second that is most of the generator's timer work. Pings still go out every keepalive.
              reschedulePings: false,
            });
          }),
        );
        clients.push(...part);
      }
      process.send!({ connected: clients.length });
    } else if (m.cmd === 'flood') {
      running = true;
      let sent = 0;
      const cpu0 = process.cpuUsage();
      const end = Date.now() + m.ms!;
      // Closed loop: QoS 1, `inflight` messages in flight per device (each next one after a PUBACK). Callbacks, not
      // a promise per message: the generator shares the 2 cores with what it measures, so it is kept lean.
      let lanes = 0;
      await new Promise<void>((resolve) => {
        const lane = (c: DeviceClient) => {
          const next = () => {
            if (!running || Date.now() >= end) {
              if (--lanes === 0) resolve();
              return;
            }
            c.publish('s/us', `200,c8y_Bench,t,${now()}`, QOS1, acked);
          };
          const acked = () => {
            sent++;
            next();
          };
          lanes++;
          next();
        };
        for (const c of clients) for (let i = 0; i < (m.inflight ?? 1); i++) lane(c);
        if (lanes === 0) resolve();
      });
      const cpu = process.cpuUsage(cpu0);
      process.send!({ sent, cpuUser: cpu.user, cpuSystem: cpu.system });
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

/** BENCH_PROFILE=<dir>: CPU profile of this process during each flood only (the whole run would dilute it). */
async function startProfile(): Promise<((name: string) => Promise<void>) | undefined> {
  const dir = process.env.BENCH_PROFILE;
  if (!dir) return undefined;
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method: string) => new Promise<any>((resolve, reject) => session.post(method, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return async (name) => {
    const { profile } = await post('Profiler.stop');
    session.disconnect();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Which device simulator runs: MQTT.js (as the issue asks) or the lean one of support/raw-devices.ts. */
type Simulator = 'mqtt.js' | 'raw';

function devices(simulator: Simulator = 'mqtt.js'): { proc: ChildProcess; ask(m: DeviceCommand): Promise<any> } {
  const proc = fork(__filename, ['--devices', ...(simulator === 'raw' ? ['--raw'] : [])], { execArgv: ['--import', 'tsx', '--max-old-space-size=4096', ...(process.env.BENCH_SIMULATOR_ARGS?.split(' ').filter(Boolean) ?? [])], stdio: 'inherit' });
  if (PIN) pin(proc.pid!, GENERATOR_CPU);
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
  simulator: Simulator;
  devices: number;
  /** QoS 1 messages in flight per device during the flood. */
  inflight: number;
  floodRecordsPerSecond: number;
  cpuMicrosPerRecord: number;
  /** The same split into user and system time (JSON only). */
  cpuUserMicrosPerRecord: number;
  cpuSystemMicrosPerRecord: number;
  /** Broker and flow together: for the mosquitto path this process plus mosquitto's own CPU. */
  serverCpuMicrosPerRecord: number;
  offered: number;
  deliveredAtRate: number;
  p50ms: number;
  p99ms: number;
  /** Simulator CPU during the flood, % of one core: near 100 the generator limits the row. */
  simulatorCpuPercent: number;
}

type Kind = 'endpoint' | 'mosquitto' | 'floor';
const PATHS: Record<Kind, string> = {
  endpoint: 'c8y-endpoint → c8y-endpoint-in',
  mosquitto: 'mosquitto → mqtt in → smartrest-decode',
  floor: 'floor: bare Node.js responder (reference)',
};

/** At or above this load (% of one core) a process is taken as the bottleneck of a flood row. */
const SATURATED_PERCENT = 90;

/** CPU of what serves the devices during the flood, % of one core (the core it is pinned to). */
function serverPercent(r: CaseResult): number {
  return Math.round((r.serverCpuMicrosPerRecord * r.floodRecordsPerSecond) / 1e4);
}


async function main(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mqttNodes = require('@node-red/nodes/core/network/10-mqtt.js');
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-endpoint-'));
  if (PIN) pin(process.pid, SERVER_CPU);
  helper.settings({ userDir, mqttReconnectTime: 1000, logging: { console: { level: 'warn', metrics: false, audit: false } } });
  await new Promise<void>((r) => helper.startServer(() => r()));
  const results: CaseResult[] = [];
  const hasMosquitto = spawnSync('sh', ['-c', 'command -v mosquitto']).status === 0;

  async function runCase(kind: Kind, count: number, inflight: number, simulator: Simulator): Promise<CaseResult> {
    const port = await freePort();
    const prefix = `b${count}-`;
    let mosq: ChildProcess | undefined;
    let floor: net.Server | undefined;
    let flow: any[] = [];
    let received = 0;
    let latencies: number[] | undefined;
    if (kind === 'floor') {
      floor = await startFloor(port, (payload) => {
        received++;
        if (latencies) latencies.push(now() - Number(payload.toString('latin1').slice(payload.lastIndexOf(0x2c) + 1)));
      });
    } else if (kind === 'endpoint') {
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
      if (PIN) pin(mosq.pid!, SERVER_CPU);
      await new Promise((r) => setTimeout(r, 500));
      flow = [
        { id: 'tab', type: 'tab' },
        { id: 'br', type: 'mqtt-broker', broker: '127.0.0.1', port: String(port), clientid: 'bench-flow', protocolVersion: '4', cleansession: true, keepalive: '60', autoConnect: true },
        { id: 'min', z: 'tab', type: 'mqtt in', topic: 's/us', qos: '0', datatype: 'utf8', broker: 'br', wires: [['dec']] },
        { id: 'dec', z: 'tab', type: 'smartrest-decode', output: 'record', quote: 'backslash', xid: '', templates: '', wires: [['count']] },
        { id: 'count', z: 'tab', type: 'helper' },
      ];
    }
    if (!floor) {
      await helper.load(kind === 'endpoint' ? [endpointNode, inNode] : [mqttNodes, decodeNode], flow);
      unspy(flow);
      helper.getNode('count').on('input', (msg: any) => {
        received++;
        if (latencies) latencies.push(now() - msg.payload.values.value);
      });
      await new Promise((r) => setTimeout(r, 1500));
    }
    const dev = devices(simulator);
    const url = `mqtt://127.0.0.1:${port}`;
    await dev.ask({ cmd: 'connect', url, count, prefix, auth: kind === 'endpoint' });
    await new Promise((r) => setTimeout(r, 500));

    // Flood.
    received = 0;
    const profiler = await startProfile();
    const cpu0 = process.cpuUsage();
    const broker0 = mosq ? procCpuMs(mosq.pid!) * 1000 : 0;
    const t0 = Date.now();
    const flood = await dev.ask({ cmd: 'flood', ms: FLOOD_MS, inflight });
    const flooded = received;
    const elapsed = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const brokerCpu = mosq ? procCpuMs(mosq.pid!) * 1000 - broker0 : 0;
    await profiler?.(`${kind}-${count}-w${inflight}`);
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
    if (floor) await new Promise((r) => floor.close(r));
    else await helper.unload();
    mosq?.kill();
    const result: CaseResult = {
      path: PATHS[kind],
      simulator,
      devices: count,
      inflight,
      floodRecordsPerSecond: Math.round(flooded / elapsed),
      cpuMicrosPerRecord: Math.round(((cpu.user + cpu.system) / Math.max(1, flooded)) * 10) / 10,
      cpuUserMicrosPerRecord: Math.round((cpu.user / Math.max(1, flooded)) * 10) / 10,
      cpuSystemMicrosPerRecord: Math.round((cpu.system / Math.max(1, flooded)) * 10) / 10,
      serverCpuMicrosPerRecord: Math.round(((cpu.user + cpu.system + brokerCpu) / Math.max(1, flooded)) * 10) / 10,
      offered: rate.sent,
      deliveredAtRate: delivered,
      p50ms: Math.round(percentile(lat, 50) * 100) / 100,
      p99ms: Math.round(percentile(lat, 99) * 100) / 100,
      simulatorCpuPercent: Math.round((flood.cpuUser + flood.cpuSystem) / (elapsed * 1e4)),
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
  const kinds = (process.env.BENCH_KINDS ?? 'endpoint,mosquitto,floor').split(',');
  const cases: { count: number; inflight: number; simulator: Simulator }[] = [];
  for (const count of (process.env.BENCH_COUNTS ?? '100,1000').split(',').filter(Boolean).map(Number)) {
    for (const inflight of (process.env.BENCH_INFLIGHT ?? '1,10').split(',').map(Number)) cases.push({ count, inflight, simulator: 'mqtt.js' });
  }
  // With W = 1 MQTT.js saturates before the servers do; the lean simulator lets the servers' core fill up.
  for (const count of (process.env.BENCH_RAW_COUNTS ?? '1000').split(',').filter(Boolean).map(Number)) cases.push({ count, inflight: 1, simulator: 'raw' });
  for (const { count, inflight, simulator } of cases) {
    if (kinds.includes('endpoint')) results.push(await runCase('endpoint', count, inflight, simulator));
    if (hasMosquitto && kinds.includes('mosquitto')) results.push(await runCase('mosquitto', count, inflight, simulator));
    if (kinds.includes('floor')) results.push(await runCase('floor', count, inflight, simulator));
  }

  await new Promise<void>((r) => helper.stopServer(() => r()));
  fs.rmSync(userDir, { recursive: true, force: true });

  const memory = { idleDevices: idle, connected, connectSeconds, rssMB: Math.round(rss / 1048576), rssBeforeMB: Math.round(rssBefore / 1048576) };
  console.log('\n## Endpoint benchmark\n');
  console.log(`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version}. Flood ${FLOOD_MS / 1000} s; latency at ${OFFERED} records/s offered. ${PIN ? 'Simulator on CPU 0; Node-RED (and mosquitto) on CPU 1.' : 'No CPU placement.'}\n`);
  console.log('| path | simulator | devices | in flight / device | records/s (flood) | Node-RED CPU µs/record | broker + flow CPU µs/record | server CPU | simulator CPU | offered / delivered (fixed rate) | p50 ms | p99 ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const mark = (percent: number) => `${percent} %${percent >= SATURATED_PERCENT ? ' (saturated)' : ''}`;
  for (const r of results) {
    console.log(`| ${r.path} | ${r.simulator} | ${r.devices} | ${r.inflight} | ${r.floodRecordsPerSecond} | ${r.cpuMicrosPerRecord} | ${r.serverCpuMicrosPerRecord} | ${mark(serverPercent(r))} | ${mark(r.simulatorCpuPercent)} | ${r.offered} / ${r.deliveredAtRate} | ${r.p50ms} | ${r.p99ms} |`);
  }
  console.log(`\nServer and simulator CPU: % of one core during the flood.${PIN ? '' : ' Without CPU placement the server figure is of two shared cores.'}`);
  console.log(`\nMemory: ${memory.connected} of ${idle} idle devices connected in ${memory.connectSeconds} s; RSS ${memory.rssMB} MB (before: ${memory.rssBeforeMB} MB).`);
  const find = (prefix: string, inflight: number, simulator: Simulator) =>
    results.find((r) => r.devices === 1000 && r.inflight === inflight && r.simulator === simulator && r.path.startsWith(prefix));
  const best = Math.max(0, ...results.filter((r) => r.devices === 1000 && r.path.startsWith('c8y')).map((r) => r.floodRecordsPerSecond));
  console.log('\nTargets (1,000 devices):');
  console.log(`- ≥ 10,000 records/s: ${best} → ${best >= 10000 ? 'met' : 'NOT met'}`);
  for (const { inflight, simulator } of [...new Map(results.map((r) => [`${r.inflight}/${r.simulator}`, r])).values()]) {
    const e = find('c8y', inflight, simulator);
    const m = find('mosq', inflight, simulator);
    if (!e || !m) continue;
    const ratio = e.floodRecordsPerSecond / m.floodRecordsPerSecond;
    const cpuRatio = m.serverCpuMicrosPerRecord / e.serverCpuMicrosPerRecord;
    // Read a ratio only where it says something about the servers: when ours had CPU to spare while the peer's
    // core was full, the throughput ratio is a lower bound of what ours can do.
    const oursFull = serverPercent(e) >= SATURATED_PERCENT;
    const peerFull = serverPercent(m) >= SATURATED_PERCENT;
    const reading = oursFull === peerFull ? '' : peerFull ? ' (lower bound: ours had CPU to spare)' : ' (upper bound: the peer had CPU to spare)';
    const verdict = !oursFull && !peerFull ? 'no server saturated: measures the simulator' : ratio >= 1.5 ? 'met' : 'NOT met';
    console.log(`- ≥ 1.5× mosquitto + core nodes, ${inflight} in flight, ${simulator} devices: ${ratio.toFixed(2)}× records/s${reading}, ${cpuRatio.toFixed(2)}× less server CPU per record → ${verdict}`);
    // What 1.5× would leave a Node.js server once the bare socket work (the floor row) is paid.
    const f = find('floor', inflight, simulator);
    const budget = m.serverCpuMicrosPerRecord / 1.5;
    if (f) console.log(`  1.5× less CPU needs ≤ ${budget.toFixed(1)} µs/record; the bare Node.js responder alone costs ${f.serverCpuMicrosPerRecord} µs, leaving ${(budget - f.serverCpuMicrosPerRecord).toFixed(1)} µs for MQTT, sessions, decoding and the flow (the endpoint spends ${(e.serverCpuMicrosPerRecord - f.serverCpuMicrosPerRecord).toFixed(1)} µs)`);
  }
  console.log(`- < 500 MB RSS with 10,000 idle devices: ${memory.rssMB} MB → ${memory.rssMB < 500 ? 'met' : 'NOT met'}`);
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'endpoint.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, pinned: PIN, results, memory }, null, 2) + '\n');
  process.exit(0);
}

if (process.argv.includes('--devices')) void deviceMain(process.argv.includes('--raw'));
else
  main().catch((err) => {
  console.error(err);
  process.exit(1);
});
