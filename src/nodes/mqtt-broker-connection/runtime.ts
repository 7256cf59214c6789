/**
 * `mqtt-broker-connection`: ONE shared MQTT connection (src/mqtt/connection.ts) to any broker per config node:
 * URL or host/port, MQTT 3.1.1 or 5, TLS through the core `tls-config` node, username/password as credentials,
 * client id, clean or persistent session, keepalive, reconnect backoff with jitter. Manual acknowledgement is
 * switched on for the connection (handlers that do not ask for it are acknowledged as before), so a bridge can
 * acknowledge a source message only once the target acknowledged it.
 */
import type { NodeAPI } from 'node-red';
import { MqttConnection, describeConnack, type ConnectionUser, type StatusLike } from '../../mqtt/connection';
import { connectionControl } from '../shared/actions';
import { errorText } from '../shared/errors';
import type { MqttBrokerConnectionConfig, MqttBrokerConnectionCredentials, MqttBrokerConnectionNode } from './types';

function brokerUrl(config: Pick<MqttBrokerConnectionConfig, 'broker' | 'port' | 'usetls'>): string {
  const b = (config.broker || '127.0.0.1').trim();
  if (/^(mqtts?|wss?|tcp|tls):\/\//i.test(b)) return b;
  const tls = !!config.usetls;
  const port = Number(config.port) > 0 ? Number(config.port) : tls ? 8883 : 1883;
  return `${tls ? 'mqtts' : 'mqtt'}://${b.includes(':') && !b.startsWith('[') ? `[${b}]` : b}:${port}`;
}

/** The URL without `user:password@`, for status and logs (credentials belong in the credentials fields). */
function displayUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1');
}

const num = (v: unknown, fallback: number) => (v === undefined || v === '' || !Number.isFinite(Number(v)) ? fallback : Number(v));

export = function register(RED: NodeAPI): void {
  function MqttBrokerConnectionCtor(this: MqttBrokerConnectionNode, config: MqttBrokerConnectionConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const url = brokerUrl(config);
    node.url = displayUrl(url);
    const users = new Map<string, ConnectionUser>();
    const v5 = Number(config.protocolVersion) === 5;
    let clientId = (config.clientId || '').trim();
    let clean = config.clean !== false;
    if (!clean && !clientId) {
      // A persistent session without a fixed id would be a new session on every connect (core mqtt does the same).
      node.warn('a persistent session needs a fixed client id: using a clean session');
      clean = true;
    }
    if (!clientId) clientId = `nrbr-${RED.util.generateId().slice(0, 16)}`;
    let tls: Record<string, unknown> | undefined;
    if (config.usetls || /^(mqtts|wss|tls):/i.test(node.url)) {
      tls = {};
      const tlsNode = config.tls ? (RED.nodes.getNode(config.tls) as unknown as { addTLSOptions?: (o: Record<string, unknown>) => void } | null) : null;
      if (tlsNode?.addTLSOptions) tlsNode.addTLSOptions(tls);
    }
    let lastWarning = '';
    const warnOnce = (text: string) => {
      if (text === lastWarning) return;
      lastWarning = text;
      node.warn(text);
    };
    if (config.connect === 'manual') node.problem = 'not connected (manual)';
    const connection = new MqttConnection({
      url,
      clientId,
      username: node.credentials?.user || undefined,
      password: node.credentials?.password || undefined,
      clean,
      keepalive: num(config.keepalive, 60),
      protocolVersion: v5 ? 5 : 4,
      tls: tls as never,
      backoff: { initialMs: num(config.backoffInitial, 1) * 1000, maxMs: num(config.backoffMax, 60) * 1000, factor: 2, jitter: 0.5 },
      retryRefused: (code) => code !== 4 && code !== 5 && code !== 134 && code !== 135,
      // Bridges gate what they hand over (their own bounded outbox); this only has to hold their in-flight window.
      queueLimit: { messages: 20000, bytes: 64 * 1024 * 1024 },
      manualAcks: true,
      // Deferred PUBACKs are small writes that Nagle would hold back; and everything written in one event-loop
      // turn (the messages of one incoming chunk) leaves in one write.
      noDelay: true,
      batchWrites: true,
      extra: v5 && !clean ? { properties: { sessionExpiryInterval: num(config.sessionExpiry, 3600) } } : undefined,
    });
    // Warnings, never errors: an absent broker is a state shown in the status (the examples run offline).
    connection.on('refused', (code: number) => warnOnce(`${node.url} refused the connection: ${describeConnack(code)}`));
    connection.on('client-error', (err: unknown) => warnOnce(`${node.url}: ${errorText(err)}`));
    connection.on('connected', () => (lastWarning = ''));
    node.connection = connection;

    let current: StatusLike | undefined;
    connection.on('status', (s: StatusLike) => (current = s));
    const manualStatus: StatusLike = { fill: 'grey', shape: 'ring', text: node.problem ?? '' };
    const timers = new Set<NodeJS.Timeout>();
    node.register = (user) => {
      users.set(user.id, user);
      if (node.problem) user.status(manualStatus);
      else connection.register(user);
      // Status set while the flow is being built is missed by Status nodes: send it again once it runs.
      const t = setTimeout(() => {
        timers.delete(t);
        if (users.get(user.id) === user) user.status(node.problem ? manualStatus : (current ?? { fill: 'grey', shape: 'ring', text: 'idle' }));
      }, 1);
      timers.add(t);
    };
    node.deregister = (user) => {
      users.delete(user.id);
      if (node.problem) user.status({});
      else connection.deregister(user);
    };
    // msg.action connect/disconnect of the nodes that use it (src/nodes/shared/actions.ts).
    Object.assign(
      node,
      connectionControl(() => node.connection, {
        startUsers: () => {
          if (!node.problem) return false;
          node.problem = undefined;
          for (const u of users.values()) connection.register(u);
          return true;
        },
      }),
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      node.connection = undefined;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const u of users.values()) u.status({});
      users.clear();
      connection.close().catch(() => undefined).finally(() => done());
    });
  }

  RED.nodes.registerType<MqttBrokerConnectionNode, MqttBrokerConnectionConfig, {}, MqttBrokerConnectionCredentials>('mqtt-broker-connection', MqttBrokerConnectionCtor, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
  });
};
