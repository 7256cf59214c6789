/**
 * `c8y-device` (config): ONE MQTT connection per Cumulocity device identity (src/mqtt/connection.ts), shared by
 * the c8y-in / c8y-out nodes that use it. On every connect: the startup lines (100/101/110/114/117, s/ut),
 * then the subscriptions (s/ds, s/dc/<X-ID>, s/e when a c8y-in asks), then `500`. CONNACK codes become a
 * status and a log line saying what to do; 3 and 5 retry with backoff and jitter, 1, 2 and 4 stop until a
 * redeploy or new credentials (src/c8y/connack.ts). Operations of one fragment go to the flow one at a time.
 */
import { randomBytes } from 'node:crypto';
import type { NodeAPI } from 'node-red';
import { brokerUrl, checkDeviceId, deviceClientId, mqttUsername } from '../../c8y/clientid';
import { describeRefusal, refusalLogLine, retryRefused } from '../../c8y/connack';
import { CredentialStore, fingerprint } from '../../c8y/credstore';
import type { DeviceCredentials } from '../../c8y/bootstrap';
import { JSON_ERROR_TOPIC, JSON_OPERATIONS_TOPIC, parseJsonError, parseOperations } from '../../c8y/json';
import { FragmentQueues, failExecutingLines, operationOf, queueKey, statusLines, statusLinesById, type OperationRef } from '../../c8y/operations';
import { parseChildren, parseList, startupMessages, type StartupMessage } from '../../c8y/startup';
import { tlsProblem } from '../../c8y/tls';
import { ConnectionClosedError, MqttConnection, type ConnectionUser, type StatusLike } from '../../mqtt/connection';
import { describeIssue } from '../../smartrest/codec';
import { decodePayload } from '../../smartrest/message';
import type { DecodedRecord } from '../../smartrest/types';
import { readCollection } from '../shared/collection';
import { errorText } from '../shared/errors';
import type { C8yDeviceConfig, C8yDeviceCredentials, C8yDeviceNode, C8yDownstream, DownstreamListener } from './types';

interface TlsConfigNode {
  addTLSOptions(options: Record<string, unknown>): void;
}

/**
 * MQTT.js's own error for a refused CONNACK, or for a second CONNACK on an open session ("Protocol error: duplicate
 * CONNACK"): the 'refused' event logs it better (meaning and what to do).
 */
function isRefusal(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.message !== 'string') return false;
  return (typeof e.code === 'number' && /connection refused/i.test(e.message)) || /duplicate CONNACK/i.test(e.message);
}

/** Bound of the per-fragment operation queue (a flow that never answers must not make it grow without end). */
const MAX_OPERATIONS_PER_FRAGMENT = 1000;

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
    const unsubscribes: Promise<() => Promise<void>>[] = [];
    let lastWarning = '';
    let seq = 0;
    // Results carry this with their OperationRef: one from before a redeploy cannot complete a newer operation.
    const instance = randomBytes(6).toString('hex');
    /** One-shot timers of this node (status refresh, hand-over to a new c8y-in), cleared on close. */
    const timers = new Set<NodeJS.Timeout>();
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
    // Set when the broker refused the credentials (CONNACK 4): an `auto` registration may then run again.
    let credentialsRefused = false;
    // A client certificate (from the tls-config node) is a credential too; a CA alone is not.
    node.hasCredentials = () => !credentialsRefused && (!!(creds.user && creds.password) || !!(tls as { cert?: unknown }).cert);

    const tls: Record<string, unknown> = {};
    if (config.transport === 'mqtts' || config.transport === 'wss' || !config.transport) {
      tls.rejectUnauthorized = config.verifyCert !== false;
      tlsNode?.addTLSOptions(tls);
    }
    /** Operations as JSON from devicecontrol/notifications (with their ids) instead of static lines on s/ds. */
    const jsonOperations = config.format === 'json';
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
      /** Handed to at least one c8y-in. Operations that arrive while no c8y-in listens wait for one. */
      handed: boolean;
    }
    const operations = new FragmentQueues<Entry>(
      (e) => queueKey(e.operation),
      (e) => release(e),
      MAX_OPERATIONS_PER_FRAGMENT,
    );
    function release(e: Entry): void {
      if (!listeners.size) {
        e.handed = false;
        return;
      }
      e.handed = true;
      if ([...listeners.values()].some((l) => l.executing)) {
        for (const p of statusLines(e.operation, { status: 'EXECUTING' }, node.deviceId)) void node.publish(p.topic, p.payload, 1).catch((err) => warnOnce(`501 for ${e.operation.fragment}: ${errorText(err)}`));
      }
      toListeners(e);
    }
    /** Each c8y-in gets its own copy: one flow changing msg.payload must not change what another one sees. */
    function toListeners(item: C8yDownstream): void {
      let first = true;
      for (const l of listeners.values()) {
        l.line(first ? item : structuredClone(item));
        first = false;
      }
    }

    function queueOperation(entry: Entry): void {
      if (operations.push(entry) < 0) {
        // It stays PENDING on the platform and comes again with the next 500 (reconnect).
        warnOnce(`${MAX_OPERATIONS_PER_FRAGMENT} operations ${entry.operation.fragment} for ${entry.operation.device} are waiting for the flow: a further one was not queued (it stays PENDING)`);
      }
    }

    function onDownstream(topic: string, payload: Buffer): void {
      const { records, issues } = decodePayload(payload, topic, { collection: node.collection });
      for (const record of records) {
        const op = operationOf(record);
        if (!op) {
          toListeners({ topic, record });
          continue;
        }
        // JSON operations: the platform sends the same operation on devicecontrol/notifications with its id; the
        // static line is not handed over a second time.
        if (jsonOperations && topic === 's/ds') continue;
        queueOperation({ topic, record, handed: false, operation: { ...op, messageId: record.messageId, seq: ++seq, connection: node.id, instance } });
      }
      if (issues.length) {
        const text = `${issues.length} line(s) on ${topic} could not be decoded: ${issues.map(describeIssue).join('; ')}`;
        for (const l of listeners.values()) l.problem(text);
      }
    }

    function onJsonOperations(topic: string, payload: Buffer): void {
      const { operations: ops, issues } = parseOperations(payload);
      for (const op of ops) {
        const params = op.body[op.fragment];
        const record: DecodedRecord = { messageId: 'json', fields: [], name: op.fragment, device: op.device, ...(params && typeof params === 'object' && !Array.isArray(params) ? { values: params as Record<string, unknown> } : {}) };
        queueOperation({ topic, record, json: op.body, handed: false, operation: { fragment: op.fragment, device: op.device, messageId: 'json', operationId: op.id, seq: ++seq, connection: node.id, instance } });
      }
      if (issues.length) for (const l of listeners.values()) l.problem(`${issues.length} operation(s) on ${topic} could not be read: ${issues.join('; ')}`);
    }

    function onError(topic: string, payload: Buffer): void {
      if (topic === JSON_ERROR_TOPIC) {
        const e = parseJsonError(payload);
        for (const l of listeners.values()) l.errorLine?.(topic, e);
        return;
      }
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
        will: config.will !== false ? { topic: (config.willTopic || 's/us').trim(), payload: willPayload, qos: 1 } : undefined,
        retryRefused,
        describeRefusal,
        describeError: (err) => tlsProblem(err, (config.host ?? '').trim())?.status,
        queueLimit: { messages: queueSize, bytes: queueSize * 16384 },
        backoff: { initialMs: 1000, maxMs: 120000, factor: 2, jitter: 0.5 },
        onConnected: async (conn) => {
          // Operations that were waiting (not yet handed to the flow) are PENDING on the platform and come again
          // with 500: drop them here so they are not handed over twice. Those in progress stay. Without 500 they
          // would not come again, so they are kept.
          if (config.pending !== false) operations.dropWaiting();
          for (const m of startup) await conn.publishNow(m.topic, m.payload, { qos: 1 });
        },
      });
      // Warnings, never [error]: an absent or refusing broker is a state (status), logged once per distinct problem.
      connection.on('refused', (code: number, midSession: boolean) => {
        warnOnce(refusalLogLine(code, midSession));
        if (code === 4 && !credentialsRefused) {
          credentialsRefused = true;
          node.emit('credentials-refused');
        }
      });
      connection.on('client-error', (err: unknown) => {
        if (isRefusal(err)) return;
        const tlsIssue = tlsProblem(err as Error, (config.host ?? '').trim());
        warnOnce(`Cumulocity connection (${clientId}): ${tlsIssue ? tlsIssue.log : errorText(err)}`);
      });
      connection.on('overflow', (topic: string) => warnOnce(`offline queue full (${queueSize} messages): a message to ${topic} was dropped`));
      connection.on('connected', () => {
        lastWarning = '';
        credentialsRefused = false;
        // After the subscriptions: ask for PENDING operations. Directly, not through the offline queue (which
        // may be full after an outage, and 500 must not wait behind the data).
        if (config.pending !== false) void connection.publishNow('s/us', '500', { qos: 1 }).catch((err) => warnOnce(`500 (pending operations) could not be sent: ${errorText(err)}`));
      });
      unsubscribes.push(connection.subscribe('s/ds', 1, onDownstream));
      if (jsonOperations) unsubscribes.push(connection.subscribe(JSON_OPERATIONS_TOPIC, 1, onJsonOperations));
      if (node.collection) unsubscribes.push(connection.subscribe(`s/dc/${node.collection.xid}`, 1, onDownstream));
      // Responses of the default template collection of the ClientId (d:<id>:<X-ID>) arrive on s/dd.
      if ((config.defaultXid ?? '').trim()) unsubscribes.push(connection.subscribe('s/dd', 1, onDownstream));
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
    // Errors of JSON via MQTT come on `error`: subscribed (with s/e) once JSON is used on this connection, so a
    // SmartREST-only device does not ask for a topic some brokers refuse.
    let jsonUsed = jsonOperations;
    let jsonErrorsSubscribed = false;
    function subscribeErrors(): void {
      if (!node.connection) return;
      if (!errorsSubscribed) {
        errorsSubscribed = true;
        node.connection.subscribe('s/e', 0, onError).catch(() => undefined);
      }
      if (jsonUsed && !jsonErrorsSubscribed) {
        jsonErrorsSubscribed = true;
        node.connection.subscribe(JSON_ERROR_TOPIC, 0, onError).catch(() => undefined);
      }
    }
    node.useJson = () => {
      if (jsonUsed) return;
      jsonUsed = true;
      if (errorsSubscribed) subscribeErrors();
    };

    const problemStatus = (): StatusLike =>
      node.problem ? { fill: 'red', shape: 'ring', text: node.problem } : { fill: 'grey', shape: 'ring', text: 'no credentials: waiting for a registration' };
    const active = () => !!node.connection && !waiting;

    node.register = (user) => {
      users.set(user.id, user);
      if (active()) node.connection!.register(user);
      else user.status(problemStatus());
      // Status set while the flow is being built is missed by Status nodes: send it again once the flow runs.
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (users.get(user.id) === user) user.status(active() ? (connectionStatus ?? { fill: 'grey', shape: 'ring', text: 'idle' }) : problemStatus());
      }, 1);
      timers.add(timer);
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
      // Operations that came while no c8y-in listened (or whose c8y-in was redeployed) go to the new one; on the
      // next tick, once the flow around it has started.
      const timer = setTimeout(() => {
        timers.delete(timer);
        for (const e of operations.inProgress()) if (!e.handed) release(e);
      }, 1);
      timers.add(timer);
    };
    node.removeListener_ = (l) => {
      listeners.delete(l.id);
      node.deregister(l);
      // The last c8y-in left (a redeploy of modified nodes restarts it alone): what is in progress is handed to
      // the next one again, so the fragment is not blocked until the config node restarts.
      if (!listeners.size) for (const e of operations.inProgress()) e.handed = false;
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
      try {
        await tokenSubscription;
      } catch (err) {
        tokenSubscription = undefined; // refused now, maybe allowed later: ask again next time
        throw err;
      }
      await node.publish('s/uat', '', 1);
    };

    node.completeOperation = async (ref, result) => {
      // 501-503 act on the oldest operation of the fragment on the platform: a result for anything but the
      // operation in progress here would complete another one. Refuse it (done(err) in c8y-out).
      const key = queueKey(ref);
      const current = operations.current(key);
      if (ref.connection !== node.id || (ref.instance !== undefined && ref.instance !== instance) || !current || current.operation.seq !== ref.seq) {
        const why =
          ref.connection !== node.id
            ? `it was received by another c8y-device connection (${ref.connection})`
            : ref.instance !== undefined && ref.instance !== instance
              ? 'it was received before the connection was restarted (redeploy)'
              : 'it is not in progress (already answered?)';
        throw new Error(`result for operation ${ref.fragment} of ${ref.device} not sent: ${why}`);
      }
      for (const p of statusLines(ref, result, node.deviceId)) await node.publish(p.topic, p.payload, 1);
      // Only after the broker has it: if the publish failed, the operation stays in progress (a retry may answer it).
      if (result.status !== 'EXECUTING') operations.done(key, (e) => e.operation.seq === ref.seq);
    };

    node.completeById = async (operationId, result, child) => {
      const target = child && child !== node.deviceId ? child : undefined;
      for (const p of statusLinesById(operationId, result, target)) await node.publish(p.topic, p.payload, 1);
      // An operation handed over here with this id is finished too (the next of its fragment follows).
      if (result.status === 'EXECUTING') return;
      for (const e of operations.inProgress()) if (e.operation.operationId === operationId) operations.done(queueKey(e.operation), (x) => x === e);
    };

    node.failExecuting = async (fragment, reason, child) => {
      const target = child && child !== node.deviceId ? child : undefined;
      for (const p of failExecutingLines(fragment, reason, target)) await node.publish(p.topic, p.payload, 1);
      // The platform failed them: those in progress here (of that fragment and target) are finished as well.
      const device = target ?? node.deviceId;
      for (const e of operations.inProgress()) {
        if (e.operation.device === device && (!fragment || e.operation.fragment === fragment)) operations.done(queueKey(e.operation), (x) => x === e);
      }
    };

    // ---- registration while connected: the bootstrap ClientId `<id>` and `d:<id>` are the same identity on the
    // platform (reference §1.3), two connections would replace each other; the device connection waits. ---------
    let suspended = false;
    node.suspendForRegistration = () => {
      if (!node.connection || !active() || suspended) return;
      suspended = true;
      node.connection.suspend({ fill: 'yellow', shape: 'ring', text: 'waiting for the device registration' });
    };
    node.resumeAfterRegistration = () => {
      if (!suspended) return;
      suspended = false;
      node.connection?.restart();
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
      credentialsRefused = false;
      suspended = false;
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
      for (const t of timers) clearTimeout(t);
      timers.clear();
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
