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
}

/** Secrets of `c8y-endpoint` (Node-RED credentials only). */
export interface C8yEndpointCredentials {
  bootstrapPassword?: string;
  servicePassword?: string;
  /** Devices configured in the editor: `deviceId:password` pairs separated by spaces, commas or new lines. */
  devices?: string;
  /** Signs the device tokens of `s/uat`; empty = a random one per deploy of the node (tokens die with it). */
  tokenSecret?: string;
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
