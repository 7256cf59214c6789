/**
 * `c8y-device` (config): ONE MQTT connection per Cumulocity device identity (src/mqtt/connection.ts), shared by
 * the c8y-in / c8y-out nodes that use it. On every connect: the startup lines (100/101/110/114/117, s/ut),
 * then the subscriptions (s/ds, s/dc/<X-ID>, s/e when a c8y-in asks), then `500`. CONNACK codes become a
 * status and a log line saying what to do; 3 and 5 retry with backoff and jitter, 1, 2 and 4 stop until a
 * redeploy or new credentials (src/c8y/connack.ts). Operations of one fragment go to the flow one at a time.
 */
import type { NodeAPI } from 'node-red';
import { brokerUrl, checkDeviceId, deviceClientId, mqttUsername } from '../../c8y/clientid';
import { describeRefusal, refusalLogLine, retryRefused } from '../../c8y/connack';
import { CredentialStore, fingerprint } from '../../c8y/credstore';
import type { DeviceCredentials } from '../../c8y/bootstrap';
import { FragmentQueues, operationOf, queueKey, statusLines, type OperationRef } from '../../c8y/operations';
import { parseChildren, parseList, startupMessages, type StartupMessage } from '../../c8y/startup';
import { ConnectionClosedError, MqttConnection, type ConnectionUser, type StatusLike } from '../../mqtt/connection';
import { describeIssue } from '../../smartrest/codec';
import { decodePayload } from '../../smartrest/message';
import { readCollection } from '../shared/collection';
import { errorText } from '../shared/errors';
import type { C8yDeviceConfig, C8yDeviceCredentials, C8yDeviceNode, C8yDownstream, DownstreamListener } from './types';

interface TlsConfigNode {
  addTLSOptions(options: Record<string, unknown>): void;
}

/** MQTT.js's own error for a refused CONNACK: the 'refused' event logs it better (meaning and what to do). */
function isRefusal(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.code === 'number' && typeof e.message === 'string' && /connection refused/i.test(e.message);
}

export = function register(RED: NodeAPI): void {
  /** The encrypted store for registration results, or undefined without a user dir (then only in memory). */
  function credentialStore(): CredentialStore | undefined {
    const settings = RED.settings as unknown as { userDir?: string; credentialSecret?: unknown; get?(k: string): unknown };
    const dir = settings.userDir;
    let secret: unknown = settings.credentialSecret;
    if (typeof secret !== 'string' || !secret) {
      try {
        secret = settings.get?.('_credentialSecret');
      } catch {
        secret = undefined;
      }
    }
    // credentialSecret false (encryption off in Node-RED) and no generated key: fall back to a fixed key, the file
    // is then as protected as flows_cred.json is (not at all), which the docs say.
    if (typeof secret !== 'string' || !secret) secret = 'node-red-credentials-not-encrypted';
    return dir ? new CredentialStore(dir, secret as string) : undefined;
  }

  function C8yDeviceNodeCtor(this: C8yDeviceNode, config: C8yDeviceConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.deviceId = (config.deviceId ?? '').trim();
    const users = new Map<string, ConnectionUser>();
    const listeners = new Map<string, DownstreamListener>();
    const refreshTimers = new Set<NodeJS.Timeout>();
    const unsubscribes: Promise<() => Promise<void>>[] = [];
    let lastWarning = '';
    let seq = 0;
    const store = credentialStore();

    const collection = readCollection(config);
    if (collection instanceof Error) node.problem = `custom templates: ${collection.message}`;
    else node.collection = collection;
    const badId = checkDeviceId(node.deviceId);
    if (badId) node.problem = badId;

    let startup: StartupMessage[] = [];
    try {
      startup = startupMessages({
        name: config.devName,
        type: config.devType,
        children: parseChildren(config.children),
        hardware: { serialNumber: config.hwSerial, model: config.hwModel, revision: config.hwRevision },
        operations: parseList(config.operations),
        requiredInterval: Number(config.interval) || 0,
        collection: node.collection,
      });
    } catch (err) {
      node.problem = `startup phase: ${errorText(err)}`;
    }

    // ---- credentials: configured ones, or those a registration stored (see src/c8y/credstore.ts) ----------------
    const configured = { user: node.credentials?.user ?? '', password: node.credentials?.password ?? '' };
    let creds = { user: configured.user, password: configured.password };
    const stored = !badId && store ? store.get(node.id, node.deviceId) : undefined;
    // Decision: registration results are used unless someone entered other credentials in the node since (the
    // fingerprint of the configured credentials is kept with them); empty configured credentials never win.
    if (stored && (!configured.user || stored.basis === fingerprint(configured.user, configured.password))) {
      creds = { user: `${stored.tenant}/${stored.username}`, password: stored.password };
    }
    const tlsNode = config.tls ? (RED.nodes.getNode(config.tls) as unknown as TlsConfigNode | null) : null;
    // A client certificate (from the tls-config node) is a credential too; a CA alone is not.
    node.hasCredentials = () => !!(creds.user && creds.password) || !!(tls as { cert?: unknown }).cert;

    const tls: Record<string, unknown> = {};
    if (config.transport === 'mqtts' || config.transport === 'wss' || !config.transport) {
      tls.rejectUnauthorized = config.verifyCert !== false;
      tlsNode?.addTLSOptions(tls);
    }
    const queueSize = Number(config.queueSize) > 0 ? Math.floor(Number(config.queueSize)) : 100;
    const willPayload = config.willPayload || '400,c8y_ConnectionEvent,"Device connection was lost."';

    let url = '';
    let clientId = '';
    try {
      url = brokerUrl(config.host, config.transport, config.port, config.wsPath);
      if (!node.problem) clientId = deviceClientId(node.deviceId, (config.defaultXid ?? '').trim() || undefined);
    } catch (err) {
      node.problem = errorText(err);
    }

    // ---- operations: one at a time per (target, fragment), in arrival order --------------------------------------
    interface Entry extends C8yDownstream {
      operation: OperationRef;
    }
    const operations = new FragmentQueues<Entry>(
      (e) => queueKey(e.operation),
      (e) => release(e),
    );
    function release(e: Entry): void {
      if ([...listeners.values()].some((l) => l.executing)) {
        for (const p of statusLines(e.operation, { status: 'EXECUTING' }, node.deviceId)) void node.publish(p.topic, p.payload, 1).catch((err) => warnOnce(`501 for ${e.operation.fragment}: ${errorText(err)}`));
      }
      for (const l of listeners.values()) l.line(e);
    }

    function onDownstream(topic: string, payload: Buffer): void {
      const { records, issues } = decodePayload(payload, topic, { collection: node.collection });
      for (const record of records) {
        const op = operationOf(record);
        if (!op) {
          for (const l of listeners.values()) l.line({ topic, record });
          continue;
        }
        operations.push({ topic, record, operation: { ...op, messageId: record.messageId, seq: ++seq, connection: node.id } });
      }
      if (issues.length) {
        const text = `${issues.length} line(s) on ${topic} could not be decoded: ${issues.map(describeIssue).join('; ')}`;
        for (const l of listeners.values()) l.problem(text);
      }
    }

    function onError(topic: string, payload: Buffer): void {
      const { records } = decodePayload(payload, topic);
      for (const record of records) for (const l of listeners.values()) l.errorLine?.(topic, record);
    }

    function warnOnce(text: string): void {
      if (text === lastWarning) return;
      lastWarning = text;
      node.warn(text);
    }

    let connectionStatus: StatusLike | undefined;
    function makeConnection(): void {
      const connection = new MqttConnection({
        url,
        clientId,
        username: mqttUsername(config.tenant, creds.user),
        password: creds.password || undefined,
        clean: true, // Cumulocity requires clean sessions (reference §1.5)
        keepalive: Number(config.keepalive) > 0 ? Number(config.keepalive) : 60,
        protocolVersion: 4,
        tls: Object.keys(tls).length ? (tls as never) : undefined,
        will: config.will ? { topic: (config.willTopic || 's/us').trim(), payload: willPayload, qos: 1 } : undefined,
        retryRefused,
        describeRefusal,
        queueLimit: { messages: queueSize, bytes: queueSize * 16384 },
        backoff: { initialMs: 1000, maxMs: 120000, factor: 2, jitter: 0.5 },
        onConnected: async (conn) => {
          // Operations that were waiting (not yet handed to the flow) are PENDING on the platform and come again
          // with 500: drop them here so they are not handed over twice. Those in progress stay.
          operations.dropWaiting();
          for (const m of startup) await conn.publishNow(m.topic, m.payload, { qos: 1 });
        },
      });
      // Warnings, never [error]: an absent or refusing broker is a state (status), logged once per distinct problem.
      connection.on('refused', (code: number) => warnOnce(refusalLogLine(code)));
      connection.on('client-error', (err: unknown) => isRefusal(err) || warnOnce(`Cumulocity connection (${clientId}): ${errorText(err)}`));
      connection.on('overflow', (topic: string) => warnOnce(`offline queue full (${queueSize} messages): a message to ${topic} was dropped`));
      connection.on('connected', () => {
        lastWarning = '';
        // After the subscriptions: ask for PENDING operations.
        if (config.pending !== false) void connection.publish('s/us', '500', { qos: 1 }).catch(() => undefined);
      });
      unsubscribes.push(connection.subscribe('s/ds', 1, onDownstream));
      if (node.collection) unsubscribes.push(connection.subscribe(`s/dc/${node.collection.xid}`, 1, onDownstream));
      connection.on('status', (s: StatusLike) => (connectionStatus = s));
      for (const u of unsubscribes) u.catch(() => undefined);
      node.connection = connection;
    }
    // Without credentials the connection exists but is not started: data waits in its bounded queue until a
    // registration supplies them (status grey, no error, nothing goes to the network).
    let waiting = !node.hasCredentials();
    if (!node.problem) makeConnection();
    if (node.problem && !node.problem.startsWith('no credentials')) node.warn(`c8y-device ${node.deviceId || '(no id)'}: ${node.problem}`);

    let errorsSubscribed = false;
    function subscribeErrors(): void {
      if (errorsSubscribed || !node.connection) return;
      errorsSubscribed = true;
      node.connection.subscribe('s/e', 0, onError).catch(() => undefined);
    }

    const problemStatus = (): StatusLike =>
      node.problem ? { fill: 'red', shape: 'ring', text: node.problem } : { fill: 'grey', shape: 'ring', text: 'no credentials: waiting for a registration' };
    const active = () => !!node.connection && !waiting;

    node.register = (user) => {
      users.set(user.id, user);
      if (active()) node.connection!.register(user);
      else user.status(problemStatus());
      // Status set while the flow is being built is missed by Status nodes: send it again once the flow runs.
      const timer = setTimeout(() => {
        refreshTimers.delete(timer);
        if (users.get(user.id) === user) user.status(active() ? (connectionStatus ?? { fill: 'grey', shape: 'ring', text: 'idle' }) : problemStatus());
      }, 1);
      refreshTimers.add(timer);
    };
    node.deregister = (user) => {
      users.delete(user.id);
      if (active()) node.connection!.deregister(user);
      else user.status({});
    };
    node.addListener_ = (l) => {
      listeners.set(l.id, l);
      node.register(l);
      if (l.errorLine) subscribeErrors();
    };
    node.removeListener_ = (l) => {
      listeners.delete(l.id);
      node.deregister(l);
    };

    node.publish = (topic, payload, qos) => {
      if (!node.connection) return Promise.reject(new Error(node.problem ?? String(new ConnectionClosedError().message)));
      return node.connection.publish(topic, payload, { qos });
    };

    let tokenSubscription: Promise<unknown> | undefined;
    node.requestToken = async () => {
      if (!node.connection) throw new Error(node.problem ?? 'no connection');
      // s/dat is subscribed on the first request only (password devices get an s/e error instead of a token).
      tokenSubscription ??= node.connection.subscribe('s/dat', 1, onDownstream);
      await tokenSubscription;
      await node.publish('s/uat', '', 1);
    };

    node.completeOperation = async (ref, result) => {
      const lines = statusLines(ref, result, node.deviceId);
      try {
        for (const p of lines) await node.publish(p.topic, p.payload, 1);
      } finally {
        if (result.status !== 'EXECUTING') operations.done(queueKey(ref), (e) => e.operation.seq === ref.seq);
      }
    };

    node.setCredentials = async (c: DeviceCredentials) => {
      const user = `${c.tenant}/${c.username}`;
      // Persisted first (encrypted file, survives a restart), then Node-RED's own store (flows_cred.json on the
      // next deploy), then the connection restarts with them.
      if (store) store.set(node.id, node.deviceId, { ...c, basis: fingerprint(configured.user, configured.password) });
      else node.warn('no Node-RED user directory: the registered credentials are kept in memory only (lost on restart)');
      try {
        await (RED.nodes as unknown as { addCredentials(id: string, creds: object): Promise<void> | void }).addCredentials(node.id, { user, password: c.password });
      } catch {
        /* the encrypted file is what counts */
      }
      creds = { user, password: c.password };
      node.credentials = { user, password: c.password };
      if (!node.connection) return;
      node.connection.restart({ username: user, password: c.password });
      if (waiting) {
        waiting = false;
        for (const u of users.values()) node.connection.register(u);
      }
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      const connection = node.connection;
      node.connection = undefined;
      for (const t of refreshTimers) clearTimeout(t);
      refreshTimers.clear();
      operations.clear();
      listeners.clear();
      for (const user of users.values()) user.status({});
      users.clear();
      (connection ? connection.close() : Promise.resolve()).catch(() => undefined).finally(() => done());
    });
  }

  RED.nodes.registerType<C8yDeviceNode, C8yDeviceConfig, {}, C8yDeviceCredentials>('c8y-device', C8yDeviceNodeCtor, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
  });
};
