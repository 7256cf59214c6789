import type { Node, NodeDef, NodeStatus } from 'node-red';
import type { EndpointServer } from '../../endpoint/server';

/** Editor configuration of the `c8y-endpoint` config node. */
export interface C8yEndpointConfig extends NodeDef {
  host: string;
  port: string | number;
  /** MQTT over TLS on tlsPort, certificate and key from a core `tls-config` node. */
  usetls: boolean;
  tls: string;
  tlsPort: string | number;
  /** MQTT over WebSocket on wsPort, path /mqtt. */
  usews: boolean;
  wsPort: string | number;
  tenant: string;
  /** Bootstrap user name without the `management/` tenant (default `devicebootstrap`). */
  bootstrapUser: string;
  /** Service account user name without the tenant; empty = no service account. */
  serviceUser: string;
  /** Registry file name relative to the Node-RED user dir; empty = `c8y-endpoint/<node id>-devices.json`. */
  registryFile: string;
  /**
   * Where the shared state lives: `local` (default: files under the user dir, this instance only) or `redis`
   * (every instance with the same Redis and key prefix shares it). Missing in flows of earlier versions = local.
   */
  state?: 'local' | 'redis';
  /** `redis://host:port/db` or `rediss://…`; user and password come from the credentials. */
  redisUrl?: string;
  /** Optional tls-config node for the Redis connection. */
  redisTls?: string;
  /** Key prefix in Redis (default `c8y-endpoint`). */
  redisPrefix?: string;
}

/** Secrets of `c8y-endpoint` (Node-RED credentials only). */
export interface C8yEndpointCredentials {
  bootstrapPassword?: string;
  servicePassword?: string;
  /** Devices configured in the editor: `deviceId:password` pairs separated by spaces, commas or new lines. */
  devices?: string;
  /** Signs the device tokens of `s/uat`; empty = a random one per deploy of the node (tokens die with it). */
  tokenSecret?: string;
  /** Redis ACL user and password (state `redis`). */
  redisUser?: string;
  redisPassword?: string;
}

/** A node that uses the endpoint. `attach` is called whenever the server (re)starts; it returns its detacher. */
export interface EndpointUser {
  node: Node;
  attach(server: EndpointServer): () => void;
  /** The endpoint's own status (listening / error / device counts); the user may add to it. */
  endpointStatus(status: NodeStatus): void;
}

export interface C8yEndpointNode extends Node<C8yEndpointCredentials> {
  register(user: EndpointUser): void;
  deregister(user: EndpointUser): void;
  /** The running server, if any. */
  server(): EndpointServer | undefined;
}
