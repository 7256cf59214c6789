/**
 * `msg.action` on the nodes that use a connection, with the contract of Node-RED core's `mqtt in` / `mqtt out`
 * (10-mqtt.js): `connect` starts the shared connection of the node's config node (nothing to do when it is already
 * connected or connecting), `disconnect` ends it and keeps it down until a `connect` (or a redeploy). Both act on
 * the config node, so every node that shares it sees the change, as in core. Any other action is
 * `done(new Error('Invalid action specified'))` so a Catch node sees it.
 *
 * Decision: `done()` of `connect` is called once the connection is started, not once it is connected (a broker
 * that is down would otherwise hold the message for a whole backoff); the status of the node says when it is up.
 * `msg.broker` (core's way to change the broker settings) is not supported: settings stay in the config node,
 * credentials in its credentials, never in a message.
 */
import type { MqttConnection, StatusLike } from '../../mqtt/connection';

export const CONNECTION_ACTIONS = ['connect', 'disconnect'] as const;
export type ConnectionAction = (typeof CONNECTION_ACTIONS)[number];

/** Message contract of an action message (the other fields of the message are kept as they are). */
export interface ActionMessage {
  action: ConnectionAction | 'subscribe' | 'unsubscribe' | 'getSubscriptions';
  /** `subscribe` / `unsubscribe` on an in-node: see that node's types. */
  topic?: unknown;
}

/** What a config node with one shared connection offers for `msg.action`. */
export interface ConnectionControl {
  /** Start the connection (a manual or disconnected one too); rejects when it cannot be started (e.g. no token). */
  connectAction(): void;
  /** End the connection and keep it down until `connectAction()`. */
  disconnectAction(): void;
}

export const DISCONNECTED_BY_ACTION: StatusLike = { fill: 'grey', shape: 'ring', text: 'disconnected (msg.action)' };

export class ActionError extends Error {
  constructor(text: string) {
    super(text);
    this.name = 'ActionError';
  }
}

/** Core's texts, so that flows written for core mqtt see the same errors. */
export const INVALID_ACTION = 'Invalid action specified';

/**
 * The control of a config node that owns `connection`. `startUsers` is called the first time a connection that
 * was never started (`connect: manual`) is asked to connect: it registers the users with the connection, which
 * starts it.
 */
export function connectionControl(get: () => MqttConnection | undefined, hooks: { blocked?: () => string | undefined; startUsers?: () => boolean }): ConnectionControl {
  return {
    connectAction() {
      const connection = get();
      if (!connection) throw new ActionError('the connection is closed');
      const blocked = hooks.blocked?.();
      if (blocked) throw new ActionError(`cannot connect: ${blocked}`);
      if (hooks.startUsers?.()) return; // a manual connection started now
      if (connection.state === 'connected' || connection.state === 'connecting') return;
      connection.restart();
    },
    disconnectAction() {
      const connection = get();
      if (!connection || connection.state === 'closed') return;
      connection.suspend(DISCONNECTED_BY_ACTION);
    },
  };
}

/**
 * Handles `connect` / `disconnect` for a node that uses the given config nodes (a bridge uses two). Returns false
 * when the message has no `action` (the node handles it as usual). Other actions: `done(Error)`.
 */
export function handleConnectionAction(msg: { action?: unknown }, controls: (ConnectionControl | undefined | null)[], done: (err?: Error) => void, extra: readonly string[] = []): boolean {
  if (msg.action === undefined || msg.action === null || msg.action === '') return false;
  const action = msg.action;
  if (action !== 'connect' && action !== 'disconnect') {
    if (typeof action === 'string' && extra.includes(action)) return false;
    done(new Error(`${INVALID_ACTION}: ${JSON.stringify(action)} (use ${[...CONNECTION_ACTIONS, ...extra].join(', ')})`));
    return true;
  }
  const unique = [...new Set(controls.filter((c): c is ConnectionControl => !!c))];
  if (!unique.length) {
    done(new Error(`msg.action ${action}: no connection configured`));
    return true;
  }
  try {
    for (const c of unique) (action === 'connect' ? c.connectAction() : c.disconnectAction());
    done();
  } catch (err) {
    done(err instanceof Error ? err : new Error(String(err)));
  }
  return true;
}
