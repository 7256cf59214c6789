/**
 * Benchmark of the broker bridge (issue #6). Not a test: prints a Markdown table and writes
 * bench/results/bridge.json. Run with `node scripts/bench.js bridge`.
 *
 * Same load, same machine, one run: two Debian mosquitto brokers (source A, target B); a load process (this file
 * with `--load`, MQTT.js) publishes `bench/<k>` on A and receives `out/<k>` on B; the bridge between them is
 *   node      our broker-bridge node in a Node-RED runtime (node-red-node-test-helper, its spies taken off) in this
 *             process, with the settings the editor gives a new node (drain rate 5,000/s, 1,000 in flight, outbox
 *             10,000 / 10,240 kB stop-consuming, stats every 10 s)
 *   node-nodrain  the same with drain rate 0 (an extra row: what the default drain rate costs live traffic)
 *   core      Node-RED core `mqtt in` → function (topic rewrite) → `mqtt out`, in this process
 *   mqttjs    a minimal MQTT.js bridge (two clients, publish on message), in this process
 *   mosquitto mosquitto's own bridge (a third mosquitto bridging A → B)
 * Per case and QoS: a 1 s warm-up flood (not measured), then flood (FLOOD_MS, closed loop: at most 2000 messages between publish and receive) → msg/s,
 * bridge CPU µs/msg (process.cpuUsage of this process, or /proc of the bridging mosquitto), lost/duplicated after
 * the drain; paced PACED msg/s for PACED_MS → p50/p99 latency publish → receive.
 * BENCH_BRIDGES=node,mqttjs and BENCH_QOS=0 select cases (for profiling).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { helper } from '../test/support/flow';
import { procCpuMs } from './support/proc';
import { unspy } from './support/unspy';

const FLOOD_MS = 4000;
const PACED = 3000;
const PACED_MS = 3000;
const now = () => performance.timeOrigin + performance.now();

// ---- load process ----------------------------------------------------------------------------------------------
if (process.argv.includes('--load')) {
  const [a, b] = process.argv.slice(process.argv.indexOf('--load') + 1);
  (async () => {
    const pub = await mqtt.connectAsync(a, { clientId: 'bench-load-pub' });
    const sub = await mqtt.connectAsync(b, { clientId: 'bench-load-sub' });
    let run = '';
    let seen = new Map<number, number>();
    let lat: number[] = [];
    let firstAt = 0;
    let lastAt = 0;
    sub.on('message', (_t, payload) => {
      const [r, seq, t] = payload.toString().split(':');
      if (r !== run) return;
      const n = Number(seq);
      seen.set(n, (seen.get(n) ?? 0) + 1);
      const at = now();
      if (!firstAt) firstAt = at;
      lastAt = at;
      lat.push(at - Number(t));
    });
    await sub.subscribeAsync('out/#', { qos: 1 });
    process.on('message', async (m: { cmd: string; run: string; qos: 0 | 1; ms: number; rate?: number }) => {
      run = m.run;
      seen = new Map();
      lat = [];
      firstAt = lastAt = 0;
      let sent = 0;
      let outstanding = 0;
      const end = now() + m.ms;
      const send = () => {
        const p = `${run}:${sent}:${now()}`;
        const topic = `bench/${sent % 100}`;
        sent++;
        if (m.qos === 0) pub.publish(topic, p, { qos: 0 });
        else {
          outstanding++;
          pub.publish(topic, p, { qos: 1 }, () => outstanding--);
        }
      };
      if (m.rate) {
        const perTick = m.rate / 1000;
        let due = 0;
        while (now() < end) {
          due += perTick;
          while (due >= 1) (send(), due--);
          await new Promise((r) => setTimeout(r, 1));
        }
      } else {
        // Closed loop: at most WINDOW messages between publish and receive (a bridge that queues up cannot hide a
        // backlog behind the measurement window); a stall of 500 ms lets sending go on (losses are counted).
        const WINDOW = 2000;
        let progress = now();
        let lastSeen = 0;
        while (now() < end) {
          if (seen.size !== lastSeen) (lastSeen = seen.size, (progress = now()));
          if (sent - seen.size >= WINDOW && now() - progress < 500) {
            await new Promise((r) => setTimeout(r, 1));
            continue;
          }
          for (let i = 0; i < 200 && sent - seen.size < WINDOW + 200 && (m.qos === 0 || outstanding < 1000); i++) send();
          await new Promise((r) => setImmediate(r));
        }
      }
      // Drain: wait until nothing new arrives for 1.5 s (max 30 s).
      let last = -1;
      const stop = now() + 30000;
      while (now() < stop) {
        await new Promise((r) => setTimeout(r, 1500));
        if (seen.size === last) break;
        last = seen.size;
      }
      let dup = 0;
      for (const c of seen.values()) dup += c - 1;
      lat.sort((x, y) => x - y);
      const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
      process.send!({ sent, unique: seen.size, dup, windowMs: m.ms, spanMs: lastAt - firstAt, p50: q(0.5), p99: q(0.99) });
    });
    process.send!({ ready: true });
  })();
} else void main();

// ---- brokers ---------------------------------------------------------------------------------------------------
async function freePort(): Promise<number> {
  const net = await import('node:net');
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function mosquitto(dir: string, name: string, port: number, extra: string[] = []): Promise<ChildProcess> {
  const conf = path.join(dir, `${name}.conf`);
  fs.writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type information', 'max_queued_messages 0', 'max_inflight_messages 1000', ...extra, ''].join('\n'));
  fs.chmodSync(conf, 0o644);
  const p = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const t = setTimeout(() => reject(new Error(`mosquitto ${name}: ${log}`)), 5000);
    p.stderr!.on('data', (d: Buffer) => {
      log += d;
      if (/running/.test(log)) (clearTimeout(t), resolve());
    });
  });
  p.stderr!.resume();
  return p;
}


// ---- the bridges under test --------------------------------------------------------------------------------------
interface Bridge {
  cpuMs(): number;
  stop(): Promise<void>;
}

async function nodeBridge(a: string, b: string, qos: 0 | 1, settings: Record<string, unknown> = {}): Promise<Bridge> {
  const conn = require('../dist/nodes/mqtt-broker-connection/runtime');
  const bridge = require('../dist/nodes/broker-bridge/runtime');
  await new Promise<void>((r) => helper.startServer(() => r()));
  await helper.load(
    [conn, bridge],
    [
      { id: 't', type: 'tab' },
      { id: 'ca', type: 'mqtt-broker-connection', broker: a, clientId: 'bench-node-a' },
      { id: 'cb', type: 'mqtt-broker-connection', broker: b, clientId: 'bench-node-b' },
      { id: 'br', z: 't', type: 'broker-bridge', source: 'ca', target: 'cb', rules: [{ filter: 'bench/+k', target: 'out/{k}', qos, qosMode: 'fixed' }], statsInterval: 10, ...settings, wires: [[]] },
    ] as never,
  );
  unspy([{ id: 'ca' }, { id: 'cb' }, { id: 'br' }]);
  await new Promise((r) => setTimeout(r, 500));
  return {
    cpuMs: () => process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000,
    async stop() {
      await helper.unload();
      await new Promise<void>((r) => helper.stopServer(() => r()));
    },
  };
}

async function coreBridge(a: string, b: string, qos: 0 | 1, portA: number, portB: number): Promise<Bridge> {
  const mqttNodes = require('@node-red/nodes/core/network/10-mqtt.js');
  const fn = require('@node-red/nodes/core/function/10-function.js');
  void a;
  void b;
  await new Promise<void>((r) => helper.startServer(() => r()));
  await helper.load(
    [mqttNodes, fn],
    [
      { id: 't', type: 'tab' },
      { id: 'ma', type: 'mqtt-broker', broker: '127.0.0.1', port: String(portA), clientid: 'bench-core-a', autoConnect: true, protocolVersion: '4', keepalive: '60', cleansession: true },
      { id: 'mb', type: 'mqtt-broker', broker: '127.0.0.1', port: String(portB), clientid: 'bench-core-b', autoConnect: true, protocolVersion: '4', keepalive: '60', cleansession: true },
      { id: 'in', z: 't', type: 'mqtt in', topic: 'bench/+', qos: String(qos), datatype: 'buffer', broker: 'ma', wires: [['f']] },
      { id: 'f', z: 't', type: 'function', func: "msg.topic = 'out/' + msg.topic.slice(6); return msg;", outputs: 1, wires: [['out']] },
      { id: 'out', z: 't', type: 'mqtt out', topic: '', qos: String(qos), retain: 'false', broker: 'mb', wires: [] },
    ] as never,
  );
  unspy([{ id: 'ma' }, { id: 'mb' }, { id: 'in' }, { id: 'f' }, { id: 'out' }]);
  await new Promise((r) => setTimeout(r, 1000));
  return {
    cpuMs: () => process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000,
    async stop() {
      await helper.unload();
      await new Promise<void>((r) => helper.stopServer(() => r()));
    },
  };
}

async function mqttjsBridge(a: string, b: string, qos: 0 | 1): Promise<Bridge> {
  const src = await mqtt.connectAsync(a, { clientId: 'bench-raw-a' });
  const dst = await mqtt.connectAsync(b, { clientId: 'bench-raw-b' });
  src.on('message', (topic, payload) => dst.publish(`out/${topic.slice(6)}`, payload, { qos }));
  await src.subscribeAsync('bench/+', { qos });
  return {
    cpuMs: () => process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000,
    async stop() {
      await src.endAsync();
      await dst.endAsync();
    },
  };
}

async function mosquittoBridge(dir: string, portB: number, qos: 0 | 1): Promise<Bridge & { url: string }> {
  const port = await freePort();
  const p = await mosquitto(dir, `bridge${qos}`, port, [`connection bench-${qos}`, `address 127.0.0.1:${portB}`, `topic + out ${qos} bench/ out/`, 'cleansession true', 'try_private false']);
  await new Promise((r) => setTimeout(r, 1000));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    cpuMs: () => procCpuMs(p.pid!),
    async stop() {
      p.kill();
      await new Promise((r) => p.once('exit', r));
    },
  };
}

// ---- main --------------------------------------------------------------------------------------------------------
async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-bridge-'));
  fs.chmodSync(dir, 0o755);
  const portA = await freePort();
  const portB = await freePort();
  const A = await mosquitto(dir, 'a', portA);
  const B = await mosquitto(dir, 'b', portB);
  const urlA = `mqtt://127.0.0.1:${portA}`;
  const urlB = `mqtt://127.0.0.1:${portB}`;
  const rows: Record<string, unknown>[] = [];
  let n = 0;
  try {
    const cases = (process.env.BENCH_BRIDGES ?? 'node,node-nodrain,core,mqttjs,mosquitto').split(',') as ('node' | 'node-nodrain' | 'core' | 'mqttjs' | 'mosquitto')[];
    for (const name of cases) {
      for (const qos of (process.env.BENCH_QOS ?? '0,1').split(',').map(Number) as (0 | 1)[]) {
        let source = urlA;
        let bridge: Bridge;
        if (name === 'node') bridge = await nodeBridge(urlA, urlB, qos);
        else if (name === 'node-nodrain') bridge = await nodeBridge(urlA, urlB, qos, { drainRate: 0 });
        else if (name === 'core') bridge = await coreBridge(urlA, urlB, qos, portA, portB);
        else if (name === 'mqttjs') bridge = await mqttjsBridge(urlA, urlB, qos);
        else {
          const m = await mosquittoBridge(dir, portB, qos);
          bridge = m;
          source = m.url;
        }
        const load = fork(__filename, ['--load', source, urlB], { execArgv: ['--import', 'tsx'] });
        await new Promise<void>((r) => load.once('message', () => r()));
        const ask = (m: object) => new Promise<any>((r) => (load.once('message', r), load.send(m)));
        // A short unmeasured flood first: the case that runs first would otherwise pay the JIT's warm-up alone.
        await ask({ run: `w${++n}`, qos, ms: 1000 });
        const cpu0 = bridge.cpuMs();
        const flood = await ask({ run: `r${++n}`, qos, ms: FLOOD_MS });
        const cpu = bridge.cpuMs() - cpu0;
        const paced = await ask({ run: `r${++n}`, qos, ms: PACED_MS, rate: PACED });
        load.kill();
        await bridge.stop();
        const row = {
          bridge: name,
          qos,
          msgPerS: Math.round((flood.unique / FLOOD_MS) * 1000),
          cpuUsPerMsg: +((cpu * 1000) / Math.max(1, flood.unique)).toFixed(1),
          lost: flood.sent - flood.unique,
          duplicated: flood.dup,
          p50ms: paced.p50 == null ? null : +paced.p50.toFixed(2),
          p99ms: paced.p99 == null ? null : +paced.p99.toFixed(2),
          pacedLost: paced.sent - paced.unique,
        };
        rows.push(row);
        console.log(JSON.stringify(row));
      }
    }
  } finally {
    A.kill();
    B.kill();
  }
  console.log(`\n${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; flood ${FLOOD_MS / 1000} s, paced ${PACED} msg/s for ${PACED_MS / 1000} s\n`);
  console.log('| bridge | QoS | msg/s (flood) | bridge CPU µs/msg | lost | duplicated | p50 ms @3k/s | p99 ms @3k/s |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.bridge} | ${r.qos} | ${r.msgPerS} | ${r.cpuUsPerMsg} | ${r.lost} | ${r.duplicated} | ${r.p50ms} | ${r.p99ms} |`);
  // The targets, for the node at the editor's defaults against the minimal MQTT.js bridge of this run.
  const row = (bridge: string, qos: number) => rows.find((r) => r.bridge === bridge && r.qos === qos) as { msgPerS: number; cpuUsPerMsg: number; p99ms: number | null } | undefined;
  console.log('\n| QoS | node / mqttjs msg/s (≥ 0.9) | node / mqttjs CPU per msg (≤ 1.5) | node p99 @3k/s (< 5 ms) | node / core msg/s |');
  console.log('|---|---|---|---|---|');
  for (const qos of [0, 1]) {
    const n = row('node', qos);
    const m = row('mqttjs', qos);
    const c = row('core', qos);
    if (!n) continue;
    const ratio = (x?: number, y?: number) => (x && y ? `${(x / y).toFixed(2)}×` : '–');
    console.log(`| ${qos} | ${ratio(n.msgPerS, m?.msgPerS)} | ${ratio(n.cpuUsPerMsg, m?.cpuUsPerMsg)} | ${n.p99ms ?? '–'} | ${ratio(n.msgPerS, c?.msgPerS)} |`);
  }
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'bridge.json'), JSON.stringify({ date: new Date().toISOString(), floodMs: FLOOD_MS, paced: PACED, rows }, null, 2) + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
