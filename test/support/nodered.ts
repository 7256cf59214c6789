/**
 * Support library for tests that drive a real `node-red` process:
 * e2e (examples), packaging (installed tarball) and editor (Playwright) tests.
 *
 * Everything here talks to Node-RED the way a user or the editor does: a real
 * process started from the repo's `node_modules/node-red/red.js`, the Admin
 * HTTP API, and the editor's `/comms` websocket. No mocks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';

/** Root of this repository (the package under test). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** npm name of the package under test. */
export const MODULE_NAME: string = readPackageJson(REPO_ROOT).name;

const RED_JS = path.join(REPO_ROOT, 'node_modules', 'node-red', 'red.js');
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

export interface StartOptions {
  /** Node-RED user dir. Created with mkdtemp (and removed on stop) when omitted. */
  userDir?: string;
  /** Port for the editor/Admin API. A free port is picked when omitted. */
  port?: number;
  /** Merged (deeply, for plain objects) over the default settings. JSON values only. */
  extraSettings?: object;
  /**
   * Where our package is loaded from; default the repo root. A symlink
   * `<userDir>/node_modules/<module>` -> moduleDir is created unless the user
   * dir already holds the module (an installed copy, as in the packaging test).
   */
  moduleDir?: string;
}

export interface NodeRedProcess {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  port: number;
  userDir: string;
  /** Every stdout/stderr line of the process, in arrival order. */
  log: string[];
  child: ChildProcess;
  /** Log lines from index `since` on that are Node-RED `[error]` lines. */
  errorsSince(since: number): string[];
  /** Resolves with the first log line (index >= since) matching `re`. */
  waitForLog(re: RegExp, since: number, timeoutMs?: number): Promise<string>;
  /** SIGTERM, SIGKILL after 5 s; removes the user dir if startNodeRed created it. */
  stop(): Promise<void>;
}

/* ------------------------------------------------------------------------- */
/* process management                                                         */
/* ------------------------------------------------------------------------- */

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last-resort cleanup if a test process dies without running its `after` hooks.
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/** A TCP port that was free a moment ago (listen on port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    out[k] = isPlainObject(out[k]) && isPlainObject(v) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

export function defaultSettings(port: number): Record<string, unknown> {
  return {
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    credentialSecret: 'node-red-contrib-device-protocols-test-secret',
    // do not truncate what debug nodes send to the sidebar (tests compare it)
    debugMaxLength: 1_000_000,
    editorTheme: { tours: false, palette: { catalogues: [] } },
    telemetry: { enabled: false, updateNotification: false },
    logging: { console: { level: 'info', metrics: false, audit: false } },
  };
}

export async function startNodeRed(opts: StartOptions = {}): Promise<NodeRedProcess> {
  installExitHook();
  if (!fs.existsSync(RED_JS)) throw new Error(`node-red is not installed: ${RED_JS} is missing (run npm ci)`);

  const createdUserDir = !opts.userDir;
  const userDir = opts.userDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'nr-test-')));
  const removeCreated = async () => {
    if (createdUserDir) await fsp.rm(userDir, { recursive: true, force: true });
  };

  let child: ChildProcess | undefined;
  try {
    await fsp.mkdir(userDir, { recursive: true });
    const port = opts.port ?? (await freePort());
    const settings = deepMerge(defaultSettings(port), (opts.extraSettings ?? {}) as Record<string, unknown>);
    const settingsFile = path.join(userDir, 'settings.js');
    await fsp.writeFile(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);

    // Make our package loadable, unless an installed copy is already there.
    const modulePath = path.join(userDir, 'node_modules', ...MODULE_NAME.split('/'));
    if (!fs.existsSync(modulePath)) {
      await fsp.mkdir(path.dirname(modulePath), { recursive: true });
      await fsp.symlink(path.resolve(opts.moduleDir ?? REPO_ROOT), modulePath, 'dir');
    }

    const log: string[] = [];
    const proc = spawn(process.execPath, [RED_JS, '-u', userDir, '-s', settingsFile], {
      cwd: REPO_ROOT,
      env: { ...process.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    liveChildren.add(proc);
    const echo = !!process.env.NR_TEST_LOG;
    const lineWaiters = new Set<() => void>();
    const collect = (stream: NodeJS.ReadableStream | null, prefix: string) => {
      if (!stream) return;
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).replace(/\r$/, '');
          buf = buf.slice(i + 1);
          log.push(prefix + line);
          if (echo) process.stderr.write(`[node-red:${port}] ${prefix}${line}\n`);
          for (const w of [...lineWaiters]) w();
        }
      });
      stream.on('end', () => {
        if (buf) log.push(prefix + buf);
        buf = '';
      });
    };
    collect(proc.stdout, '');
    collect(proc.stderr, '');

    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        exitInfo = { code, signal };
        liveChildren.delete(proc);
        for (const w of [...lineWaiters]) w();
        resolve();
      });
    });
    proc.once('error', (err) => log.push(`[spawn error] ${err.message}`));

    const url = `http://127.0.0.1:${port}`;
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      try {
        if (!exitInfo) {
          proc.kill('SIGTERM');
          let timer: NodeJS.Timeout | undefined;
          const killed = new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              if (!exitInfo) proc.kill('SIGKILL');
              resolve();
            }, STOP_GRACE_MS);
          });
          await Promise.race([exited, killed]);
          clearTimeout(timer);
          await exited;
        }
      } finally {
        await removeCreated();
      }
    };

    const waitForLog = (re: RegExp, since: number, timeoutMs = 30_000): Promise<string> =>
      new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const check = () => {
          for (let i = since; i < log.length; i++) {
            if (re.test(log[i])) {
              finish();
              resolve(log[i]);
              return;
            }
          }
          if (exitInfo) {
            finish();
            reject(new Error(`node-red exited (${JSON.stringify(exitInfo)}) before logging ${re}\n${formatLog(log, since)}`));
          }
        };
        const finish = () => {
          clearTimeout(timer);
          lineWaiters.delete(check);
        };
        timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for node-red log ${re}\n${formatLog(log, since)}`));
        }, timeoutMs);
        lineWaiters.add(check);
        check();
      });

    const nr: NodeRedProcess = {
      url,
      port,
      userDir,
      log,
      child: proc,
      errorsSince: (since) => log.slice(since).filter((l) => /\[error\]/.test(l)),
      waitForLog,
      stop,
    };

    // Wait for the Admin API.
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exitInfo) {
        await removeCreated();
        throw new Error(`node-red exited during start (${JSON.stringify(exitInfo)})\n${formatLog(log)}`);
      }
      try {
        const res = await fetch(`${url}/settings`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) return nr;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`node-red did not answer GET /settings with 200 within ${START_TIMEOUT_MS} ms\n${formatLog(log)}`);
      }
      await delay(200);
    }
  } catch (err) {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    await removeCreated();
    throw err;
  }
}

export function formatLog(log: string[], since = 0): string {
  const lines = log.slice(since);
  return `--- node-red log (${lines.length} lines) ---\n${lines.join('\n')}\n--- end of log ---`;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/* ------------------------------------------------------------------------- */
/* Admin API                                                                  */
/* ------------------------------------------------------------------------- */

async function expectStatus(res: Response, expected: number, what: string): Promise<string> {
  const body = await res.text();
  if (res.status !== expected) {
    throw new Error(`${what}: expected HTTP ${expected}, got ${res.status}: ${body.slice(0, 2000)}`);
  }
  return body;
}

export type DeploymentType = 'full' | 'nodes' | 'flows' | 'reload';

/** POST /flows (v1 array). Expects 204. Flows start asynchronously after that; see deployAndWait. */
export async function deployFlows(url: string, flows: object[], type: DeploymentType = 'full'): Promise<void> {
  const res = await fetch(`${url}/flows`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Node-RED-API-Version': 'v1',
      'Node-RED-Deployment-Type': type,
    },
    body: JSON.stringify(flows),
  });
  await expectStatus(res, 204, `POST /flows (${type})`);
}

/** Deploys and waits until the runtime logs that the (modified) flows started. */
export async function deployAndWait(nr: NodeRedProcess, flows: object[], type: DeploymentType = 'full', timeoutMs = 30_000): Promise<number> {
  const mark = nr.log.length;
  await deployFlows(nr.url, flows, type);
  await nr.waitForLog(/\[info\] Started (flows|modified nodes|modified flows)/, mark, timeoutMs);
  return mark;
}

/** GET /flows (v1): the deployed flow array. */
export async function getFlows(url: string): Promise<any[]> {
  const res = await fetch(`${url}/flows`, { headers: { Accept: 'application/json', 'Node-RED-API-Version': 'v1' } });
  return JSON.parse(await expectStatus(res, 200, 'GET /flows'));
}

export interface NodeSetInfo {
  id: string;
  name: string;
  types: string[];
  enabled: boolean;
  local?: boolean;
  user?: boolean;
  module: string;
  version?: string;
  err?: string;
}

/** GET /nodes as JSON: every node set known to the runtime. */
export async function getNodes(url: string): Promise<NodeSetInfo[]> {
  const res = await fetch(`${url}/nodes`, { headers: { Accept: 'application/json' } });
  return JSON.parse(await expectStatus(res, 200, 'GET /nodes (json)'));
}

/** GET /nodes as text/html: the editor HTML of all node sets. */
export async function getNodesHtml(url: string): Promise<string> {
  const res = await fetch(`${url}/nodes`, { headers: { Accept: 'text/html' } });
  return expectStatus(res, 200, 'GET /nodes (html)');
}

/** POST /inject/<id>: presses an inject node's button. */
export async function injectNode(url: string, id: string): Promise<void> {
  const res = await fetch(`${url}/inject/${encodeURIComponent(id)}`, { method: 'POST' });
  await expectStatus(res, 200, `POST /inject/${id}`);
}

/** GET <path> returning parsed JSON (expects 200). */
export async function getJson(url: string, p: string): Promise<any> {
  const res = await fetch(`${url}${p}`, { headers: { Accept: 'application/json' } });
  return JSON.parse(await expectStatus(res, 200, `GET ${p}`));
}

/* ------------------------------------------------------------------------- */
/* editor comms websocket                                                     */
/* ------------------------------------------------------------------------- */

/** A `debug` comms entry as published by debug nodes and by the log handler (level 20/30). */
export interface DebugEntry {
  id?: string;
  z?: string;
  _alias?: string;
  path?: string;
  name?: string;
  topic?: string;
  property?: string;
  /** encoded value (a string for most formats) */
  msg: any;
  /** e.g. `Object`, `string[5]`, `number`, `array[2]`, `buffer[4]`, `boolean`, `null`, `error` */
  format?: string;
  /** 20 = error, 30 = warn (node log messages); absent for debug node output */
  level?: number;
  type?: string;
}

export interface Comms {
  /** every `debug` entry received, in order */
  messages: DebugEntry[];
  /** every `notification/*` entry received: {topic, data} */
  notifications: { topic: string; data: any }[];
  /** resolves with the first (already received or future) debug entry matching pred */
  waitFor(pred: (m: DebugEntry) => boolean, timeoutMs?: number): Promise<DebugEntry>;
  /** resolves with the first `count` matching entries once that many have arrived */
  waitForCount(pred: (m: DebugEntry) => boolean, count: number, timeoutMs?: number): Promise<DebugEntry[]>;
  close(): Promise<void>;
}

export async function openComms(url: string): Promise<Comms> {
  const wsUrl = url.replace(/^http/, 'ws') + '/comms';
  const ws = new WebSocket(wsUrl);
  const messages: DebugEntry[] = [];
  const notifications: { topic: string; data: any }[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  let closeError: Error | undefined;

  ws.on('message', (raw) => {
    let parsed: any;
    try {
      parsed = JSON.parse(raw.toString());
    } catch {
      return;
    }
    const items = Array.isArray(parsed) ? parsed : [parsed];
    for (const item of items) {
      if (!item || typeof item !== 'object') continue;
      if (item.topic === 'debug') messages.push(item.data);
      else if (typeof item.topic === 'string' && item.topic.startsWith('notification/')) notifications.push(item);
    }
    for (const w of [...waiters]) w();
  });
  ws.on('close', () => {
    closed = true;
    for (const w of [...waiters]) w();
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`timed out connecting to ${wsUrl}`));
    }, 10_000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      closeError = err;
      reject(err);
    });
  });
  ws.on('error', (err) => {
    closeError = err;
  });

  ws.send(JSON.stringify({ subscribe: 'debug' }));
  ws.send(JSON.stringify({ subscribe: 'notification/#' }));
  // The connection is registered for all topics as soon as the server accepts
  // it; this ping/pong round trip additionally guarantees that the subscribe
  // frames above were processed before we return.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no pong from /comms')), 10_000);
    ws.once('pong', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.ping();
  });

  const waitForCount = (pred: (m: DebugEntry) => boolean, count: number, timeoutMs = 30_000): Promise<DebugEntry[]> =>
    new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        const found = messages.filter((m) => {
          try {
            return pred(m);
          } catch {
            return false;
          }
        });
        if (found.length >= count) {
          done();
          resolve(found.slice(0, count));
        } else if (closed) {
          done();
          reject(new Error(`comms websocket closed while waiting (${found.length}/${count} matching)${closeError ? ': ' + closeError.message : ''}`));
        }
      };
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      timer = setTimeout(() => {
        done();
        const n = messages.filter((m) => {
          try {
            return pred(m);
          } catch {
            return false;
          }
        }).length;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${count} matching debug message(s), got ${n}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  return {
    messages,
    notifications,
    waitForCount,
    waitFor: async (pred, timeoutMs) => (await waitForCount(pred, 1, timeoutMs))[0],
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        const timer = setTimeout(() => {
          ws.terminate();
          resolve();
        }, 2_000);
        ws.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        ws.close();
      }),
  };
}

/** Reverses Node-RED's encodeObject for a debug entry's `msg` (see @node-red/util encodeObject). */
export function decodeDebugValue(entry: DebugEntry): unknown {
  const format = entry.format ?? '';
  const raw = entry.msg;
  if (typeof raw !== 'string') return reviveEncoded(raw);
  if (format.startsWith('string')) return raw;
  if (format === 'number') return Number(raw);
  if (format === 'boolean') return raw === 'true';
  if (format === 'null') return null;
  if (format === 'undefined') return undefined;
  if (format.startsWith('buffer')) return Buffer.from(raw, 'hex');
  try {
    return reviveEncoded(JSON.parse(raw));
  } catch {
    return raw;
  }
}

function reviveEncoded(v: any): any {
  if (Array.isArray(v)) return v.map(reviveEncoded);
  if (!v || typeof v !== 'object') return v;
  if (v.__enc__) {
    switch (v.type) {
      case 'Buffer':
        return Buffer.from(v.data);
      case 'undefined':
        return undefined;
      case 'bigint':
        return BigInt(v.data);
      case 'number':
        return Number(v.data);
      case 'set':
        return new Set(reviveEncoded(v.data));
      case 'map':
        return new Map(Object.entries(reviveEncoded(v.data)));
      default:
        return v;
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const r = reviveEncoded(val);
    if (r !== undefined) out[k] = r;
  }
  return out;
}

/* ------------------------------------------------------------------------- */
/* package introspection                                                      */
/* ------------------------------------------------------------------------- */

export function readPackageJson(root: string = REPO_ROOT): any {
  return JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
}

export interface PackageNodeType {
  type: string;
  /** node set name (key in package.json node-red.nodes) */
  set: string;
  /** runtime file from package.json */
  file: string;
  /** editor html file (absolute) */
  htmlFile: string;
  category?: string;
  isConfig: boolean;
}

const REGISTER_RE = /RED\.nodes\.registerType\(\s*(['"`])([^'"`]+)\1\s*,\s*\{/g;
const CATEGORY_RE = /\bcategory\s*:\s*(['"`])([^'"`]*)\1/;

/** Types registered in one editor HTML (literal `RED.nodes.registerType('<t>', {... category: '...'`). */
export function parseRegisteredTypes(html: string): { type: string; category?: string }[] {
  const matches = [...html.matchAll(REGISTER_RE)];
  return matches.map((m, i) => {
    const start = (m.index ?? 0) + m[0].length;
    const end = i + 1 < matches.length ? matches[i + 1].index ?? html.length : html.length;
    const cat = CATEGORY_RE.exec(html.slice(start, end));
    return { type: m[2], category: cat ? cat[2] : undefined };
  });
}

/**
 * The node sets in package.json and the types their built editor HTML registers.
 * Throws if a set's .html is missing (run the build) or registers no type.
 */
export function packageNodeTypes(root: string = REPO_ROOT): PackageNodeType[] {
  const pkg = readPackageJson(root);
  const sets: Record<string, string> = pkg['node-red']?.nodes ?? {};
  const out: PackageNodeType[] = [];
  for (const [set, file] of Object.entries(sets)) {
    const htmlFile = path.join(root, file.replace(/\.c?js$/, '.html'));
    if (!fs.existsSync(htmlFile)) {
      throw new Error(`node set "${set}": editor file ${path.relative(root, htmlFile)} is missing (was the build run?)`);
    }
    const found = parseRegisteredTypes(fs.readFileSync(htmlFile, 'utf8'));
    if (found.length === 0) {
      throw new Error(`node set "${set}": ${path.relative(root, htmlFile)} has no literal RED.nodes.registerType('<type>', {...}) call`);
    }
    for (const t of found) {
      out.push({ type: t.type, set, file, htmlFile, category: t.category, isConfig: t.category === 'config' });
    }
  }
  return out;
}

export interface ExampleFile {
  /** path relative to examples/, without `.json`, with `/` separators (e.g. `smartrest-encode`) */
  name: string;
  file: string;
  flows: any[];
}

/** Every `examples/**\/*.json`, parsed, sorted by name. */
export function listExamples(root: string = REPO_ROOT): ExampleFile[] {
  const base = path.join(root, 'examples');
  const out: ExampleFile[] = [];
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.json')) {
        const name = path.relative(base, p).slice(0, -'.json'.length).split(path.sep).join('/');
        let flows: any;
        try {
          flows = JSON.parse(fs.readFileSync(p, 'utf8'));
        } catch (err) {
          throw new Error(`example ${path.relative(root, p)} is not valid JSON: ${(err as Error).message}`);
        }
        out.push({ name, file: p, flows });
      }
    }
  };
  walk(base);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
