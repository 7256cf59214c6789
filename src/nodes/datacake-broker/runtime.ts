/**
 * `datacake-broker`: ONE shared MQTT connection to Datacake (src/mqtt/connection.ts) per config node, the token
 * as a credential used as username and password, the echo window shared by its in- and out-nodes, and the
 * admin endpoints behind the editor pickers (GraphQL runs here, so the token never goes to the browser).
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { accountKey, echoMemoryFor } from '../../datacake/echo';
import { DEFAULT_API_URL, GraphqlError, listDevices, listWorkspaces } from '../../datacake/graphql';
import { parseTopic } from '../../datacake/topics';
import { canonicalText } from '../../datacake/values';
import { ConnectionClosedError, MqttConnection, describeConnack, type ConnectionUser, type StatusLike } from '../../mqtt/connection';
import { errorText } from '../shared/errors';
import type { DatacakeBrokerConfig, DatacakeBrokerCredentials, DatacakeBrokerNode, DatacakeProtocol, FieldHandler } from './types';

const DEFAULT_PORTS: Record<DatacakeProtocol, number> = { mqtts: 8883, mqtt: 1883, wss: 9001, ws: 9001 };

/** Datacake answers a bad token with CONNACK 4 or 5: say so, and do not retry (no reconnect storm) until redeploy. */
function describeRefusal(code: number): string {
  if (code === 4) return 'bad token (username/password refused)';
  if (code === 5) return 'not authorized: check the token';
  return describeConnack(code);
}

function brokerUrl(config: Pick<DatacakeBrokerConfig, 'host' | 'port' | 'protocol' | 'wsPath'>): string {
  const protocol: DatacakeProtocol = (['mqtts', 'mqtt', 'wss', 'ws'] as const).includes(config.protocol) ? config.protocol : 'mqtts';
  const host = (config.host || 'mqtt.datacake.co').trim();
  const port = Number(config.port) > 0 ? Number(config.port) : DEFAULT_PORTS[protocol];
  const path = protocol === 'wss' || protocol === 'ws' ? (config.wsPath || '').replace(/^(?=[^/])/, '/') : '';
  return `${protocol}://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}${path}`;
}

/**
 * An API URL the token may be sent to, from the editor or the deployed node alike: https anywhere, plain http
 * only to this machine (a local stand-in).
 */
function checkApiUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new GraphqlError(`the API URL ${JSON.stringify(text)} is not a URL`, 400);
  }
  const loopback = u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw new GraphqlError('the API URL must be https:// (http:// only to 127.0.0.1/localhost)', 400);
  return text;
}

export = function register(RED: NodeAPI): void {
  function DatacakeBrokerNodeCtor(this: DatacakeBrokerNode, config: DatacakeBrokerConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const token = (node.credentials?.token ?? '').trim();
    node.apiUrl = (config.apiUrl || DEFAULT_API_URL).trim();
    const windowS = config.echoWindow === undefined || config.echoWindow === '' ? 5 : Number(config.echoWindow);
    node.echoWindowMs = Number.isFinite(windowS) && windowS > 0 ? windowS * 1000 : 0;
    const url = brokerUrl(config);
    // One echo memory per Datacake account (server + token), shared with other broker nodes of the account.
    const echo = echoMemoryFor(accountKey(url.replace(/^\w+:\/\//, ''), token));
    node.echo = echo.memory;
    const queueSize = Number(config.queueSize) > 0 ? Math.floor(Number(config.queueSize)) : 1000;
    const users = new Map<string, ConnectionUser>();
    let lastWarning = '';

    // Without a token (an imported example, a flow prepared offline) or with `connect: manual` the connection is
    // made but never started: nothing goes to the network, writes wait in the bounded queue (the out-node shows
    // them as waiting), no error is raised. Entering the token and deploying starts it.
    if (!token) node.problem = 'no token';
    else if (config.connect === 'manual') node.problem = 'not connected (manual)';
    {
      const clientId = (config.clientId || '').trim() || `dtck-nr-${RED.util.generateId().slice(0, 12)}`;
      const connection = new MqttConnection({
        url,
        clientId,
        username: token,
        password: token,
        clean: true, // Datacake manages client ids: treat every connection as a clean session, we buffer ourselves
        keepalive: 60,
        protocolVersion: 4, // Datacake's broker is (very probably) mosquitto with MQTT 3.1.1 semantics
        tls: config.protocol === 'mqtts' || config.protocol === 'wss' || !config.protocol ? { rejectUnauthorized: config.verifyCert !== false } : undefined,
        retryRefused: (code) => code !== 4 && code !== 5,
        // Not retried until redeploy: a write that waits for that would wait for ever, so it fails at once.
        failWhenRefused: true,
        describeRefusal,
        queueLimit: { messages: queueSize, bytes: queueSize * 4096 },
      });
      // Warnings, never errors: an unreachable broker is a state (shown in the status), not a flow error, and
      // each distinct problem is logged once, not once per reconnect attempt.
      connection.on('refused', (code: number) => warnOnce(`Datacake refused the connection: ${describeRefusal(code)}`));
      connection.on('client-error', (err: unknown) => warnOnce(`Datacake connection: ${errorText(err)}`));
      connection.on('connected', () => (lastWarning = ''));
      connection.on('overflow', (topic: string) => warnOnce(`offline queue full (${queueSize} messages): a write to ${topic} was dropped`));
      node.connection = connection;
    }

    function warnOnce(text: string): void {
      if (text === lastWarning) return;
      lastWarning = text;
      node.warn(text);
    }

    const problemStatus: StatusLike = { fill: token ? 'grey' : 'red', shape: 'ring', text: node.problem ?? 'closed' };
    let connectionStatus: StatusLike | undefined;
    node.connection?.on('status', (s: StatusLike) => (connectionStatus = s));
    const refreshTimers = new Set<NodeJS.Timeout>();
    node.register = (user) => {
      users.set(user.id, user);
      if (node.connection && !node.problem) node.connection.register(user);
      else user.status(problemStatus);
      // Status set while the flow is still being built is missed by Status nodes: send it again once the flow
      // runs (core mqtt does the same on a 1 ms timer).
      const timer = setTimeout(() => {
        refreshTimers.delete(timer);
        if (users.get(user.id) === user) user.status(node.problem ? problemStatus : (connectionStatus ?? { fill: 'grey', shape: 'ring', text: 'idle' }));
      }, 1);
      refreshTimers.add(timer);
    };
    node.deregister = (user) => {
      users.delete(user.id);
      if (node.connection && !node.problem) node.connection.deregister(user);
      else user.status({});
    };

    node.subscribeFields = (filter: string, qos: 0 | 1, handler: FieldHandler) => {
      if (!node.connection) return Promise.resolve(async () => undefined);
      return node.connection.subscribe(filter, qos, (topic, payload) => {
        const raw = payload.toString('utf8');
        const target = parseTopic(topic);
        const ownEcho = !!target && target.prefix === 'dtck' && node.echoWindowMs > 0 && node.echo.isOwnEcho(target, canonicalText(raw));
        handler(topic, raw, target, ownEcho);
      });
    };

    node.publish = (topic, text, options) => {
      if (!node.connection) return Promise.reject(new ConnectionClosedError());
      return node.connection.publish(topic, text, { qos: options.qos ?? 0, retain: false, ...(options.owner ? { owner: options.owner } : {}) }); // retain is always off for dtck-pub
    };

    node.write = (w, options) => {
      // Remembered before it is handed over (its echo may come before the PUBACK), forgotten if it fails.
      const settled = node.echo.wrote(w.target, w.canonical, node.echoWindowMs);
      return node.publish(w.topic, w.text, options).then(
        () => settled(true),
        (err: unknown) => {
          settled(false);
          throw err;
        },
      );
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      const connection = node.connection;
      node.connection = undefined;
      for (const t of refreshTimers) clearTimeout(t);
      refreshTimers.clear();
      echo.release();
      for (const user of users.values()) user.status({});
      users.clear();
      (connection ? connection.close() : Promise.resolve()).catch(() => undefined).finally(() => done());
    });
  }

  RED.nodes.registerType<DatacakeBrokerNode, DatacakeBrokerConfig, {}, DatacakeBrokerCredentials>('datacake-broker', DatacakeBrokerNodeCtor, { credentials: { token: { type: 'password' } } });

  // ---- admin endpoints for the editor pickers ----------------------------------------------------------------
  /**
   * The token comes from the deployed node's stored credentials, or from the request body when the editor holds
   * a token that is not deployed yet. A stored token is never sent to an API URL that only the request names
   * (that would let anyone with read access send the token anywhere); responses never contain the token.
   */
  function auth(req: Request): { token: string; url: string } {
    const id = String(req.params.id);
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as { token?: unknown; apiUrl?: unknown };
    const deployed = RED.nodes.getNode(id) as DatacakeBrokerNode | null;
    const storedUrl = deployed?.apiUrl || DEFAULT_API_URL;
    const bodyUrl = typeof body.apiUrl === 'string' && body.apiUrl.trim() ? checkApiUrl(body.apiUrl.trim()) : undefined;
    const bodyToken = typeof body.token === 'string' && body.token.trim() && body.token !== '__PWRD__' ? body.token.trim() : undefined;
    // The deployed URL is checked like one from the editor: an http:// URL to another host never gets a token.
    if (bodyToken) return { token: bodyToken, url: bodyUrl ?? checkApiUrl(storedUrl) };
    const stored = (RED.nodes.getCredentials(id) as DatacakeBrokerCredentials | undefined)?.token || deployed?.credentials?.token;
    if (!stored) throw new GraphqlError('no token: enter the token in the Datacake broker node (or deploy it)', 400);
    if (bodyUrl && bodyUrl !== storedUrl) throw new GraphqlError('the API URL was changed: deploy the broker node or enter the token again', 400);
    return { token: stored, url: checkApiUrl(storedUrl) };
  }

  function answer(res: Response, work: () => Promise<unknown>): void {
    work().then(
      (data) => void res.json(data),
      (err: unknown) => {
        const status = err instanceof GraphqlError && err.status ? (err.status >= 400 && err.status < 600 ? err.status : 502) : 500;
        res.status(status).json({ error: errorText(err) });
      },
    );
  }

  const read = RED.auth.needsPermission('datacake-broker.read');
  // A POST may carry a token and an API URL: the runtime then makes a request on the editor user's behalf, which
  // is more than reading, so it needs write permission (GET only ever uses the deployed node's own settings).
  const write = RED.auth.needsPermission('datacake-broker.write');
  const workspaces = (req: Request, res: Response) => answer(res, async () => ({ workspaces: await listWorkspaces(auth(req)) }));
  const devices = (req: Request, res: Response) =>
    answer(res, async () => {
      const workspace = String((req.body as { workspace?: unknown } | undefined)?.workspace ?? req.query.workspace ?? '');
      if (!workspace) throw new GraphqlError('workspace is missing', 400);
      const pageSize = Number(req.query.pageSize) > 0 ? Math.min(100, Number(req.query.pageSize)) : undefined;
      return listDevices({ ...auth(req), pageSize }, workspace);
    });
  RED.httpAdmin.get('/datacake-broker/:id/workspaces', read, workspaces);
  RED.httpAdmin.post('/datacake-broker/:id/workspaces', write, workspaces);
  RED.httpAdmin.get('/datacake-broker/:id/devices', read, devices);
  RED.httpAdmin.post('/datacake-broker/:id/devices', write, devices);
};
