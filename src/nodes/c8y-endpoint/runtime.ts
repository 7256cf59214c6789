/**
 * `c8y-endpoint` (config node): owns ONE EndpointServer shared by every node that uses it.
 *
 * - The server starts when the first user registers and stops shortly (1 s) after the last one leaves, so a
 *   redeploy of only the user nodes keeps devices connected while removing them all frees the port.
 * - `close(removed, done)` always closes the server (ports freed, every client disconnected) before `done`,
 *   so a redeployed endpoint can bind the same port; closing takes at most ~3 s.
 * - A port that cannot be bound is retried every 5 s while users exist (e.g. another program still holds it).
 * - Device credentials persist under the Node-RED user dir; secrets only in credentials.
 * - Open operations and their id sequence persist beside them through a FileStore (`<prefix>-operations.json`,
 *   `<prefix>-sequences.json`); operations dropped when they are loaded are reported once the nodes listen.
 * - The status shows the devices online (live connections) and the monitored devices that are unavailable.
 * - Limits (login brake, outbound queue, drain and CONNECT timeouts) come from `c8yEndpoint` in settings.js, as
 *   core's MQTT nodes take `mqttReconnectTime`; the defaults are documented in the README.
 * - State `redis` (issue 17): the store is a RedisStore (URL, credentials, tls-config, key prefix) instead of the
 *   files; ioredis is loaded only then. The status says when Redis is unreachable (writes wait and are applied
 *   when it is back). So far open operations, their id sequence and registered devices' credentials (hashes) live
 *   in Redis, read at start (active/standby, not yet several live instances); see the README.
 * - Refused logins are counted in the status and summed up in the log at most once a minute (user name and
 *   address, never a password).
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NodeAPI, NodeStatus } from 'node-red';
import type { TlsOptions } from 'node:tls';
import { DeviceRegistry, parseStaticDevices } from '../../endpoint/registry';
import { Inventory } from '../../endpoint/inventory';
import { EndpointServer, type ClientCounts, type EndpointOptions, type LoginRefusal } from '../../endpoint/server';
import { FileStore } from '../../endpoint/store-file';
import { Lease } from '../../endpoint/lease';
import type { EndpointStore } from '../../endpoint/store';
import type { RedisStore, RedisStoreState } from '../../endpoint/store-redis';
import { errorText, shortText } from '../shared/errors';
import type { C8yEndpointConfig, C8yEndpointCredentials, C8yEndpointNode, EndpointUser } from './types';

const RETRY_MS = 5000;
const IDLE_STOP_MS = 1000;
/** Availability changes refresh the status at most this often (a sweep may change thousands at once). */
const STATUS_THROTTLE_MS = 1000;
/** Refused logins and overflows are summed up in the log at most this often. */
const LOG_EVERY_MS = 60_000;

/** Lease of the active instance in Redis mode (`c8yEndpoint.leaseMs` in settings.js overrides it). */
const LEASE_MS = 15_000;

/** Thrown by start() in Redis mode while another instance holds the lease: not an error, a standby. */
class StandbyError extends Error {}

/** `c8yEndpoint` in settings.js: limits for every endpoint of this Node-RED. */
type EndpointSettings = Pick<EndpointOptions, 'brake' | 'limits' | 'connectTimeoutMs'>;

function endpointSettings(value: unknown): EndpointSettings {
  if (!value || typeof value !== 'object') return {};
  const v = value as Record<string, unknown>;
  const out: EndpointSettings = {};
  if (v.brake === false || (v.brake && typeof v.brake === 'object')) out.brake = v.brake as EndpointSettings['brake'];
  if (v.limits && typeof v.limits === 'object') out.limits = v.limits as EndpointSettings['limits'];
  if (typeof v.connectTimeoutMs === 'number' && v.connectTimeoutMs > 0) out.connectTimeoutMs = v.connectTimeoutMs;
  return out;
}

function portOf(value: unknown, fallback: number): number {
  if (value === '' || value === undefined || value === null) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid port ${JSON.stringify(value)}`);
  return n;
}

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

export = function register(RED: NodeAPI): void {
  function C8yEndpointNode(this: C8yEndpointNode, config: C8yEndpointConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const users = new Map<string, { user: EndpointUser; detach?: () => void }>();
    let server: EndpointServer | undefined;
    let starting: Promise<void> | undefined;
    let retryTimer: NodeJS.Timeout | undefined;
    let lastStartError = '';
    let idleTimer: NodeJS.Timeout | undefined;
    let closed = false;
    let status: NodeStatus = { fill: 'grey', shape: 'ring', text: 'idle' };
    const host = (config.host || '127.0.0.1').trim();
    const tenant = (config.tenant || 'edge').trim();

    const userDir = (RED.settings as unknown as { userDir?: string }).userDir || path.join(os.tmpdir(), 'node-red-c8y-endpoint');
    // Generated when empty: tokens then stay valid across restarts of the server, not across a redeploy of this node.
    const tokenSecret = ((node.credentials ?? {}) as C8yEndpointCredentials).tokenSecret || randomBytes(32).toString('base64url');
    const base = config.registryFile ? path.resolve(userDir, config.registryFile) : path.join(userDir, 'c8y-endpoint', `${node.id}-devices.json`);
    const prefix = base.replace(/(\.json)?$/, '').replace(/-devices$/, '');
    const inventoryFile = prefix + '-inventory.json';
    let store: EndpointStore | undefined;
    const redisMode = config.state === 'redis';
    /** Set while the Redis connection is lost (status says so). */
    let redisDown = false;
    let lease: Lease | undefined;
    const leaseMs = Number((RED.settings as unknown as { c8yEndpoint?: { leaseMs?: unknown } }).c8yEndpoint?.leaseMs) || LEASE_MS;
    /** Who holds the lease: this process and node. */
    const leaseOwner = `${os.hostname()}:${process.pid}:${node.id}:${Math.random().toString(36).slice(2, 8)}`;
    let statusTimer: NodeJS.Timeout | undefined;

    function setStatus(s: NodeStatus) {
      status = s;
      for (const { user } of users.values()) user.endpointStatus(s);
    }

    function listening(counts?: ClientCounts) {
      if (!server) return;
      const a = server.addresses;
      const ports = [a.mqtt !== undefined ? `${a.mqtt}` : '', a.tls !== undefined ? `tls ${a.tls}` : '', a.ws !== undefined ? `ws ${a.ws}` : ''].filter(Boolean).join(', ');
      const c = counts ?? server.clientCounts();
      const { online, unavailable } = server.onlineCounts();
      const refused = server.loginStats().refused;
      setStatus({
        fill: redisDown ? 'yellow' : 'green',
        shape: 'dot',
        text: `${redisDown ? 'Redis unreachable, reconnecting · ' : ''}${host}:${ports} · ${online} online${unavailable ? ` · ${unavailable} unavailable` : ''}${c.bootstrap ? ` · ${c.bootstrap} registering` : ''}${refused ? ` · ${refused} refused` : ''}`,
      });
    }

    /** Redraw the status at most once a second (a sweep or a flood of refusals changes it thousands of times). */
    function redrawSoon() {
      statusTimer ??= setTimeout(() => {
        statusTimer = undefined;
        listening();
      }, STATUS_THROTTLE_MS);
    }

    // Log summaries: the first event of a quiet period is logged at once, the rest summed up a minute later.
    const pendingLog = { refused: 0, braked: 0, last: '', overflow: 0, lastOverflow: '' };
    let logTimer: NodeJS.Timeout | undefined;
    function flushLog() {
      logTimer = undefined;
      if (pendingLog.refused) {
        node.warn(`${pendingLog.refused} login${pendingLog.refused === 1 ? '' : 's'} refused (${pendingLog.braked} by the login brake); last: ${pendingLog.last}`);
      }
      if (pendingLog.overflow) node.warn(`${pendingLog.overflow} downstream line${pendingLog.overflow === 1 ? '' : 's'} not delivered; last: ${pendingLog.lastOverflow}`);
      const logged = pendingLog.refused + pendingLog.overflow > 0;
      Object.assign(pendingLog, { refused: 0, braked: 0, overflow: 0 });
      // Keep the timer while events come, so that a steady attack is one line a minute.
      if (logged) logTimer = setTimeout(flushLog, LOG_EVERY_MS);
    }
    function logLater() {
      if (!logTimer) flushLog();
    }
    function refused(r: LoginRefusal) {
      node.debug(`refused connection ${JSON.stringify(r.clientId ?? '')} from ${r.remoteAddress ?? '?'}: CONNACK ${r.code} (${r.reason})`);
      pendingLog.refused++;
      if (r.braked) pendingLog.braked++;
      pendingLog.last = `user ${JSON.stringify(r.username ?? '')} from ${r.remoteAddress ?? '?'}: ${r.reason}`;
      logLater();
      redrawSoon();
    }

    /** The Redis store of state `redis`; its connection state drives the status. */
    async function openRedis(creds: C8yEndpointCredentials): Promise<RedisStore> {
      const url = (config.redisUrl || '').trim();
      if (!url) throw new Error('state is Redis but no Redis URL is set');
      let tls: Record<string, unknown> | undefined;
      if (config.redisTls) {
        const tlsNode = RED.nodes.getNode(config.redisTls) as unknown as { addTLSOptions(o: Record<string, unknown>): void } | null;
        if (!tlsNode) throw new Error('the Redis TLS configuration node is missing');
        tls = {};
        tlsNode.addTLSOptions(tls);
      }
      // Loaded here, not at the top: the default file mode loads no Redis library.
      const { RedisStore } = require('../../endpoint/store-redis') as typeof import('../../endpoint/store-redis');
      const st = await RedisStore.open({ url, prefix: (config.redisPrefix || 'c8y-endpoint').trim(), username: creds.redisUser || undefined, password: creds.redisPassword || undefined, tls });
      st.on('state', (state: RedisStoreState) => {
        const down = state === 'connecting';
        if (down === redisDown) return;
        redisDown = down;
        if (down) node.warn('endpoint: Redis connection lost; reconnecting (writes wait until it is back)');
        else node.log('endpoint: Redis connection back');
        listening();
      });
      return st;
    }

    async function start(): Promise<void> {
      if (server || starting || closed) return;
      if (NODE_MAJOR < 20) {
        // aedes 1.x needs Node.js 20; the other nodes of this package work on 18.
        const text = `the embedded endpoint needs Node.js 20 or later (this is ${process.version})`;
        if (text !== lastStartError) node.error(`endpoint: ${text}`);
        lastStartError = text;
        setStatus({ fill: 'red', shape: 'ring', text: 'needs Node.js >= 20' });
        return;
      }
      setStatus({ fill: 'yellow', shape: 'ring', text: 'starting' });
      starting = (async () => {
        let s: EndpointServer | undefined;
        try {
          const creds = (node.credentials ?? {}) as C8yEndpointCredentials;
          // A fresh store per start: the previous one was closed (flushed) by stop().
          store = redisMode ? await openRedis(creds) : new FileStore(prefix);
          if (redisMode) {
            // One active instance per endpoint (prefix): the others wait as standby and load the state when they take over.
            const rs = store as RedisStore;
            lease = new Lease(() => rs.lease('active', leaseOwner, leaseMs), leaseMs, (reason) => {
              node.warn(`endpoint: stops serving devices: ${reason}; another instance may take over`);
              void stop().then(() => {
                if (!closed && users.size > 0) retryTimer = setTimeout(() => ((retryTimer = undefined), void start()), leaseMs / 3);
              });
            });
            if (!(await lease.acquire())) throw new StandbyError('standby: another instance is active');
          }
          const registry = redisMode ? await DeviceRegistry.load(store) : new DeviceRegistry(base);
          registry.onStoreError = (err) => node.warn(`endpoint: device credentials are not saved: ${errorText(err)}`);
          for (const d of parseStaticDevices(creds.devices)) await registry.set(d.deviceId, d.password, 'static');
          let tlsOptions: TlsOptions | undefined;
          if (config.usetls) {
            const tlsNode = RED.nodes.getNode(config.tls) as unknown as { addTLSOptions(o: Record<string, unknown>): void } | null;
            if (!tlsNode) throw new Error('TLS is enabled but no TLS configuration is selected');
            const o: Record<string, unknown> = {};
            tlsNode.addTLSOptions(o);
            if (!o.key || !o.cert) throw new Error('the TLS configuration needs a certificate and a private key');
            // Client certificates are requested, verified against the CA, and accepted when their CN is the device id.
            tlsOptions = { key: o.key as string, cert: o.cert as string, ...(o.ca ? { ca: o.ca as string, requestCert: true } : {}), ...(o.passphrase ? { passphrase: o.passphrase as string } : {}) };
          }
          const service = config.serviceUser && creds.servicePassword ? { username: config.serviceUser.trim(), password: creds.servicePassword } : null;
          const bootstrap = creds.bootstrapPassword ? { username: (config.bootstrapUser || 'devicebootstrap').trim(), password: creds.bootstrapPassword } : null;
          s = await EndpointServer.start({
            store,
            ...endpointSettings((RED.settings as unknown as { c8yEndpoint?: unknown }).c8yEndpoint),
            host,
            port: portOf(config.port, 1883),
            tls: tlsOptions ? { port: portOf(config.tlsPort, 8883), options: tlsOptions } : null,
            ws: config.usews ? { port: portOf(config.wsPort, 8083) } : null,
            tenant,
            service,
            bootstrap,
            registry,
            inventory: new Inventory(inventoryFile),
            tokenSecret,
          });
          if (closed || users.size === 0) {
            await s.close();
            return;
          }
          server = s;
          s.on('clients', listening);
          s.on('availability', redrawSoon);
          s.on('store-error', (err: Error) => node.warn(`endpoint: operations are not saved: ${errorText(err)}`));
          s.on('refused', refused);
          s.on('overflow', (o: { device: string; topic: string; reason: string }) => {
            pendingLog.overflow++;
            pendingLog.lastOverflow = `device ${o.device}${o.topic ? ` on ${o.topic}` : ''}: ${o.reason}`;
            logLater();
          });
          for (const entry of users.values()) entry.detach = entry.user.attach(s);
          const dropped = s.announceDropped();
          // Also in the log, for operations whose c8y-endpoint-out node is gone (no node reports them then).
          if (dropped.length) {
            const reasons = [...new Set(dropped.map((o) => o.failureReason))].slice(0, 3).join('; ');
            node.warn(`endpoint: ${dropped.length} stored operation${dropped.length === 1 ? '' : 's'} dropped (FAILED): ${reasons}`);
          }
          node.log(`listening on ${host} ${JSON.stringify(s.addresses)}, tenant ${tenant}`);
          listening();
        } catch (err) {
          if (s && s !== server) await s.close().catch(() => undefined);
          if (!server) {
            lease?.stop();
            lease = undefined;
            const st = store;
            store = undefined;
            await st?.close().catch(() => undefined);
          }
          if (err instanceof StandbyError) {
            setStatus({ fill: 'grey', shape: 'ring', text: err.message });
            lastStartError = '';
            if (!closed && users.size > 0) retryTimer = setTimeout(() => ((retryTimer = undefined), void start()), leaseMs / 3);
            return;
          }
          const text = errorText(err);
          // One error per distinct problem, not one every retry.
          if (text !== lastStartError) node.error(`endpoint: ${text}`);
          lastStartError = text;
          // A busy port is the common start problem: the status names the port rather than a cut-off sentence.
          const busy = /port (\d+) is in use/.exec(text);
          setStatus({ fill: 'red', shape: 'ring', text: busy ? `port ${busy[1]} in use: change the port` : shortText(text) });
          // Only a busy port or an unreachable Redis can get better by itself; a configuration error waits for the next deploy.
          if (!closed && users.size > 0 && /cannot listen|cannot reach Redis/.test(text)) {
            retryTimer = setTimeout(() => {
              retryTimer = undefined;
              void start();
            }, RETRY_MS);
          }
        } finally {
          starting = undefined;
        }
      })();
      return starting;
    }

    async function stop(): Promise<void> {
      if (retryTimer) clearTimeout(retryTimer);
      if (idleTimer) clearTimeout(idleTimer);
      if (logTimer) clearTimeout(logTimer);
      if (statusTimer) clearTimeout(statusTimer);
      retryTimer = idleTimer = logTimer = statusTimer = undefined;
      if (starting) await starting;
      const s = server;
      server = undefined;
      for (const entry of users.values()) {
        entry.detach?.();
        entry.detach = undefined;
      }
      if (s) {
        s.removeAllListeners();
        await s.close();
      }
      const st = store;
      store = undefined;
      redisDown = false;
      if (lease?.held) {
        // Hand over at once instead of after the ttl.
        await (st as RedisStore).release('active', leaseOwner).catch(() => undefined);
      }
      lease?.stop();
      lease = undefined;
      await st?.close().catch((err: Error) => node.warn(`endpoint: cannot save operations: ${errorText(err)}`));
    }

    node.register = (user: EndpointUser) => {
      if (idleTimer) {
        clearTimeout(idleTimer);
        idleTimer = undefined;
      }
      const entry: { user: EndpointUser; detach?: () => void } = { user };
      users.set(user.node.id, entry);
      user.endpointStatus(status);
      if (server) entry.detach = user.attach(server);
      else void start();
    };

    node.deregister = (user: EndpointUser) => {
      const entry = users.get(user.node.id);
      if (!entry || entry.user !== user) return;
      entry.detach?.();
      users.delete(user.node.id);
      if (users.size === 0 && !closed && !idleTimer) {
        idleTimer = setTimeout(() => {
          idleTimer = undefined;
          if (users.size === 0) {
            void stop().then(() => setStatus({ fill: 'grey', shape: 'ring', text: 'idle' }));
          }
        }, IDLE_STOP_MS);
      }
    };

    node.server = () => server;

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      stop()
        .catch((err) => node.warn(`endpoint close: ${errorText(err)}`))
        .finally(() => {
          users.clear();
          done();
        });
    });
  }

  RED.nodes.registerType('c8y-endpoint', C8yEndpointNode as never, {
    credentials: {
      bootstrapPassword: { type: 'password' },
      servicePassword: { type: 'password' },
      devices: { type: 'password' },
      tokenSecret: { type: 'password' },
      redisUser: { type: 'text' },
      redisPassword: { type: 'password' },
    },
  });
};
