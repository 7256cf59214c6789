import type { Node, NodeDef } from 'node-red';
import type { ConnectionUser, MqttConnection } from '../../mqtt/connection';
import type { ConnectionControl } from '../shared/actions';

/** Editor configuration of the `mqtt-broker-connection` config node. */
export interface MqttBrokerConnectionConfig extends NodeDef {
  /** Host name, or a full URL (`mqtt://`, `mqtts://`, `ws://`, `wss://`), which then wins over port/TLS. */
  broker: string;
  port: number | string;
  /** `4` (MQTT 3.1.1, default) or `5`. */
  protocolVersion?: '4' | '5' | 4 | 5;
  usetls?: boolean;
  /** Id of a core `tls-config` node. */
  tls?: string;
  /** Blank: a random `nrbr-…` id. A fixed id is needed for a persistent session. */
  clientId?: string;
  /** Clean session (default true). false = persistent session (needs a fixed client id). */
  clean?: boolean;
  keepalive?: number | string;
  /** MQTT 5 session expiry (s) for persistent sessions; default 3600. */
  sessionExpiry?: number | string;
  /** Reconnect backoff: first delay and maximum (s); jitter 50 %. */
  backoffInitial?: number | string;
  backoffMax?: number | string;
  /** `auto` (default) connects when the first node registers; `manual` never connects (offline examples). */
  connect?: 'auto' | 'manual';
}

export interface MqttBrokerConnectionCredentials {
  user?: string;
  password?: string;
}

/** What the nodes using it see of the config node. */
export interface MqttBrokerConnectionNode extends Node<MqttBrokerConnectionCredentials>, ConnectionControl {
  connection?: MqttConnection;
  /** Set when the connection is not started (`connect: manual`). */
  problem?: string;
  /** URL shown in status and logs. */
  url: string;
  register(user: ConnectionUser): void;
  deregister(user: ConnectionUser): void;
}
