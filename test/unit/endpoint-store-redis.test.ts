/**
 * The Redis store against Debian's redis-server (started on a free loopback port, stopped after): the same contract
 * tests as the file store, then what only Redis has: the key layout, prefixes kept apart, a Redis restart while
 * writes go on, an unreachable Redis, bad settings, and that the default file mode loads no Redis library.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { RedisStore, safeUrl, type RedisStoreState } from '../../src/endpoint/store-redis';
import { redisAvailable, startRedis, type RedisServer } from '../support/redis';
import { storeContract } from '../support/store-contract';
import { freePort } from '../support/broker';
import { DeviceRegistry } from '../../src/endpoint/registry';

const skip = redisAvailable() ? false : 'redis-server is not installed';

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RedisStore', { skip }, () => {
  let redis: RedisServer;
  let n = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  // Each contract test gets its own prefix on the one server; reopen is a second client on the same prefix.
  storeContract('RedisStore', {
    open: async () => RedisStore.open({ url: redis.url, prefix: `contract${++n}` }),
    reopen: async (s) => RedisStore.open({ url: redis.url, prefix: (s as RedisStore).prefix }),
  });

  it('keeps one hash per collection under the prefix, and two prefixes apart', async () => {
    const a = await RedisStore.open({ url: redis.url, prefix: 'ep:a' });
    const b = await RedisStore.open({ url: redis.url, prefix: 'ep:b' });
    await a.write('operations', [{ key: '1', value: { id: '1' } }, { key: '2', value: { id: '2' } }]);
    await b.write('operations', [{ key: '9', value: 9 }]);
    assert.equal(await redis.command('TYPE', 'ep:a:operations'), '+hash');
    assert.equal(await redis.command('HLEN', 'ep:a:operations'), ':2');
    assert.deepEqual([...(await b.load('operations')).keys()], ['9']);
    // A batch that deletes every key leaves no empty key behind (Redis removes an empty hash).
    await a.write('operations', [{ key: '1' }, { key: '2' }]);
    assert.equal(await redis.command('EXISTS', 'ep:a:operations'), ':0');
    await a.close();
    await b.close();
  });

  it('refuses a bad URL, a bad prefix and an unreachable Redis with a clear error, without a password in it', async () => {
    await assert.rejects(RedisStore.open({ url: 'http://x', prefix: 'p' }), /starts with redis:\/\/ or rediss:\/\//);
    await assert.rejects(RedisStore.open({ url: 'not a url', prefix: 'p' }), /invalid Redis URL/);
    await assert.rejects(RedisStore.open({ url: redis.url, prefix: 'a b' }), /invalid Redis key prefix/);
    await assert.rejects(RedisStore.open({ url: redis.url, prefix: '*' }), /invalid Redis key prefix/);
    const port = await freePort();
    await assert.rejects(RedisStore.open({ url: `redis://u:secret@127.0.0.1:${port}`, prefix: 'p', connectTimeoutMs: 500 }), (err: Error) => {
      assert.match(err.message, new RegExp(`cannot reach Redis at redis://u:\\*\\*\\*@127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
    assert.equal(safeUrl('redis://:pw@h:1/0'), 'redis://:***@h:1/0');
  });

  it('device credentials of registrations are shared through Redis as salted hashes, never the password', async () => {
    const a = await RedisStore.open({ url: redis.url, prefix: 'reg' });
    const ra = await DeviceRegistry.load(a);
    const { username, password } = await ra.issue('dev-1');
    await ra.set('typed', 'typed-pw', 'static');
    const raw = await redis.command('HGET', 'reg:devices', 'dev-1');
    assert.match(raw, /^\$\d+$/, 'the record exists');
    const full = JSON.stringify([...(await a.load('devices')).values()]);
    assert.doesNotMatch(full, new RegExp(password));
    assert.match(full, /"hash":"[A-Za-z0-9+/=]{40,}"/);
    // Another instance (another registry on the same Redis and prefix) lets the device log in.
    const b = await RedisStore.open({ url: redis.url, prefix: 'reg' });
    const rb = await DeviceRegistry.load(b);
    assert.equal((await rb.verify(username, password))?.deviceId, 'dev-1');
    assert.equal(await rb.verify(username, 'wrong'), undefined);
    assert.equal(rb.has('typed'), false, 'static entries stay with the instance whose editor holds them');
    // A removal reaches Redis too.
    ra.remove('dev-1');
    await a.flush();
    assert.equal((await DeviceRegistry.load(b)).has('dev-1'), false);
    await a.close();
    await b.close();
  });

  it('refuses a field that is not JSON instead of starting with half the data', async () => {
    const s = await RedisStore.open({ url: redis.url, prefix: 'foreign' });
    assert.equal(await redis.command('HSET', 'foreign:operations', 'x', '{broken'), ':1');
    await assert.rejects(s.load('operations'), /foreign:operations field "x" is not JSON/);
    await s.close();
  });

  it('a Redis that needs a password refuses a client without it', async () => {
    const secured = await startRedis({ args: ['--requirepass', 's3cret'] });
    try {
      await assert.rejects(RedisStore.open({ url: secured.url, prefix: 'p', connectTimeoutMs: 2000 }), /NOAUTH|Authentication|cannot reach/i);
      const s = await RedisStore.open({ url: secured.url, prefix: 'p', password: 's3cret' });
      await s.write('devices', [{ key: 'd1', value: { hash: 'x' } }]);
      assert.equal((await s.load('devices')).size, 1);
      await s.close();
    } finally {
      await secured.stop();
    }
  });
});

describe('RedisStore across a Redis restart', { skip }, () => {
  it('writes made while Redis is down wait and are applied when it is back; the state says so; nothing is lost', async () => {
    const redis = await startRedis({ persistence: true });
    const s = await RedisStore.open({ url: redis.url, prefix: 'restart' });
    const states: RedisStoreState[] = [];
    s.on('state', (st: RedisStoreState) => states.push(st));
    try {
      await s.write('operations', [{ key: 'before', value: 1 }]);
      await redis.down(true); // SIGKILL: only what the append-only file holds survives
      await until(() => s.state === 'connecting', 'the store to notice');
      const during = Array.from({ length: 20 }, (_, i) => s.write('operations', [{ key: `during${i}`, value: i }]));
      let settled = false;
      void Promise.allSettled(during).then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(settled, false, 'writes wait for Redis');
      await redis.up();
      await Promise.all(during);
      assert.equal(s.state, 'ready');
      assert.deepEqual(states.slice(0, 1), ['connecting']);
      assert.equal(states.at(-1), 'ready');
      await s.close();
      const r = await RedisStore.open({ url: redis.url, prefix: 'restart' });
      const m = await r.load<number>('operations');
      assert.equal(m.size, 21);
      assert.equal(m.get('during19'), 19);
      await r.close();
    } finally {
      await s.close();
      await redis.stop();
    }
  });

  it('close is bounded while Redis is down: queued writes reject, nothing hangs', async () => {
    const redis = await startRedis();
    const s = await RedisStore.open({ url: redis.url, prefix: 'gone', closeTimeoutMs: 300 });
    await redis.stop();
    await until(() => s.state === 'connecting', 'the store to notice');
    const w = s.write('operations', [{ key: 'a', value: 1 }]);
    const t0 = Date.now();
    await s.close();
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(w, /Redis|closed/i);
    await assert.rejects(s.write('operations', [{ key: 'b', value: 1 }]), /closed/);
  });
});

describe('Redis libraries are loaded only in Redis mode', () => {
  it('loading the package and the endpoint node requires no Redis module', () => {
    const root = path.resolve(__dirname, '../..');
    const code = `require(${JSON.stringify(path.join(root, 'dist/index.js'))});
      require(${JSON.stringify(path.join(root, 'dist/nodes/c8y-endpoint/runtime.js'))});
      require(${JSON.stringify(path.join(root, 'dist/endpoint/server.js'))});
      const loaded = Object.keys(require.cache).filter((k) => /node_modules\\/(ioredis|mqemitter-redis|aedes-persistence-redis)\\//.test(k));
      console.log(JSON.stringify(loaded));`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), []);
  });
});
