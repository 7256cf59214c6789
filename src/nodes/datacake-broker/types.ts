import type { Node, NodeDef } from 'node-red';
import type { EchoMemory } from '../../datacake/echo';
import type { DatacakeTarget } from '../../datacake/topics';
import type { PlannedWrite } from '../../datacake/writes';
import type { ConnectionUser, MqttConnection, PublishOptions } from '../../mqtt/connection';

export type DatacakeProtocol = 'mqtts' | 'mqtt' | 'wss' | 'ws';

/** Editor configuration of the `datacake-broker` config node. */
export interface DatacakeBrokerConfig extends NodeDef {
  host: string;
  port: number | string;
  protocol: DatacakeProtocol;
  /** WebSocket path (`wss`/`ws` only). */
  wsPath?: string;
  /** Verify the server certificate (TLS only); default true. */
  verifyCert?: boolean;
  /** Blank: a random `dtck-nr-…` id per connection (Datacake manages client ids itself). */
  clientId?: string;
  /** GraphQL endpoint for the editor pickers. */
  apiUrl?: string;
  /** Seconds after one of our writes completed in which the same value received for that field is its echo (0: echo protection off). */
  echoWindow?: number | string;
  /** Bound of the offline queue (messages). */
  queueSize?: number | string;
  /** `auto` (default) connects when the first in/out node registers; `manual` never connects (examples, offline). */
  connect?: 'auto' | 'manual';
}

export interface DatacakeBrokerCredentials {
  token?: string;
}

/**
 * A handler for a received Datacake value (the target is parsed from the topic); `ownEcho` when the value is the
 * echo of a write of ours (the in-node marks its message, see src/datacake/echo.ts).
 */
export type FieldHandler = (topic: string, raw: string, target: DatacakeTarget | undefined, ownEcho: boolean) => void;

/** What in- and out-nodes use of the config node. */
export interface DatacakeBrokerNode extends Node<DatacakeBrokerCredentials> {
  /** The shared connection (undefined once closed). */
  connection?: MqttConnection;
  /** Set when the connection is not started (no token, `connect: manual`): writes only wait in the queue. */
  problem?: string;
  apiUrl: string;
  /** The echo memory of the Datacake account (shared by every broker node with the same server and token). */
  echo: EchoMemory;
  /** How long after a write of ours completed its echo is recognised (0: echo protection off). */
  echoWindowMs: number;
  register(user: ConnectionUser): void;
  deregister(user: ConnectionUser): void;
  /** Subscribe to a `dtck/…` filter; every received value is checked against our own writes (`ownEcho`). */
  subscribeFields(filter: string, qos: 0 | 1, handler: FieldHandler): Promise<() => Promise<void>>;
  publish(topic: string, text: string, options: PublishOptions): Promise<void>;
  /** Publish one planned field write and remember it in the echo memory until its echo window is over. */
  write(w: PlannedWrite, options: PublishOptions): Promise<void>;
}
