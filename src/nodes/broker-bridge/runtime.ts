/**
 * `broker-bridge`: maps one broker's topics onto another's inside the node (src/bridge/engine.ts); messages never
 * pass through Node-RED's message graph. The single output only observes: per-rule counters, queue depth and
 * connection state every N seconds, and optionally a sample of forwarded messages. The editor's live preview
 * calls `POST /broker-bridge/preview`, which runs the same rule compiler and matcher as the runtime.
 */
import path from 'node:path';
import os from 'node:os';
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { BRIDGE_DEFAULTS, BridgeEngine } from '../../bridge/engine';
import { compileRules, preview, type LookupTables, type RuleConfig, type Side } from '../../bridge/rules';
import type { StatusLike } from '../../mqtt/connection';
import { errorText, shortText } from '../shared/errors';
import type { MqttBrokerConnectionNode } from '../mqtt-broker-connection/types';
import type { BrokerBridgeConfig, BrokerBridgeNode, PreviewRequest } from './types';

function parseTables(t: LookupTables | string | undefined): LookupTables {
  if (!t) return {};
  const v = typeof t === 'string' ? (t.trim() ? JSON.parse(t) : {}) : t;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('lookup tables must be an object { table: { id: mapped } }');
  for (const [name, table] of Object.entries(v)) {
    // The values themselves are checked by compileRules (one topic level each).
    if (!table || typeof table !== 'object' || Array.isArray(table)) throw new Error(`lookup table ${JSON.stringify(name)} must be an object of id → mapped id`);
  }
  return v as LookupTables;
}

const num = (v: unknown, fallback: number) => (v === undefined || v === '' || !Number.isFinite(Number(v)) ? fallback : Number(v));

export = function register(RED: NodeAPI): void {
  function BrokerBridgeCtor(this: BrokerBridgeNode, config: BrokerBridgeConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const source = RED.nodes.getNode(config.source) as MqttBrokerConnectionNode | null;
    const target = RED.nodes.getNode(config.target) as MqttBrokerConnectionNode | null;
    let engine: BridgeEngine | undefined;
    let statsTimer: NodeJS.Timeout | undefined;
    const state: Record<Side, StatusLike> = { source: {}, target: {} };
    let problem: string | undefined;

    const showStatus = () => {
      if (problem) return node.status({ fill: 'red', shape: 'ring', text: shortText(problem) });
      const up = (s: StatusLike) => s.fill === 'green';
      const word = (s: StatusLike) => (up(s) ? 'up' : s.fill === 'yellow' ? 'connecting' : s.text && !s.text.startsWith('node-red:') ? s.text : 'down');
      const queue = engine?.stats().queue;
      const q = queue ? queue.toTarget.depth + queue.toSource.depth : 0;
      const both = up(state.source) && up(state.target);
      node.status({ fill: both ? 'green' : up(state.source) || up(state.target) ? 'yellow' : 'red', shape: both ? 'dot' : 'ring', text: shortText(`source ${word(state.source)}, target ${word(state.target)}${q ? `, ${q} queued` : ''}`, 60) });
    };
    const users = {
      source: { id: `${node.id}:source`, status: (s: StatusLike) => ((state.source = s), showStatus()) },
      target: { id: `${node.id}:target`, status: (s: StatusLike) => ((state.target = s), showStatus()) },
    };

    try {
      if (!source?.connection) throw new Error('no source connection configured');
      if (!target?.connection) throw new Error('no target connection configured');
      const rules = compileRules(Array.isArray(config.rules) ? config.rules : [], parseTables(config.tables));
      if (!rules.count) throw new Error('no rules');
      const dir = (RED.settings as { userDir?: string }).userDir || os.tmpdir();
      engine = new BridgeEngine({
        rules,
        source: source.connection,
        target: target.connection,
        outbox: {
          maxMessages: Math.max(1, num(config.outboxMessages, BRIDGE_DEFAULTS.outboxMessages)),
          maxBytes: Math.max(1, num(config.outboxKB, BRIDGE_DEFAULTS.outboxKB)) * 1024,
          policy: config.outboxPolicy ?? BRIDGE_DEFAULTS.policy,
          ttlMs: num(config.ttl, 0) * 1000,
          file: config.persist ? path.join(dir, 'broker-bridge', node.id.replace(/[^A-Za-z0-9_.-]/g, '_')) : undefined,
        },
        maxInflight: Math.max(1, num(config.maxInflight, BRIDGE_DEFAULTS.maxInflight)),
        drainRate: Math.max(0, num(config.drainRate, BRIDGE_DEFAULTS.drainRate)),
        loopWindowMs: num(config.loopWindow, 10) * 1000,
        sampleEvery: Math.max(0, num(config.sampleEvery, 0)),
        onSample: (payload) => node.send({ topic: 'sample', payload }),
        onWarn: (text) => node.warn(text),
      });
      source.register(users.source);
      if (target !== source) target.register(users.target);
      else users.target.status = users.source.status;
      engine.start().catch((err: unknown) => {
        problem = errorText(err);
        node.error(`subscribing failed: ${problem}`);
        showStatus();
      });
      const every = num(config.statsInterval, 10);
      if (every > 0) statsTimer = setInterval(() => engine && (showStatus(), node.send({ topic: 'stats', payload: engine.stats() })), every * 1000);
    } catch (err) {
      problem = errorText(err);
      // A configuration mistake is an error of this node (one line at deploy), never a crash of the runtime.
      node.error(problem);
      showStatus();
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      clearInterval(statsTimer);
      statsTimer = undefined;
      const e = engine;
      engine = undefined;
      source?.deregister?.(users.source);
      if (target && target !== source) target.deregister?.(users.target);
      (e ? e.close() : Promise.resolve())
        .catch(() => undefined)
        .finally(() => {
          node.status({});
          done();
        });
    });
  }

  RED.nodes.registerType('broker-bridge', BrokerBridgeCtor);

  // Live preview for the editor: the same compiler and matcher as the runtime (one implementation).
  RED.httpAdmin.post('/broker-bridge/preview', RED.auth.needsPermission('broker-bridge.read'), (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Partial<PreviewRequest>;
    try {
      const set = compileRules(Array.isArray(body.rules) ? (body.rules as RuleConfig[]) : [], parseTables(body.tables));
      const side: Side = body.side === 'target' ? 'target' : 'source';
      res.json({ ok: true, subscriptions: set.rules.map((r) => ({ rule: r.index, side: r.from, filter: r.subscription })), ...preview(set, side, String(body.topic ?? '')) });
    } catch (err) {
      res.status(400).json({ ok: false, error: errorText(err) });
    }
  });
};
