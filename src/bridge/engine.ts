/**
 * The bridge engine: subscribes the rules' filters on two shared connections (src/mqtt/connection.ts), maps every
 * message with the compiled rules, and publishes it on the other side, without Node-RED's message graph.
 *
 * Delivery (decisions):
 * - QoS 1 end to end: the source subscription uses manual acknowledgement; a message is acknowledged to the
 *   broker it came from only when every publish made from it was acknowledged by the other broker, or when it was
 *   dropped for a counted reason (unmapped, loop, expired, queue-full, error). Nothing is dropped silently.
 * - Fast path: while the target is connected, nothing waits in the outbox and fewer than `maxInflight` publishes
 *   are unacknowledged, a message is handed to the target connection at once. Otherwise it waits in the bounded
 *   outbox (policy, TTL, optional journal), which drains in order within the in-flight window. Only a backlog
 *   left by an outage is paced at `drainRate` messages/s: from the target's reconnect until the outbox is empty
 *   (the connection counts as connected only after its subscriptions were confirmed); live traffic never is.
 * - Source session: when the sending connection drops, waiting messages whose acknowledgement it took are parked;
 *   the next CONNACK decides (session kept: the broker redelivers them, the copies go; lost: they go back).
 * - Loops: only when rules listen on BOTH sides, two content windows (see loop.ts): our own publishes coming back
 *   (echo) and reflections of what a side just sent us. On MQTT 5 connections subscriptions also ask for No-Local.
 * - Retained replays: a message delivered with the retain flag within REPLAY_WINDOW_MS of a (re)connect of its
 *   side (the broker's replay after subscribing) is forwarded only when its content differs from the last one
 *   forwarded for that topic, so reconnects do not re-flood. Live messages (also with MQTT 5 Retain As Published)
 *   always pass. The memory of forwarded retained content is bounded (RETAINED_TOPICS, oldest out).
 */
import { ConnectionClosedError, type Ack, type MqttConnection } from '../mqtt/connection';
import type { IPublishPacket } from 'mqtt';
import { adapt } from './adapters';
import { Counters, type RuleCounters } from './counters';
import { LoopBreaker, contentHash } from './loop';
import { Outbox, type OutboxEntry, type OverflowPolicy } from './outbox';
import { applyQos, findRule, renderTopic, subscribeQos, type CompiledRule, type RuleSet, type Side } from './rules';

/** The settings a new node gets in the editor (editor.html `defaults` must say the same; the runtime falls back to these). */
export const BRIDGE_DEFAULTS = Object.freeze({ outboxMessages: 10000, outboxKB: 10240, policy: 'stop-consuming' as const, drainRate: 5000, maxInflight: 1000 });

export interface EngineOptions {
  rules: RuleSet;
  source: MqttConnection;
  target: MqttConnection;
  outbox?: { maxMessages?: number; maxBytes?: number; policy?: OverflowPolicy; ttlMs?: number; file?: string };
  /** Unacknowledged publishes per direction before messages wait in the outbox. */
  maxInflight?: number;
  /** Pace of the backlog after a target outage (messages/s; 0 = only bounded by maxInflight). Never live traffic. */
  drainRate?: number;
  loopWindowMs?: number;
  /** Forward every n-th forwarded message to `onSample` (0 = off). */
  sampleEvery?: number;
  onSample?: (sample: ForwardSample) => void;
  onWarn?: (text: string) => void;
}

export interface ForwardSample {
  rule: number;
  from: Side;
  topic: string;
  target: string;
  payload: string;
  qos: 0 | 1 | 2;
  retain: boolean;
}

export interface BridgeStats {
  rules: RuleCounters[];
  totals: ReturnType<Counters['totals']>;
  unmatched: number;
  retainedSkipped: number;
  /** Target re-sends after a reconnect (possible duplicates at the receiver: at-least-once). */
  resent: number;
  /**
   * A sending broker resumed our persistent session and redelivers what we had not acknowledged:
   * `returned` waiting messages were taken out of the outbox (the redelivered copy goes instead: no duplicate),
   * `inflight` were already handed to the other side (each can arrive twice). Duplicates at the receiver are at
   * most `resent` + `redelivery.inflight`.
   */
  redelivery: { returned: number; inflight: number };
  /** Per direction: waiting messages and bytes, publishes in flight, and whether a backlog drains at drainRate. */
  queue: { toTarget: QueueStats; toSource: QueueStats };
  connections: { source: string; target: string };
}

export interface QueueStats {
  depth: number;
  bytes: number;
  inflight: number;
  /** Draining a backlog left by an outage at `drainRate` (live traffic is never paced). */
  pacing: boolean;
}

interface Lane {
  to: MqttConnection;
  /** The connection messages for this lane come from (paused by `stop-consuming`). */
  from: MqttConnection;
  paused: boolean;
  toSide: Side;
  outbox: Outbox;
  inflight: number;
  /** In flight and its source message not yet acknowledged (the source redelivers it if its session resumes). */
  inflightHeld: number;
  /** Draining a backlog left by an outage (paced by drainRate) until the outbox is empty again. */
  catchUp: boolean;
  heldEpoch: number;
  /** Taken out of the outbox when the sending connection dropped: the resumed session decides (resumeSession). */
  parked: OutboxEntry[];
  /** In flight with a pending source acknowledgement when the sending connection dropped. */
  lostInflight: number;
  tokens: number;
  lastRefill: number;
  timer?: NodeJS.Timeout;
}

/** Several publishes from one incoming message (adapters): acknowledge once all are done. */
function countdown(n: number, ack: Ack): Ack {
  let left = n;
  return () => {
    if (--left === 0) ack();
  };
}

const SIDE_ID: Record<Side, number> = { source: 1, target: 2 };
const REPLAY_WINDOW_MS = 10_000;
const RETAINED_TOPICS = 10_000;
/** At most this many warnings per minute are logged; the rest are counted and summarised. */
const WARNINGS_PER_MINUTE = 10;

export class BridgeEngine {
  readonly counters: Counters;
  retainedSkipped = 0;
  resent = 0;
  readonly redelivery = { returned: 0, inflight: 0 };
  private readonly set: RuleSet;
  private readonly lanes: Record<Side, Lane>;
  private readonly conns: Record<Side, MqttConnection>;
  private readonly loopGuard: boolean;
  private readonly published: LoopBreaker;
  private readonly received: LoopBreaker;
  private readonly retained = new Map<string, number>();
  private readonly replayUntil: Record<Side, number> = { source: 0, target: 0 };
  private readonly unsubscribe: (() => Promise<void>)[] = [];
  private readonly listeners: [MqttConnection, string, (...a: any[]) => void][] = [];
  private readonly lastPacket: Record<Side, IPublishPacket | undefined> = { source: undefined, target: undefined };
  private readonly maxInflight: number;
  private readonly drainRate: number;
  private readonly ttlMs: number;
  private readonly lowWater: number;
  private sampleCount = 0;
  private readonly sampleEvery: number;
  private policy: OverflowPolicy = 'stop-consuming';
  private pruneTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: EngineOptions) {
    this.set = options.rules;
    this.counters = new Counters(this.set.names);
    this.conns = { source: options.source, target: options.target };
    this.maxInflight = options.maxInflight ?? 1000;
    this.sampleEvery = options.onSample ? (options.sampleEvery ?? 0) : 0;
    this.drainRate = options.drainRate ?? 5000;
    this.ttlMs = options.outbox?.ttlMs ?? 0;
    this.lowWater = Math.floor((options.outbox?.maxMessages ?? 10000) / 2);
    const windowMs = options.loopWindowMs ?? 10000;
    this.published = new LoopBreaker(windowMs);
    this.received = new LoopBreaker(windowMs);
    const sides = new Set(this.set.rules.map((r) => r.from));
    this.loopGuard = sides.size === 2 && windowMs > 0;
    const lane = (to: Side, file?: string): Lane => ({
      to: this.conns[to],
      from: this.conns[to === 'target' ? 'source' : 'target'],
      paused: false,
      toSide: to,
      inflight: 0,
      inflightHeld: 0,
      catchUp: false,
      heldEpoch: 0,
      parked: [],
      lostInflight: 0,
      tokens: 0,
      lastRefill: Date.now(),
      outbox: new Outbox({
        maxMessages: options.outbox?.maxMessages ?? 10000,
        maxBytes: options.outbox?.maxBytes ?? 10 * 1024 * 1024,
        policy: (this.policy = options.outbox?.policy ?? 'stop-consuming'),
        file,
        onDrop: (e, reason) => {
          this.counters.drop(e.rule, reason);
          this.lanes?.[to]?.outbox.done(e);
          e.ack?.();
        },
      }),
    });
    const file = options.outbox?.file;
    this.lanes = { target: lane('target', file ? `${file}.to-target.jsonl` : undefined), source: lane('source', file && sides.has('target') ? `${file}.to-source.jsonl` : undefined) };
    if (this.loopGuard) this.pruneTimer = setInterval(() => (this.published.prune(), this.received.prune()), Math.max(1000, windowMs)).unref();
  }

  /** Subscribe every rule's filter on its side; resolves once subscribed (or queued for the next connect). */
  async start(): Promise<void> {
    for (const side of ['source', 'target'] as Side[]) {
      const conn = this.conns[side];
      const other: Side = side === 'source' ? 'target' : 'source';
      const onConnected = () => {
        this.replayUntil[side] = Date.now() + REPLAY_WINDOW_MS;
        // What waits for this side can go now: a backlog left by the outage, paced by drainRate.
        const lane = this.lanes[side];
        if (lane.outbox.length) this.startCatchUp(lane);
        this.pump(lane);
      };
      this.on(conn, 'connected', onConnected);
      // A new client of the sending side reads again (see pauseIncoming); the next push into a full outbox
      // pauses it again. A resumed session redelivers what we had not acknowledged: see parkHeld.
      this.on(conn, 'session', (present: boolean) => {
        this.lanes[other].paused = false;
        this.resumeSession(this.lanes[other], present);
      });
      this.on(conn, 'disconnected', () => this.parkHeld(this.lanes[other]));
      this.on(conn, 'refused', () => this.parkHeld(this.lanes[other]));
      this.on(conn, 'requeued', (n: number) => (this.resent += n));
      const handler = (topic: string, payload: Buffer, packet: IPublishPacket, ack?: Ack) => this.handle(side, topic, payload, packet, ack);
      const seen = new Set<string>();
      for (const rule of this.set.rules) {
        if (rule.from !== side || seen.has(rule.subscription)) continue;
        seen.add(rule.subscription);
        const qos = Math.max(...this.set.rules.filter((r) => r.from === side && r.subscription === rule.subscription).map(subscribeQos)) as 0 | 1;
        const unsubscribe = await conn.subscribe(rule.subscription, qos, handler, { manualAck: true, nl: true, rap: true, rh: 0 });
        // Closed while subscribing (a quick redeploy): close() did not see this one.
        if (this.closed) return void (await unsubscribe().catch(() => undefined));
        this.unsubscribe.push(unsubscribe);
      }
    }
    for (const l of Object.values(this.lanes)) this.pump(l);
  }

  private on(conn: MqttConnection, event: string, fn: (...a: any[]) => void): void {
    if (this.closed) return;
    conn.on(event, fn);
    this.listeners.push([conn, event, fn]);
  }

  /** One incoming message on `side`. */
  handle(side: Side, topic: string, payload: Buffer, packet: IPublishPacket, ack?: Ack): void {
    if (this.closed) return;
    const done = ack ?? noop;
    // One PUBLISH matching several of our filters is dispatched once per filter: handle it once.
    if (this.lastPacket[side] === packet) return done();
    this.lastPacket[side] = packet;
    const levels = topic.split('/');
    const m = findRule(this.set, side, topic, levels);
    if (!m) {
      this.counters.unmatched++;
      return done();
    }
    const rule = m.rule;
    const c = this.counters.rules[rule.index];
    c.matched++;
    if (packet.dup) c.duplicates++;
    const sideId = SIDE_ID[side];
    const to: Side = side === 'source' ? 'target' : 'source';
    if (this.loopGuard) {
      const key = contentHash(sideId, topic, payload);
      if (this.published.isLoop(key)) {
        this.counters.drop(rule.index, 'loop');
        return done();
      }
      this.received.remember(key);
    }
    if (packet.retain && Date.now() < this.replayUntil[side]) {
      const key = `${sideId}${topic}`;
      const h = contentHash(0, '', payload);
      if (this.retained.get(key) === h) {
        this.retainedSkipped++;
        return done();
      }
      this.retained.delete(key);
      this.retained.set(key, h);
      if (this.retained.size > RETAINED_TOPICS) this.retained.delete(this.retained.keys().next().value as string);
    }
    const qos = applyQos(rule.qos, packet.qos);
    const retain = rule.retain === 'keep' && packet.retain;
    const expires = this.ttlMs > 0 ? Date.now() + this.ttlMs : 0;
    // Unacknowledged at the source until forwarded: a resumed source session would redeliver it.
    const held = ack !== undefined && packet.qos > 0;
    if (rule.adapter === 'none') return this.forward(rule, c, side, to, topic, levels, m.vars, payload, qos, retain, expires, done, held);
    const r = adapt(rule.adapter, rule.adapterArg, payload, topic);
    if (r.ignored) this.counters.drop(rule.index, 'skipped', r.ignored);
    if (r.skipped) {
      this.counters.drop(rule.index, 'error', r.skipped);
      if (r.reason) this.warn(`rule ${rule.index + 1}: ${r.reason} (${topic})`);
    }
    const items = r.items;
    if (!items.length) return done();
    const finish = items.length > 1 ? countdown(items.length, done) : done;
    for (const item of items) {
      const vars = item.vars ? { ...m.vars, ...item.vars } : m.vars;
      this.forward(rule, c, side, to, topic, levels, vars, item.payload, qos, retain, expires, finish, held);
    }
  }

  private readonly unmappedScratch: string[] = [];

  /** One outgoing publish of a matched message: render, lookups, loop check, sample, send. */
  private forward(rule: CompiledRule, c: RuleCounters, side: Side, to: Side, topic: string, levels: string[], vars: Record<string, string>, payload: Buffer, qos: 0 | 1 | 2, retain: boolean, expires: number, finish: Ack, held: boolean): void {
    const unmapped = this.unmappedScratch;
    unmapped.length = 0;
    const target = renderTopic(rule, this.set, vars, topic, levels, unmapped);
    if (typeof target !== 'string') {
      this.counters.drop(rule.index, 'error');
      this.warn(`rule ${rule.index + 1}: ${target.error}`);
      return finish();
    }
    if (unmapped.length) {
      c.unmappedIds += unmapped.length;
      if (rule.unmapped === 'drop') {
        this.counters.drop(rule.index, 'unmapped');
        return finish();
      }
    }
    if (this.loopGuard) {
      const key = contentHash(SIDE_ID[to], target, payload);
      if (this.received.has(key)) {
        this.counters.drop(rule.index, 'loop');
        return finish();
      }
      this.published.remember(key);
    }
    if (this.sampleEvery && ++this.sampleCount % this.sampleEvery === 0) {
      this.options.onSample?.({ rule: rule.index, from: side, topic, target, payload: payload.toString('utf8'), qos, retain });
    }
    this.send(this.lanes[to], { topic: target, payload, qos, retain, rule: rule.index, expires, ack: finish, held });
  }

  private send(lane: Lane, e: OutboxEntry): void {
    if (lane.outbox.length === 0 && lane.to.state === 'connected' && lane.inflight < this.maxInflight) this.publish(lane, e);
    else if (lane.outbox.push(e)) {
      // stop-consuming: stop reading from the sending broker while the outbox is full (it keeps the backlog).
      // Asked on every push into a full outbox, not once: a reconnect of the sending side forgets the pause.
      if (this.policy === 'stop-consuming' && lane.outbox.full) {
        lane.paused = true;
        lane.from.pauseIncoming();
      }
      this.schedule(lane);
    }
  }

  /** Pace the outbox (drainRate) until it is empty: what waited during an outage, and what the source held. */
  private startCatchUp(lane: Lane): void {
    if (this.drainRate <= 0 || lane.catchUp) return;
    lane.catchUp = true;
    lane.tokens = 0;
    lane.lastRefill = Date.now();
  }

  /**
   * The sending connection dropped: the acknowledgements of what we read on it can no longer be sent, so its
   * broker will redeliver those messages if it keeps our session. Forwarding the waiting copies as well would
   * duplicate each, so they leave the outbox until the next CONNACK says whether the session was kept
   * (resumeSession). Those already handed to the other side cannot be called back: each can arrive twice.
   */
  private parkHeld(lane: Lane): void {
    for (const e of lane.outbox.removeWhere((x) => x.held === true)) lane.parked.push(e);
    lane.lostInflight += lane.inflightHeld;
    lane.inflightHeld = 0;
    lane.heldEpoch++; // the ones in flight now must not count again when they complete
  }

  /**
   * Session kept (`present`): the broker redelivers every parked message, the parked copies are dropped (counted
   * as `redelivery.returned`, not as drops) and the in-flight ones are possible duplicates. Session lost (a broker
   * without persistence, a clean session): the parked messages are the only copies and go back to the head of the
   * outbox, in order.
   */
  private resumeSession(lane: Lane, present: boolean): void {
    const parked = lane.parked;
    lane.parked = [];
    if (present) {
      for (const e of parked) lane.outbox.done(e);
      this.redelivery.returned += parked.length;
      this.redelivery.inflight += lane.lostInflight;
    } else {
      lane.outbox.prepend(parked);
    }
    lane.lostInflight = 0;
    if (lane.outbox.length) this.schedule(lane);
  }

  private publish(lane: Lane, e: InFlight): void {
    lane.inflight++;
    e.handedOver = true;
    if (e.held) {
      lane.inflightHeld++;
      e.epoch = lane.heldEpoch;
    }
    e.lane = lane;
    e.engine = this;
    // Callback style with shared option objects: no Promise, closure or options object per message.
    lane.to.publishCb(e.topic, e.payload, PUBLISH_OPTIONS[e.qos][e.retain ? 1 : 0], published, e);
  }

  /** A publish of `lane` completed (target acknowledged, or failed). */
  settled(lane: Lane, e: InFlight, err?: Error): void {
    lane.inflight--;
    if (e.held && e.epoch === lane.heldEpoch) lane.inflightHeld--;
    if (err) {
      if (this.closed || err instanceof ConnectionClosedError) return; // closing: the source redelivers unacknowledged messages
      this.counters.drop(e.rule, 'error');
      this.warn(`publish to ${e.topic} failed: ${err.message}`);
    } else {
      const c = this.counters.rules[e.rule];
      if (c) c.forwarded++;
    }
    lane.outbox.done(e);
    e.ack?.();
    if (!err && lane.outbox.length) this.pump(lane);
  }

  /** Drains the outbox in order while the target is connected, within the in-flight window and the rate. */
  private pump(lane: Lane): void {
    if (this.closed) return;
    const now = Date.now();
    const paced = lane.catchUp && this.drainRate > 0;
    if (paced) {
      lane.tokens = Math.min(Math.max(1, this.drainRate / 10), lane.tokens + ((now - lane.lastRefill) * this.drainRate) / 1000);
      lane.lastRefill = now;
    }
    while (lane.outbox.length && lane.to.state === 'connected' && lane.inflight < this.maxInflight) {
      if (paced) {
        if (lane.tokens < 1) break;
        lane.tokens--;
      }
      const e = lane.outbox.shift();
      if (!e) break;
      this.publish(lane, e);
    }
    // The backlog is through: live traffic flows at full speed again.
    if (!lane.outbox.length) lane.catchUp = false;
    if (lane.paused && lane.outbox.length <= this.lowWater) {
      lane.paused = false;
      lane.from.resumeIncoming();
    }
    if (lane.outbox.length) this.schedule(lane);
  }

  private schedule(lane: Lane): void {
    if (lane.timer || this.closed) return;
    // While the target is down, only TTL expiry needs a look now and then; a 'connected' event pumps at once.
    const delay = lane.to.state === 'connected' ? 20 : 1000;
    lane.timer = setTimeout(() => {
      lane.timer = undefined;
      if (lane.to.state === 'connected') this.pump(lane);
      else if (this.ttlMs > 0) this.expireHead(lane);
      if (lane.outbox.length) this.schedule(lane);
    }, delay);
  }

  /** While offline: drop expired entries from the head (TTL is per message, the queue is FIFO). */
  private expireHead(lane: Lane): void {
    const e = lane.outbox.shift();
    if (e) lane.outbox.unshift(e);
  }

  private lastWarn = '';
  private warnWindowStart = 0;
  private warnedInWindow = 0;
  private suppressed = 0;
  /** Repeats of the last text are dropped; at most WARNINGS_PER_MINUTE reach the log, the rest are counted. */
  private warn(text: string): void {
    if (text === this.lastWarn) return;
    this.lastWarn = text;
    const now = Date.now();
    if (now - this.warnWindowStart >= 60_000) {
      if (this.suppressed) this.options.onWarn?.(`${this.suppressed} more warning(s) in the last minute were not logged (see the stats output)`);
      this.warnWindowStart = now;
      this.warnedInWindow = 0;
      this.suppressed = 0;
    }
    if (this.warnedInWindow >= WARNINGS_PER_MINUTE) {
      this.suppressed++;
      return;
    }
    this.warnedInWindow++;
    this.options.onWarn?.(text);
  }

  stats(): BridgeStats {
    const q = (l: Lane): QueueStats => ({ depth: l.outbox.length + l.parked.length, bytes: l.outbox.bytes, inflight: l.inflight, pacing: l.catchUp });
    return {
      rules: this.counters.snapshot(),
      totals: this.counters.totals(),
      unmatched: this.counters.unmatched,
      retainedSkipped: this.retainedSkipped,
      resent: this.resent,
      redelivery: { ...this.redelivery },
      queue: { toTarget: q(this.lanes.target), toSource: q(this.lanes.source) },
      connections: { source: this.conns.source.state, target: this.conns.target.state },
    };
  }

  /**
   * Removes subscriptions, listeners and timers; the journal is flushed and closed (entries stay for the next
   * start). Without a journal, what still waits is gone: said in one warning (QoS 1 messages are not acknowledged,
   * so a persistent source session redelivers them).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pruneTimer);
    let discarded = 0;
    for (const l of Object.values(this.lanes)) {
      if (l.paused) l.from.resumeIncoming();
      clearTimeout(l.timer);
      l.timer = undefined;
      if (!this.options.outbox?.file) discarded += l.outbox.length + l.parked.length;
      l.outbox.close();
    }
    if (discarded) this.options.onWarn?.(`${discarded} message(s) waiting in the outbox were discarded when the bridge stopped (keep the outbox on disk to keep them)`);
    for (const [conn, event, fn] of this.listeners) conn.off(event, fn);
    this.listeners.length = 0;
    await Promise.all(this.unsubscribe.splice(0).map((u) => u().catch(() => undefined)));
    this.published.clear();
    this.received.clear();
    this.retained.clear();
  }
}

function noop(): void {}

/** An entry handed to a connection: it carries its lane and engine so that one shared callback completes it. */
interface InFlight extends OutboxEntry {
  lane?: Lane;
  engine?: BridgeEngine;
  /** `heldEpoch` of its lane when handed over (a resumed source session starts a new one). */
  epoch?: number;
}

function published(e: InFlight, err?: Error): void {
  e.engine!.settled(e.lane!, e, err);
}

const PUBLISH_OPTIONS: Record<0 | 1 | 2, [{ qos: 0 | 1 | 2; retain: boolean }, { qos: 0 | 1 | 2; retain: boolean }]> = {
  0: [Object.freeze({ qos: 0, retain: false }), Object.freeze({ qos: 0, retain: true })],
  1: [Object.freeze({ qos: 1, retain: false }), Object.freeze({ qos: 1, retain: true })],
  2: [Object.freeze({ qos: 2, retain: false }), Object.freeze({ qos: 2, retain: true })],
} as never;
