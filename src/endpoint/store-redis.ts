/**
 * An EndpointStore in Redis, shared by every Node-RED instance configured with the same Redis and key prefix.
 *
 * Layout: one Redis hash per collection, `<prefix>:<collection>` (e.g. `c8y-endpoint:operations`), a field per
 * record key holding the record as JSON. A batch is one MULTI/EXEC transaction (HSET + HDEL), so Redis applies all
 * of it or none of it; commands go over one connection in call order, so writes to a collection apply in call order.
 * "Durable" means acknowledged by Redis: how much a Redis crash can lose is Redis' own persistence setting
 * (`appendonly yes` + `appendfsync everysec`: at most a second; without persistence, everything).
 *
 * While Redis is unreachable, writes wait in the client's queue (in order) and are sent when it is back, so a
 * Redis restart loses nothing the endpoint wrote; `state` and the 'state' event say so for the node status.
 * `close` waits at most `closeTimeoutMs` for queued writes, then drops the connection (those writes reject).
 *
 * ioredis is required here, lazily (this module is only loaded in Redis mode), so the default file mode loads none
 * of the Redis libraries.
 */
import { EventEmitter } from 'node:events';
import type { Redis, RedisOptions } from 'ioredis';
import { checkCollection, StoreError, type EndpointStore, type StoreChange, type StoreCollection } from './store';

/** What the node shows: `ready` (connected), `connecting` (first connect or reconnecting after a loss), `closed`. */
export type RedisStoreState = 'connecting' | 'ready' | 'closed';

export interface RedisStoreOptions {
  /** `redis://host:port/db` or `rediss://` for TLS. */
  url: string;
  /** Key prefix: every key of this endpoint starts with `<prefix>:`. */
  prefix: string;
  username?: string;
  password?: string;
  /** TLS options (from a tls-config node); a `rediss:` URL without them uses the system's CAs. */
  tls?: RedisOptions['tls'];
  /** How long `close` waits for queued writes before it drops them (ms). */
  closeTimeoutMs?: number;
  /** How long the first connection may take before `RedisStore.open` fails (ms). */
  connectTimeoutMs?: number;
}

/** Allowed key prefixes: they become part of Redis key names (no spaces, no braces, no glob characters). */
const PREFIX_RE = /^[A-Za-z0-9_.:/-]{1,64}$/;

export function checkPrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) throw new StoreError(`invalid Redis key prefix ${JSON.stringify(prefix)} (1-64 of A-Z a-z 0-9 _ . : / -)`);
  return prefix;
}

/** The Redis client options of the endpoint (shared with the pub/sub connections of a cluster). */
export function redisClientOptions(o: RedisStoreOptions): RedisOptions {
  return {
    ...(o.username ? { username: o.username } : {}),
    ...(o.password ? { password: o.password } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
    // Commands wait for a reconnect instead of failing after 20 retries: a Redis restart loses no write.
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    // Reconnect every 0.1 s growing to 2 s, forever (until close).
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    lazyConnect: true,
    connectionName: 'c8y-endpoint',
  };
}

/** `new Redis(url, options)`, loading ioredis on first use. */
export function createRedisClient(url: string, options: RedisOptions): Redis {
  const IORedis = (require('ioredis') as { default: new (url: string, o: RedisOptions) => Redis }).default;
  return new IORedis(url, options);
}

export class RedisStore extends EventEmitter implements EndpointStore {
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private current: RedisStoreState = 'connecting';
  /** Rejects every write still waiting when `close` gives up on them (ioredis may keep them queued forever). */
  private abort!: (err: Error) => void;
  private readonly aborted = new Promise<never>((_, reject) => (this.abort = reject));

  private constructor(
    readonly client: Redis,
    readonly prefix: string,
    private readonly closeTimeoutMs: number,
  ) {
    super();
    this.aborted.catch(() => undefined);
    client.on('ready', () => this.setState('ready'));
    client.on('reconnecting', () => this.setState('connecting'));
    client.on('close', () => this.closed || this.setState('connecting'));
    // ioredis emits 'error' on every failed (re)connect; without a listener Node would throw. The state says it.
    client.on('error', (err: Error) => this.emit('redis-error', err));
  }

  /** Connect (bounded by `connectTimeoutMs`) and return the store; a Redis that cannot be reached fails here. */
  static async open(o: RedisStoreOptions): Promise<RedisStore> {
    const prefix = checkPrefix(o.prefix);
    let url: URL;
    try {
      url = new URL(o.url);
    } catch {
      throw new StoreError(`invalid Redis URL ${JSON.stringify(o.url)}`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new StoreError(`a Redis URL starts with redis:// or rediss://, not ${url.protocol}//`);
    const options = redisClientOptions(o);
    if (url.protocol === 'rediss:' && !options.tls) options.tls = {};
    const client = createRedisClient(o.url, options);
    const store = new RedisStore(client, prefix, o.closeTimeoutMs ?? 3000);
    const timeout = o.connectTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    let lastError = '';
    const onError = (err: Error) => (lastError = err.message);
    client.on('error', onError);
    try {
      await Promise.race([
        client.connect(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new StoreError(`cannot reach Redis at ${safeUrl(o.url)} within ${timeout} ms${lastError ? `: ${lastError}` : ''}`)), timeout);
        }),
      ]);
    } catch (err) {
      client.disconnect();
      store.closed = true;
      throw err instanceof StoreError ? err : new StoreError(`cannot reach Redis at ${safeUrl(o.url)}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      client.off('error', onError);
    }
    return store;
  }

  get state(): RedisStoreState {
    return this.current;
  }

  keyOf(collection: StoreCollection): string {
    return `${this.prefix}:${collection}`;
  }

  async load<T>(collection: StoreCollection): Promise<Map<string, T>> {
    checkCollection(collection);
    if (this.closed) throw new StoreError('the store is closed');
    const all = await this.track(this.client.hgetall(this.keyOf(collection)));
    const out = new Map<string, T>();
    for (const [k, v] of Object.entries(all)) {
      try {
        out.set(k, JSON.parse(v) as T);
      } catch {
        throw new StoreError(`Redis key ${this.keyOf(collection)} field ${JSON.stringify(k)} is not JSON; it was not written by the endpoint`);
      }
    }
    return out;
  }

  write<T>(collection: StoreCollection, changes: readonly StoreChange<T>[]): Promise<void> {
    // Checked and serialised first, so that a bad change leaves the batch unapplied.
    let ops: { key: string; json?: string }[];
    try {
      checkCollection(collection);
      if (this.closed) throw new StoreError('the store is closed');
      ops = changes.map((c) => {
        if (typeof c.key !== 'string') throw new StoreError('store keys are strings');
        return { key: c.key, json: c.value === undefined ? undefined : JSON.stringify(c.value) };
      });
    } catch (err) {
      return Promise.reject(err);
    }
    if (!ops.length) return Promise.resolve();
    const key = this.keyOf(collection);
    const multi = this.client.multi();
    // In batch order: a put then a delete of the same key (or the reverse) ends as the caller wrote it.
    for (const o of ops) (o.json === undefined ? multi.hdel(key, o.key) : multi.hset(key, o.key, o.json));
    return this.track(multi.exec()).then((results) => {
      const failed = results?.find(([err]) => err);
      if (!results) throw new StoreError('Redis discarded the transaction');
      if (failed) throw new StoreError(`Redis refused a write: ${(failed[0] as Error).message}`);
    });
  }

  /**
   * Take or renew the lease `name` for `owner` for `ttlMs` (one Lua script, atomic): true while `owner` holds it.
   * The endpoint uses it so that one instance serves devices at a time (active/standby, see the README).
   */
  async lease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    if (this.closed) return false;
    const r = await this.track(this.client.eval(LEASE_LUA, 1, `${this.prefix}:lease:${name}`, owner, String(ttlMs)));
    return r === 1;
  }

  /** Give the lease up (only when `owner` holds it), so that a standby instance takes over at once. */
  async release(name: string, owner: string): Promise<void> {
    if (this.closed) return;
    await this.track(this.client.eval(RELEASE_LUA, 1, `${this.prefix}:lease:${name}`, owner));
  }

  /** Every write made before it is acknowledged by Redis (failed writes were reported to their callers). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise((r) => (timer = setTimeout(r, this.closeTimeoutMs)))]);
    clearTimeout(timer);
    this.setState('closed');
    this.abort(new StoreError('the store was closed before Redis acknowledged the write'));
    // No reconnect after close (disconnect() during a reconnect wait leaves ioredis waiting otherwise).
    this.client.options.retryStrategy = () => null;
    if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
  }

  private track<R>(p: Promise<R>): Promise<R> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return Promise.race([p, this.aborted]).catch((err: Error) => {
      throw err instanceof StoreError ? err : new StoreError(`Redis: ${err.message}`);
    });
  }

  private setState(s: RedisStoreState): void {
    if (s === this.current || (this.current === 'closed' && s !== 'closed')) return;
    this.current = s;
    this.emit('state', s);
  }
}

const LEASE_LUA = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** The URL without its password, for messages and logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}
