/**
 * Benchmark of the SmartREST codec (src/smartrest/codec.ts) against csv-parse / csv-stringify, papaparse and a
 * naive split/join. Not a test: it prints a Markdown table and a "targets" block and writes
 * bench/results/codec.json. Run with `npx tsx bench/codec.ts` or `npm run bench -- codec`.
 *
 * Data: 200,000 SmartREST records drawn from a seeded PRNG (same data on every run), written as devices write
 * them (free-text fields of events, alarms and operations quoted even when not needed), in two variants that
 * differ only in how a quote inside a quoted field is escaped: `\"` (the SmartREST way, input of our parser and
 * of the naive split) and `""` (RFC 4180, input of csv-parse and papaparse, and a second row for ours).
 *
 * Modes: `bulk` = one text holding every record; `payload` = the records cut into MQTT-sized payloads of 1–5
 * records (cut fixed by the seed), one call per payload.
 *
 * Timing: every case is warmed up first, then ROUNDS rounds run interleaved (round 1 of every case, then
 * round 2, …) so that background noise hits all contenders alike; a full GC runs before every timed run when
 * it can be exposed; the median round is reported. A case whose cold (correctness) run takes over a second
 * (csv-parse: it builds an error object, with a JSON deep copy of its options, at every change of record
 * width) counts that run as warm-up and gets fewer rounds, to keep the whole run under two minutes.
 * Serializers are timed up to a flat string (see `materialize`).
 *
 * Correctness is checked once per case: a parser's records must equal ours (ours must equal the generated
 * records), a serializer's text must read back through our `parse` to the generated records.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { parse as csvParse } from 'csv-parse/sync';
import { stringify as csvStringify } from 'csv-stringify/sync';
import Papa from 'papaparse';

import { parse, serialize } from '../dist/smartrest/codec';

const SEED = 0xc8c8_2024;
const RECORDS = 200_000;
const ROUNDS = 5;
const WARMUP = 2;
const PAYLOAD_MIN = 1;
const PAYLOAD_MAX = 5;

// ---------------------------------------------------------------------------------------------------------------
// Seeded data

/** mulberry32: small, fast, good enough for picking test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rnd = prng(SEED);
const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)];
const num = (lo: number, hi: number, decimals: number): string => (lo + rnd() * (hi - lo)).toFixed(decimals);

let clock = Date.UTC(2024, 4, 14, 8, 0, 0);
function isoTime(): string {
  clock += int(10, 5000);
  return new Date(clock).toISOString();
}

const SERIES: readonly (readonly [string, string, string, number, number, number])[] = [
  ['c8y_Temperature', 'T', 'C', -20, 45, 2],
  ['c8y_Humidity', 'H', '%RH', 10, 95, 1],
  ['c8y_Pressure', 'P', 'hPa', 950, 1050, 1],
  ['c8y_Voltage', 'V', 'V', 3.1, 4.2, 3],
  ['c8y_Current', 'I', 'A', 0, 16, 2],
  ['c8y_Energy', 'E', 'kWh', 0, 99999, 3],
  ['c8y_Speed', 'speed', 'km/h', 0, 130, 1],
  ['c8y_FillLevel', 'level', '%', 0, 100, 0],
  ['c8y_Acceleration', 'accelerationX', 'm/s2', -2, 2, 4],
];
const SERIALS = Array.from({ length: 40 }, (_, i) => `dev-${(0x1a2b00 + i * 7919).toString(16)}`);
const EVENT_TYPES = ['c8y_LocationUpdate', 'c8y_DoorOpened', 'c8y_Restarted', 'c8y_FirmwareUpdate', 'c8y_Heartbeat'];
const EVENT_TEXTS = [
  'Location updated',
  'Door opened',
  'Device restarted',
  'Firmware update started',
  'Door opened, sensor 3',
  'Power restored after 12 s',
  'Heartbeat',
  'Tamper switch, cover removed',
];
const ALARM_TYPES = ['c8y_TemperatureAlarm', 'c8y_BatteryAlarm', 'c8y_UnavailabilityAlarm', 'c8y_TamperAlarm'];
const ALARM_TEXTS = [
  'Temperature above 80 C',
  'Battery low',
  'No data received for 10 minutes',
  'Cover opened, check device',
  'Pressure out of range, 1090 hPa',
];
const FAILURES = ['Command failed: exit code 1', 'Timeout after 30 s', 'Download failed, HTTP 404', 'Not supported'];
const COMMANDS = ['reboot', 'uptime', 'df -h', 'cat /etc/os-release', 'ls -la /var/log'];
const QUOTED_TEXTS = [
  'Operator said "check valve"',
  'Config key "interval" set to 60',
  'Sensor "T1" out of range',
  '"Emergency stop" pressed',
  'Set name to "Pump 3, north"',
];
const MULTILINE = [
  'line1\nline2',
  'total 8\n-rw-r--r-- 1 root root 120 app.log\n-rw-r--r-- 1 root root 88 sys.log',
  'NAME="Ubuntu"\nVERSION="22.04"',
  'uptime 3 days\nload 0.15',
  'interval=60\nmode=eco\nurl=https://example.com/a,b',
  'echo start\nsleep 5\necho done',
];

/** One record plus which of its fields the device quotes even though nothing forces it. */
interface Gen {
  record: string[];
  forceQuote?: number[];
}

type Category = 'plain' | 'quoted' | 'escaped' | 'multiline';

function plainRecord(): Gen {
  const r = rnd() * 100;
  if (r < 40) {
    const [frag, series, unit, lo, hi, dec] = pick(SERIES);
    const rec = ['200', frag, series, num(lo, hi, dec), unit];
    if (rnd() < 0.3) rec.push(isoTime());
    return { record: rec };
  }
  if (r < 50) {
    const rec = ['201', pick(['S', 'c8y_Measurement', 'KAM']), rnd() < 0.5 ? isoTime() : ''];
    for (let n = int(2, 4); n > 0; n--) {
      const [frag, series, unit, lo, hi, dec] = pick(SERIES);
      rec.push(frag, series, num(lo, hi, dec), unit);
    }
    return { record: rec };
  }
  if (r < 60) return { record: ['211', num(-10, 40, 1)] };
  if (r < 66) return { record: ['210', String(int(-110, -50)), String(int(0, 99))] };
  if (r < 71) return { record: ['212', String(int(0, 100))] };
  if (r < 77) return { record: ['401', num(47, 55, 6), num(5, 15, 6), num(0, 400, 1), String(int(3, 50))] };
  if (r < 80) return { record: ['400', pick(EVENT_TYPES), 'Heartbeat', isoTime()] };
  if (r < 83) return { record: ['110', pick(SERIALS), 'Model ' + int(1, 9), `${int(1, 3)}.${int(0, 9)}`] };
  if (r < 86) return { record: ['114', 'c8y_Restart', 'c8y_Configuration', 'c8y_Firmware', 'c8y_SoftwareList', 'c8y_Command'] };
  if (r < 88) return { record: ['117', String(pick([5, 10, 60, 1440]))] };
  if (r < 90) {
    const rec = ['116'];
    for (let n = int(1, 3); n > 0; n--) {
      const name = pick(['agent', 'mosquitto', 'collectd', 'nodered']);
      rec.push(name, `${int(1, 4)}.${int(0, 20)}.${int(0, 9)}`, `https://repo.example.com/${name}.deb`);
    }
    return { record: rec };
  }
  if (r < 92) return { record: ['115', 'firmware', `${int(1, 3)}.${int(0, 9)}.${int(0, 9)}`, 'https://fw.example.com/img.bin'] };
  if (r < 96) return { record: [pick(['501', '504']), pick(['c8y_Restart', 'c8y_Command', 'c8y_Firmware'])] };
  if (r < 98) return { record: ['510', pick(SERIALS)] };
  return { record: ['100', `Device ${int(1, 999)}`, 'c8y_MQTTDevice'] };
}

/** A record with a free-text field that devices quote; `text` is put in that field. */
function textRecord(text: string, allowDownstream: boolean): Gen {
  const r = rnd() * (allowDownstream ? 100 : 85);
  if (r < 40) {
    const rec = ['400', pick(EVENT_TYPES), text];
    if (rnd() < 0.3) rec.push(isoTime());
    return { record: rec, forceQuote: [2] };
  }
  if (r < 60) return { record: [String(int(301, 304)), pick(ALARM_TYPES), text], forceQuote: [2] };
  if (r < 70) return { record: ['502', pick(['c8y_Command', 'c8y_Firmware', 'c8y_Configuration']), text], forceQuote: [2] };
  if (r < 85) return { record: ['503', 'c8y_Command', text], forceQuote: [2] };
  return { record: ['511', pick(SERIALS), text], forceQuote: [2] };
}

function generate(): { gens: Gen[]; categories: Record<Category, number> } {
  const gens: Gen[] = [];
  const categories: Record<Category, number> = { plain: 0, quoted: 0, escaped: 0, multiline: 0 };
  for (let i = 0; i < RECORDS; i++) {
    const r = rnd();
    let cat: Category;
    let gen: Gen;
    if (r < 0.8) {
      cat = 'plain';
      gen = plainRecord();
    } else if (r < 0.955) {
      cat = 'quoted';
      const kind = rnd();
      const text =
        kind < 0.45 ? pick(EVENT_TEXTS) : kind < 0.7 ? pick(ALARM_TEXTS) : kind < 0.85 ? pick(FAILURES) : kind < 0.97 ? pick(COMMANDS) : 'saved to C:\\data\\dump.bin';
      gen = textRecord(text, true);
    } else if (r < 0.98) {
      cat = 'escaped';
      gen = textRecord(pick(QUOTED_TEXTS), false);
    } else {
      cat = 'multiline';
      const text = pick(MULTILINE);
      gen = { record: rnd() < 0.5 ? ['511', pick(SERIALS), text] : ['503', 'c8y_Command', text], forceQuote: [2] };
    }
    categories[cat]++;
    gens.push(gen);
  }
  return { gens, categories };
}

/** Write a record as a device would: quote forced or needed fields; escape quotes with `\"` or `""`. */
function writeRecord(gen: Gen, style: 'backslash' | 'double'): string {
  const esc = style === 'backslash' ? '\\"' : '""';
  let line = '';
  for (let f = 0; f < gen.record.length; f++) {
    const v = gen.record[f];
    if (f > 0) line += ',';
    const quote = gen.forceQuote?.includes(f) || /[",\r\n]/.test(v) || v !== v.trim();
    line += quote ? '"' + v.replace(/"/g, esc) + '"' : v;
  }
  return line;
}

const { gens, categories } = generate();
const records: string[][] = gens.map((g) => g.record);
const linesA = gens.map((g) => writeRecord(g, 'backslash'));
const linesB = gens.map((g) => writeRecord(g, 'double'));
const textA = linesA.join('\n');
const textB = linesB.join('\n');

// Payload cut (after all record draws, so the records do not depend on it).
const payloadSizes: number[] = [];
for (let left = RECORDS; left > 0; ) {
  const n = Math.min(left, int(PAYLOAD_MIN, PAYLOAD_MAX));
  payloadSizes.push(n);
  left -= n;
}
const payloadRecords: string[][][] = [];
const payloadsA: string[] = [];
const payloadsB: string[] = [];
{
  let at = 0;
  for (const n of payloadSizes) {
    payloadRecords.push(records.slice(at, at + n));
    payloadsA.push(linesA.slice(at, at + n).join('\n'));
    payloadsB.push(linesB.slice(at, at + n).join('\n'));
    at += n;
  }
}

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
const sumBytes = (list: readonly string[]): number => list.reduce((n, s) => n + bytes(s), 0);

// ---------------------------------------------------------------------------------------------------------------
// Contenders

const csvParseOptions = { relax_column_count: true } as const;
// For the header and the JSON only: the calls below pass fresh literals (Papa.parse adds keys to its config).
const papaParseExplicit = { delimiter: ',', newline: '\n' } as const;
const papaUnparseOptions = { newline: '\n' } as const;

interface Parser {
  name: string;
  input: 'backslash' | 'double';
  fn: (text: string) => string[][];
  /** Shown for information; not a reference for ratios or targets. */
  info?: boolean;
}
const parsers: Parser[] = [
  { name: 'ours', input: 'backslash', fn: (t) => parse(t) },
  { name: 'ours (`""` input)', input: 'double', fn: (t) => parse(t) },
  { name: 'csv-parse', input: 'double', fn: (t) => csvParse(t, csvParseOptions) as string[][] },
  { name: 'papaparse', input: 'double', fn: (t) => Papa.parse<string[]>(t, {}).data },
  {
    name: "papaparse (delimiter ',', newline '\\n')",
    input: 'double',
    fn: (t) => Papa.parse<string[]>(t, { delimiter: ',', newline: '\n' }).data, // Papa.parse mutates its config: a fresh one per call
    info: true,
  },
  { name: 'naive split', input: 'backslash', fn: (t) => t.split('\n').map((l) => l.split(',')) },
];

const serializers: { name: string; fn: (recs: string[][]) => string }[] = [
  { name: 'ours', fn: (r) => serialize(r) },
  { name: 'csv-stringify', fn: (r) => csvStringify(r) },
  { name: 'papaparse', fn: (r) => Papa.unparse(r, { newline: '\n' }) },
  { name: 'naive join', fn: (r) => r.map((x) => x.join(',')).join('\n') },
];

/**
 * A serializer that builds its text with `+=` returns a rope that is flattened on first real use (Buffer.from
 * when the MQTT client publishes it); one that uses `join` pays for the flat string itself. Reading one character
 * flattens the rope, so every serializer is timed up to a flat string it can hand over.
 */
const materialize = (s: string): number => s.length + s.charCodeAt(0);

type Mode = 'bulk' | 'payload';
type Op = 'parse' | 'serialize';

interface Check {
  ok: boolean;
  text: string;
}

interface Case {
  op: Op;
  name: string;
  mode: Mode;
  info: boolean;
  /** Input bytes for parse, output bytes for serialize. */
  bytes: number;
  run: () => number;
  check: Check;
  /** Duration of the (cold) correctness run, which decides how many runs a slow case gets. */
  probeMs: number;
  warmup: number;
  rounds: number;
  times: number[];
}

function sameRecords(a: readonly (readonly string[])[], b: readonly (readonly string[])[]): Check {
  if (a.length !== b.length) return { ok: false, text: `no (${a.length} records, expected ${b.length})` };
  let bad = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.length !== y.length || x.some((v, j) => v !== y[j])) bad++;
  }
  return bad ? { ok: false, text: `no (${bad} records differ)` } : { ok: true, text: 'yes' };
}

/** Run `produce` once (timed), then compare what it gave with `expected`. */
function probe(produce: () => string[][], expected: readonly (readonly string[])[]): { check: Check; ms: number } {
  const t0 = process.hrtime.bigint();
  let got: string[][] | undefined;
  let error: unknown;
  try {
    got = produce();
  } catch (err) {
    error = err;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (got === undefined) return { check: { ok: false, text: `no (throws: ${String((error as Error)?.message).slice(0, 60)})` }, ms };
  return { check: sameRecords(got, expected), ms };
}

let gc: (() => void) | undefined;
try {
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as () => void;
} catch {
  gc = undefined;
}

/** A case whose cold run takes longer than this gets no extra warm-up and only SLOW_ROUNDS rounds. */
const SLOW_MS = 2000;
const SLOW_ROUNDS = 3;

const cases: Case[] = [];
let sink = 0;

function addCase(c: Omit<Case, 'warmup' | 'rounds' | 'times' | 'check' | 'probeMs'>, p: { check: Check; ms: number }): void {
  const slow = p.ms > SLOW_MS;
  cases.push({ ...c, check: p.check, probeMs: p.ms, warmup: slow ? 0 : WARMUP, rounds: slow ? SLOW_ROUNDS : ROUNDS, times: [] });
}

// Correctness: ours against the generated records (on both variants); the others against ours.
const oursBulk = parse(textA);

for (const p of parsers) {
  const bulkText = p.input === 'backslash' ? textA : textB;
  const payloads = p.input === 'backslash' ? payloadsA : payloadsB;
  const fn = p.fn;
  const expected = p.name.startsWith('ours') ? records : oursBulk;
  gc?.();
  addCase(
    { op: 'parse', name: p.name, mode: 'bulk', info: !!p.info, bytes: bytes(bulkText), run: () => fn(bulkText).length },
    probe(() => fn(bulkText), expected),
  );
  gc?.();
  addCase(
    {
      op: 'parse',
      name: p.name,
      mode: 'payload',
      info: !!p.info,
      bytes: sumBytes(payloads),
      run: () => {
        let n = 0;
        for (let i = 0; i < payloads.length; i++) n += fn(payloads[i]).length;
        return n;
      },
    },
    probe(() => {
      const all: string[][] = [];
      for (let i = 0; i < payloads.length; i++) for (const r of fn(payloads[i])) all.push(r);
      return all;
    }, expected),
  );
}

for (const s of serializers) {
  const fn = s.fn;
  gc?.();
  let bulkOut = '';
  const bulkProbe = probe(() => {
    bulkOut = fn(records);
    materialize(bulkOut);
    return parse(bulkOut);
  }, records);
  addCase({ op: 'serialize', name: s.name, mode: 'bulk', info: false, bytes: bytes(bulkOut), run: () => materialize(fn(records)) }, bulkProbe);
  gc?.();
  let payloadOut: string[] = [];
  const payloadProbe = probe(() => {
    payloadOut = payloadRecords.map((r) => fn(r));
    const all: string[][] = [];
    for (const t of payloadOut) for (const r of parse(t)) all.push(r);
    return all;
  }, records);
  addCase(
    {
      op: 'serialize',
      name: s.name,
      mode: 'payload',
      info: false,
      bytes: sumBytes(payloadOut),
      run: () => {
        let n = 0;
        for (let i = 0; i < payloadRecords.length; i++) n += materialize(fn(payloadRecords[i]));
        return n;
      },
    },
    payloadProbe,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Timing

const pct = (n: number): string => ((100 * n) / RECORDS).toFixed(1) + '%';
const mb = (n: number): string => (n / 1e6).toFixed(2) + ' MB';
const load = loadavg();

console.log('# SmartREST codec benchmark\n');
console.log(`- Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load average ${load.map((l) => l.toFixed(2)).join(' ')}`);
console.log(`- ${RECORDS.toLocaleString('en')} records from seed 0x${SEED.toString(16)} (ASCII only); mix:`);
console.log(`  - plain, no quote (200, 201, 210–212, 401, 100/110/114–117, 400 unquoted, 501/504/510): ${categories.plain} (${pct(categories.plain)})`);
console.log(`  - quoted free text without quotes inside (400, 301–304, 502, 503, 511; some with commas): ${categories.quoted} (${pct(categories.quoted)})`);
console.log(`  - quoted text with escaped quotes (\`\\"\` in the SmartREST text, \`""\` in the RFC 4180 text): ${categories.escaped} (${pct(categories.escaped)})`);
console.log(`  - multi-line quoted text (503/511, real LF inside quotes, some with quotes too): ${categories.multiline} (${pct(categories.multiline)})`);
console.log(
  `- bulk: one text of ${mb(bytes(textA))} (both variants); payload: ${payloadSizes.length.toLocaleString('en')} payloads of ${PAYLOAD_MIN}–${PAYLOAD_MAX} records (mean ${(RECORDS / payloadSizes.length).toFixed(2)} records, ${(bytes(textA) / payloadSizes.length).toFixed(0)} B)`,
);
console.log('- parse input: ours and naive split read the `\\"` text; csv-parse, papaparse and ours (second row) the `""` text');
console.log(
  `- csv-parse ${JSON.stringify(csvParseOptions)}; Papa.parse(text, {}) (the row with delimiter/newline given is for information only); csv-stringify defaults; Papa.unparse ${JSON.stringify(papaUnparseOptions)}`,
);
console.log('- serialize is timed up to a flat string (one charCodeAt flattens a `+=` rope, as Buffer.from would when publishing)');
console.log(
  `- ${WARMUP} warm-up runs, then ${ROUNDS} rounds interleaved across cases, median reported (a case whose cold run takes > ${SLOW_MS} ms: that run is its warm-up, ${SLOW_ROUNDS} rounds)${gc ? '; full GC before each run' : ' (GC could not be exposed)'}`,
);
console.log('- MB = 10^6 bytes of input (parse) or output (serialize); ratios are records/s against the same op and mode\n');

const startedAt = process.hrtime.bigint();
for (const c of cases) {
  for (let i = 0; i < c.warmup; i++) sink += c.run();
}
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) {
    if (round >= c.rounds) continue;
    gc?.();
    const t0 = process.hrtime.bigint();
    sink += c.run();
    const t1 = process.hrtime.bigint();
    c.times.push(Number(t1 - t0) / 1e6);
  }
}
const timingSeconds = Number(process.hrtime.bigint() - startedAt) / 1e9;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface Row {
  op: Op;
  contender: string;
  mode: Mode;
  info: boolean;
  medianMs: number;
  minMs: number;
  maxMs: number;
  timesMs: number[];
  recordsPerSec: number;
  mbPerSec: number;
  bytes: number;
  vsPapaparse: number;
  vsNaive: number;
  correct: boolean;
  correctness: string;
}

const rows: Row[] = cases.map((c) => {
  const ms = median(c.times);
  return {
    op: c.op,
    contender: c.name,
    mode: c.mode,
    info: c.info,
    medianMs: ms,
    minMs: Math.min(...c.times),
    maxMs: Math.max(...c.times),
    timesMs: c.times,
    recordsPerSec: RECORDS / (ms / 1e3),
    mbPerSec: c.bytes / 1e6 / (ms / 1e3),
    bytes: c.bytes,
    vsPapaparse: NaN,
    vsNaive: NaN,
    correct: c.check.ok,
    correctness: c.check.text,
  };
});
const find = (op: Op, name: string, mode: Mode): Row => {
  const row = rows.find((r) => r.op === op && r.contender === name && r.mode === mode);
  if (!row) throw new Error(`no row ${op}/${name}/${mode}`);
  return row;
};
for (const r of rows) {
  r.vsPapaparse = r.recordsPerSec / find(r.op, 'papaparse', r.mode).recordsPerSec;
  r.vsNaive = r.recordsPerSec / find(r.op, r.op === 'parse' ? 'naive split' : 'naive join', r.mode).recordsPerSec;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en');
const fmtX = (n: number): string => (n >= 10 ? n.toFixed(1) : n.toFixed(2)) + '×';

console.log('| op | contender | mode | records/s | MB/s | vs papaparse | vs naive | correct? | median ms (min–max, runs) |');
console.log('|---|---|---|---:|---:|---:|---:|---|---:|');
for (const r of rows) {
  console.log(
    `| ${r.op} | ${r.contender} | ${r.mode} | ${fmtInt(r.recordsPerSec)} | ${r.mbPerSec.toFixed(1)} | ${fmtX(r.vsPapaparse)} | ${fmtX(r.vsNaive)} | ${r.correctness} | ${r.medianMs.toFixed(1)} (${r.minMs.toFixed(0)}–${r.maxMs.toFixed(0)}, ${r.timesMs.length}) |`,
  );
}

interface Target {
  what: string;
  ratio: number;
  need: number;
  met: boolean;
}
const target = (what: string, ratio: number, need: number): Target => ({ what, ratio, need, met: ratio >= need });
const oursParsePayload = find('parse', 'ours', 'payload');
const targets: Target[] = [
  target('payload: our parse ≥ 2× papaparse', oursParsePayload.vsPapaparse, 2),
  target('payload: our parse ≥ 0.5× naive split', oursParsePayload.vsNaive, 0.5),
  target('payload: our serialize ≥ 2× papaparse', find('serialize', 'ours', 'payload').vsPapaparse, 2),
  target('bulk: our parse ≥ 1× papaparse', find('parse', 'ours', 'bulk').vsPapaparse, 1),
  target('bulk: our serialize ≥ 1× papaparse', find('serialize', 'ours', 'bulk').vsPapaparse, 1),
];
const oursRows = rows.filter((r) => r.contender.startsWith('ours'));
const oursCorrect = oursRows.every((r) => r.correct);
const explicitPapa = find('parse', "papaparse (delimiter ',', newline '\\n')", 'payload');

console.log('\n## Targets\n');
for (const t of targets) {
  const [, mode, op] = /^(\w+): our (\w+)/.exec(t.what) ?? [];
  const ours = find(op as Op, 'ours', mode as Mode);
  const ref = t.what.includes('naive') ? find(op as Op, 'naive split', mode as Mode) : find(op as Op, 'papaparse', mode as Mode);
  console.log(
    `- ${t.what}: ${fmtX(t.ratio)} (${fmtInt(ours.recordsPerSec)} vs ${fmtInt(ref.recordsPerSec)} records/s) — ${t.met ? 'met' : 'NOT met'}`,
  );
}
console.log(
  `- (info) payload: our parse vs papaparse told the delimiter and newline: ${fmtX(oursParsePayload.recordsPerSec / explicitPapa.recordsPerSec)}`,
);
console.log(`- our parse and serialize correct on every row: ${oursCorrect ? 'yes' : 'NO'}`);
console.log(`\n(timing took ${timingSeconds.toFixed(1)} s)`);

const outDir = join(__dirname, 'results');
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, 'codec.json');
writeFileSync(
  outFile,
  JSON.stringify(
    {
      benchmark: 'smartrest-codec',
      date: new Date().toISOString(),
      node: process.version,
      cpu: { count: cpus().length, model: cpus()[0]?.model ?? null },
      loadavg: load,
      seed: SEED,
      records: RECORDS,
      mix: categories,
      bulkBytes: { backslash: bytes(textA), double: bytes(textB) },
      payloads: { count: payloadSizes.length, minRecords: PAYLOAD_MIN, maxRecords: PAYLOAD_MAX },
      options: { csvParse: csvParseOptions, papaParse: {}, papaParseInfoRow: papaParseExplicit, papaUnparse: papaUnparseOptions },
      method: { warmup: WARMUP, rounds: ROUNDS, slowMs: SLOW_MS, slowRounds: SLOW_ROUNDS, gcBeforeEachRun: !!gc, serializeTimedToFlatString: true },
      results: rows.map((r, i) => ({ ...r, probeMs: cases[i].probeMs })),
      targets,
      oursCorrect,
      timingSeconds,
    },
    null,
    2,
  ) + '\n',
);
console.log(`results written to ${outFile}`);
if (sink === -1) console.log(sink); // keeps the results observable
