import type { Node, NodeDef, NodeMessage } from 'node-red';
import type { BridgeStats, ForwardSample } from '../../bridge/engine';
import type { OverflowPolicy } from '../../bridge/outbox';
import type { LookupTables, RuleConfig, Side } from '../../bridge/rules';

/** Editor configuration of the `broker-bridge` node. */
export interface BrokerBridgeConfig extends NodeDef {
  /** `mqtt-broker-connection` ids. */
  source: string;
  target: string;
  /** Ordered rules (first match wins). */
  rules: RuleConfig[];
  /** Lookup tables `{ table: { id: mapped } }` (object, or its JSON text). */
  tables?: LookupTables | string;
  outboxMessages?: number | string;
  /** Outbox bound in kilobytes. */
  outboxKB?: number | string;
  outboxPolicy?: OverflowPolicy;
  /** Time to live of a waiting message (s); 0 = no limit. */
  ttl?: number | string;
  /** Keep the outbox in a journal under the user dir (`broker-bridge/<node id>.*.jsonl`). */
  persist?: boolean;
  /** Pace of the backlog after a target outage (messages/s; 0 = unlimited); live traffic is never paced. */
  drainRate?: number | string;
  maxInflight?: number | string;
  /** Echo window (s) of the loop breaker (bidirectional rules only). */
  loopWindow?: number | string;
  /** Stats message every N s (0 = off). */
  statsInterval?: number | string;
  /** Sample every n-th forwarded message on the output (0 = off). */
  sampleEvery?: number | string;
}

/** Output: `topic: 'stats'` every statsInterval seconds; `topic: 'sample'` for sampled forwards. */
export interface BrokerBridgeStatsMessage extends NodeMessage {
  topic: 'stats';
  payload: BridgeStats;
}
export interface BrokerBridgeSampleMessage extends NodeMessage {
  topic: 'sample';
  payload: ForwardSample;
}

/** Body of `POST /broker-bridge/preview`. */
export interface PreviewRequest {
  rules: RuleConfig[];
  tables?: LookupTables | string;
  topic: string;
  side?: Side;
}

export type BrokerBridgeNode = Node;
