import type { Node, NodeDef } from 'node-red';
import type { ConnectionUser, MqttConnection } from '../../mqtt/connection';
import type { DeviceCredentials } from '../../c8y/bootstrap';
import type { OperationRef, OperationResult } from '../../c8y/operations';
import type { JsonError } from '../../c8y/json';
import type { TemplateCollection } from '../../smartrest/custom';
import type { DecodedRecord } from '../../smartrest/types';

/** Editor configuration of the `c8y-device` config node. */
export interface C8yDeviceConfig extends NodeDef {
  host: string;
  /** `mqtts` (TLS, 8883, default), `mqtt` (1883), `wss` (443, `/mqtt`), `ws`. */
  transport: 'mqtts' | 'mqtt' | 'wss' | 'ws';
  port: number | string;
  wsPath: string;
  /** Optional core `tls-config` node (client certificate, CA). */
  tls: string;
  verifyCert: boolean;
  tenant: string;
  /** Device external id (`c8y_Serial`); ClientId `d:<id>` or `d:<id>:<xid>`. No `:`. */
  deviceId: string;
  /** Default template collection in the ClientId (`d:<id>:<xid>`), optional. */
  defaultXid: string;
  keepalive: number | string;
  will: boolean;
  willTopic: string;
  willPayload: string;
  queueSize: number | string;
  /** Startup phase (every connect). */
  devName: string;
  devType: string;
  children: string;
  hwSerial: string;
  hwModel: string;
  hwRevision: string;
  operations: string;
  interval: number | string;
  /** Custom template collection registered on `s/ut/<xid>` and subscribed on `s/dc/<xid>`. */
  xid: string;
  templates: string;
  /** Publish `500` after the subscriptions (pending operations). */
  pending: boolean;
  /** Operations as `smartrest` lines from `s/ds` (default) or as `json` from `devicecontrol/notifications` (with ids). */
  format?: 'smartrest' | 'json';
}

export interface C8yDeviceCredentials {
  user?: string;
  password?: string;
}

/** An operation (or another downstream line) as `c8y-in` emits it. */
export interface C8yDownstream {
  topic: string;
  record: DecodedRecord;
  /** A JSON operation from `devicecontrol/notifications`, as the platform sent it (then `record` only names it). */
  json?: Record<string, unknown>;
  /** Present for operations (lines with a fragment and a target). */
  operation?: OperationRef;
}

/** What `c8y-in` registers to receive downstream lines. */
export interface DownstreamListener extends ConnectionUser {
  /** Send `501` when an operation is handed to the flow. */
  executing: boolean;
  line(item: C8yDownstream): void;
  /** `s/e` lines (only to listeners that asked for them) and decode issues. */
  errorLine?(topic: string, record: DecodedRecord | JsonError): void;
  problem(text: string): void;
}

/** Runtime API of `c8y-device` used by c8y-in, c8y-out and c8y-device-registration. */
export interface C8yDeviceNode extends Node<C8yDeviceCredentials> {
  deviceId: string;
  connection?: MqttConnection;
  collection?: TemplateCollection;
  /** Why the node does not connect (bad config, no credentials yet), shown as status. */
  problem?: string;
  register(user: ConnectionUser): void;
  deregister(user: ConnectionUser): void;
  addListener_(listener: DownstreamListener): void;
  removeListener_(listener: DownstreamListener): void;
  publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
  /** Publish `503`/`502`/`501` for an operation; the next operation of the fragment is released after it. */
  completeOperation(ref: OperationRef, result: OperationResult): Promise<void>;
  /** `504`/`505`/`506` for an operation id (from the platform); an operation in progress here with that id is finished. */
  completeById(operationId: string, result: OperationResult, child?: string): Promise<void>;
  /** `507`: every EXECUTING operation (of `fragment`, or all) of the device or child becomes FAILED; those in progress here are finished. */
  failExecuting(fragment: string | undefined, reason: string | undefined, child?: string): Promise<void>;
  /** A node publishes JSON via MQTT on this connection: `error` is subscribed with `s/e` (when a c8y-in asks for errors). */
  useJson(): void;
  /** Registration result: store (persisted, encrypted) and reconnect with it. */
  setCredentials(creds: DeviceCredentials): Promise<void>;
  /** Certificate-authenticated devices: subscribe `s/dat` (once) and publish an empty `s/uat`; `71` reaches c8y-in. */
  requestToken(): Promise<void>;
  /** Whether the node has credentials (configured or from a registration) or a client certificate, not refused (CONNACK 4). */
  hasCredentials(): boolean;
  /** A registration starts: the device connection (same identity on the platform) waits until it ends. */
  suspendForRegistration(): void;
  /** The registration ended without new credentials: connect again as before. */
  resumeAfterRegistration(): void;
}
