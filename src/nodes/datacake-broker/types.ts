import type { Node, NodeDef } from 'node-red';
import type { EchoWindow } from '../../datacake/echo';
import type { DatacakeTarget } from '../../datacake/topics';
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
  /** Echo window in seconds (0 disables echo protection). */
  echoWindow?: number | string;
  /** Bound of the offline queue (messages). */
  queueSize?: number | string;
  /** `auto` (default) connects when the first in/out node registers; `manual` never connects (examples, offline). */
  connect?: 'auto' | 'manual';
}

export interface DatacakeBrokerCredentials {
  token?: string;
}

/** A handler for a received Datacake value (the target is parsed from the topic). */
export type FieldHandler = (topic: string, raw: string, target: DatacakeTarget | undefined) => void;

/** What in- and out-nodes use of the config node. */
export interface DatacakeBrokerNode extends Node<DatacakeBrokerCredentials> {
  /** The shared connection (undefined once closed). */
  connection?: MqttConnection;
  /** Set when the connection is not started (no token, `connect: manual`): writes only wait in the queue. */
  problem?: string;
  apiUrl: string;
  /** Shared by every in- and out-node of this config node. */
  echo: EchoWindow;
  register(user: ConnectionUser): void;
  deregister(user: ConnectionUser): void;
  /** Subscribe to a `dtck/…` filter; every received value also goes into the echo window. */
  subscribeFields(filter: string, qos: 0 | 1, handler: FieldHandler): Promise<() => Promise<void>>;
  publish(topic: string, text: string, options: PublishOptions): Promise<void>;
}
