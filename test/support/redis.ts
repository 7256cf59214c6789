/**
 * Debian's redis-server for tests: started on a free loopback port in a temp dir, stopped by `stop()`.
 * Without `persistence` it keeps nothing on disk (`--save '' --appendonly no`); with it, every write is in the
 * append-only file (`appendfsync always`), so `down()`/`up()` (a Redis restart) keeps all acknowledged data.
 * `redisAvailable()` lets a suite skip on a machine without the binary.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePort } from './broker';

export const REDIS_SERVER = fs.existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server';

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** Stop (SIGTERM, or SIGKILL when `kill`) keeping the data dir for `up`. */
  down(kill?: boolean): Promise<void>;
  up(): Promise<void>;
  /** Run a redis-cli-like command over a fresh connection (RESP inline), for assertions on raw keys. */
  command(...args: string[]): Promise<string>;
}

export function redisAvailable(): boolean {
  return spawnSync(REDIS_SERVER, ['--version']).error === undefined;
}

export async function startRedis(options: { persistence?: boolean; args?: string[] } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-'));
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    ...(options.persistence ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    '--loglevel', 'warning',
    ...(options.args ?? []),
  ];
  let proc: ChildProcess | undefined;

  async function up(): Promise<void> {
    // Already running: a second server would fail to bind and leave the first one without a handle (a leak).
    if (proc && proc.exitCode === null) return;
    const p = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    let log = '';
    p.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const end = Date.now() + 10_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`redis-server exited (${p.exitCode}): ${log}`);
      if (/^(\+PONG|-NOAUTH)/.test(await ping(port).catch(() => ''))) return;
      if (Date.now() > end) throw new Error(`redis-server did not start on ${port}: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function down(kill = false): Promise<void> {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(kill ? 'SIGKILL' : 'SIGTERM');
      setTimeout(() => p.kill('SIGKILL'), 5000).unref();
    });
  }

  await up();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      await down();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    down,
    up,
    command: (...a) => inline(port, a),
  };
}

function ping(port: number): Promise<string> {
  return inline(port, ['PING']);
}

/** One command in RESP, the first reply line back (enough for PING, EXISTS, HLEN, TYPE). */
function inline(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('redis command timed out'));
    }, 5000);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('connect', () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    sock.on('data', (d) => {
      data += d.toString();
      const i = data.indexOf('\r\n');
      if (i >= 0) {
        clearTimeout(timer);
        sock.destroy();
        resolve(data.slice(0, i));
      }
    });
  });
}
