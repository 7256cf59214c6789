/**
 * A Debian mosquitto 2 broker for interop tests: started on a free loopback port with a temp config, stopped in
 * `after`. As root mosquitto drops to user `mosquitto`, so the temp dir is 755 and the files 644.
 * `available()` lets a suite skip on a machine without the binary.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './broker';

export interface Mosquitto {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** Stop and start again on the same port. */
  restart(downMs?: number): Promise<void>;
  /** Stop with SIGTERM (the config and, with persistence, the database stay for `up`). */
  down(): Promise<void>;
  /** Start again on the same port after `down`. */
  up(): Promise<void>;
}

export function mosquittoAvailable(): boolean {
  return spawnSync('mosquitto', ['-h']).error === undefined;
}

/**
 * `persistence`: mosquitto keeps sessions and queued messages in a database under the temp dir (saved on SIGTERM,
 * read at start), as a production broker does; a restart then keeps persistent sessions and their backlog.
 */
export async function startMosquitto(options: { port?: number; config?: string[]; persistence?: boolean } = {}): Promise<Mosquitto> {
  const port = options.port ?? (await freePort());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosq-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  if (options.persistence) {
    // mosquitto drops to user `mosquitto` when started as root: its database directory must be writable for it
    fs.mkdirSync(data);
    fs.chmodSync(data, 0o777);
  }
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      ...(options.persistence ? ['persistence true', `persistence_location ${data}/`, 'autosave_interval 0'] : ['persistence false']),
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type information',
      // Bridges under test must see every message: no broker-side queue drops, a wide in-flight window.
      'max_queued_messages 0',
      'max_inflight_messages 1000',
      ...(options.config ?? []),
      '',
    ].join('\n'),
  );
  fs.chmodSync(conf, 0o644);
  let proc: ChildProcess | undefined;

  async function up(): Promise<void> {
    const p = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`mosquitto did not start: ${log}`)), 5000);
      p.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        if (/running/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`mosquitto exited (${code}): ${log}`));
      });
    });
    p.stderr!.resume();
  }

  async function down(): Promise<void> {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
      setTimeout(() => p.kill('SIGKILL'), 2000).unref();
    });
  }

  await up();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    async stop() {
      await down();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async restart(downMs = 200) {
      await down();
      await new Promise((r) => setTimeout(r, downMs));
      await up();
    },
    down,
    up,
  };
}
