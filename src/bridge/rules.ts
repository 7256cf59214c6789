/**
 * Bridge rules: parse once, match many. Pure TypeScript (no Node-RED, no sockets) so the runtime node and the
 * editor's live preview (through an admin endpoint) use ONE implementation.
 *
 * Grammar
 *   source filter  levels separated by `/`; `+name` captures one level, `#name` (last) captures the rest;
 *                  bare `+`/`#` match without a name; a `$share/<group>/` prefix is kept for the subscription
 *                  (scale-out) and ignored for matching.
 *   target         text with placeholders `{name}` (a capture), `{N}` (level N of the source topic, 1-based),
 *                  `{#}` (the whole source topic) and `{name|t1|t2…}` with transforms `upper`, `lower`,
 *                  `lookup:<table>` (a table maps a captured id to another, e.g. a serial to a Datacake UUID).
 *                  Adapters add their own names (`smartrest-to-fields` sets `{field}`, `{fragment}`, `{series}`).
 *   direction      `out` source→target, `in` target→source, `both` (the reverse is derived from the same rule:
 *                  template levels that are a whole placeholder become captures; lookups are inverted;
 *                  `upper`/`lower` are not undone).
 *   qos            `{mode:'pass'}` (keep, default), `{mode:'fixed', qos}`, `{mode:'cap', qos}` (never upgrade).
 *   retain         `strip` (default: a bridged message is live data, replays must not become sticky) or `keep`.
 */
import { checkFilter, checkTopic, effectiveFilter } from '../mqtt/topic-match';

export type Direction = 'out' | 'in' | 'both';
/** Which connection a message arrived on. */
export type Side = 'source' | 'target';
export type QosPolicy = { mode: 'pass' } | { mode: 'fixed'; qos: 0 | 1 | 2 } | { mode: 'cap'; qos: 0 | 1 | 2 };
export type RetainPolicy = 'strip' | 'keep';
export type AdapterName = 'none' | 'smartrest-to-fields' | 'json-path';
export type LookupTables = Record<string, Record<string, string>>;

/** A rule as stored by the editor (all optional except filter and target). */
export interface RuleConfig {
  name?: string;
  direction?: Direction;
  filter: string;
  target: string;
  qos?: QosPolicy | 'pass' | 0 | 1 | 2 | string;
  /** With `qos` as a number: `fixed` (default) or `cap`. */
  qosMode?: 'fixed' | 'cap' | 'pass';
  retain?: RetainPolicy;
  /** What to do when a lookup has no entry for an id: drop (default, counted as `unmapped`) or forward unchanged. */
  unmapped?: 'drop' | 'pass';
  adapter?: AdapterName;
  /** Argument of the adapter (`json-path`: the path, e.g. `data.temp` or `values[0].v`). */
  adapterArg?: string;
}

/**
 * Why a message (or one item an adapter made of it) was not forwarded. `skipped`: the adapter has nothing to
 * forward for it by design (e.g. an event line for `smartrest-to-fields`), not an error and not logged.
 */
export type DropReason = 'unmapped' | 'loop' | 'expired' | 'queue-full' | 'error' | 'skipped' | 'no-rule';

type Transform = { kind: 'upper' } | { kind: 'lower' } | { kind: 'lookup'; table: string; inverse: boolean };
type Piece = { kind: 'text'; text: string } | { kind: 'var'; name: string; transforms: Transform[] };

interface Level {
  kind: 'literal' | 'one' | 'rest';
  text: string;
  name?: string;
}

/** One direction of a rule, compiled. */
export interface CompiledRule {
  /** Index in the rule list (counters are per rule). */
  index: number;
  name: string;
  /** Where messages come from. */
  from: Side;
  /** The filter subscribed on `from` (with `$share/` prefix and without capture names). */
  subscription: string;
  levels: Level[];
  pieces: Piece[];
  qos: QosPolicy;
  retain: RetainPolicy;
  unmapped: 'drop' | 'pass';
  adapter: AdapterName;
  adapterArg: string;
  /** True for the reverse half of a `both` rule (and for `both` rules' forward half): loop breaking applies. */
  bidirectional: boolean;
  /**
   * Whether a rendered topic must be checked for `+`, `#` and NUL: only when values come from a payload
   * (adapter variables). Captures come from a valid received topic and lookup values are checked when compiling.
   */
  checkOutput: boolean;
}

export class RuleError extends Error {
  constructor(
    message: string,
    readonly rule?: number,
  ) {
    super(rule === undefined ? message : `rule ${rule + 1}: ${message}`);
    this.name = 'RuleError';
  }
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

function parseFilter(filter: string, index: number): { subscription: string; levels: Level[] } {
  const f = (filter ?? '').trim();
  if (!f) throw new RuleError('the source filter is empty', index);
  const share = f.startsWith('$share/') ? f.slice(0, f.length - effectiveFilter(f).length) : '';
  const body = effectiveFilter(f);
  const levels: Level[] = body.split('/').map((l, i, all) => {
    if (l.startsWith('+')) return { kind: 'one', text: l, name: l.slice(1) || undefined };
    if (l.startsWith('#')) {
      if (i !== all.length - 1) throw new RuleError(`"#" must be the last level of ${JSON.stringify(filter)}`, index);
      return { kind: 'rest', text: l, name: l.slice(1) || undefined };
    }
    if (l.includes('+') || l.includes('#')) throw new RuleError(`wildcards must fill a whole level in ${JSON.stringify(filter)}`, index);
    return { kind: 'literal', text: l };
  });
  for (const l of levels) if (l.name && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(l.name)) throw new RuleError(`capture name ${JSON.stringify(l.name)} must be letters, digits and _`, index);
  const names = levels.filter((l) => l.name).map((l) => l.name!);
  if (new Set(names).size !== names.length) throw new RuleError(`a capture name is used twice in ${JSON.stringify(filter)}`, index);
  const subscription = share + levels.map((l) => (l.kind === 'one' ? '+' : l.kind === 'rest' ? '#' : l.text)).join('/');
  const bad = checkFilter(subscription);
  if (bad) throw new RuleError(bad, index);
  return { subscription, levels };
}

function parseTemplate(template: string, index: number, tables: LookupTables): Piece[] {
  const t = (template ?? '').trim();
  if (!t) throw new RuleError('the target template is empty', index);
  const pieces: Piece[] = [];
  let last = 0;
  for (const m of t.matchAll(PLACEHOLDER)) {
    if (m.index! > last) pieces.push({ kind: 'text', text: t.slice(last, m.index) });
    const [name, ...rest] = m[1].split('|').map((s) => s.trim());
    if (!name) throw new RuleError(`empty placeholder in ${JSON.stringify(template)}`, index);
    const transforms: Transform[] = rest.map((tr) => {
      if (tr === 'upper') return { kind: 'upper' };
      if (tr === 'lower') return { kind: 'lower' };
      if (tr.startsWith('lookup:')) {
        const table = tr.slice(7).trim();
        if (!tables[table]) throw new RuleError(`lookup table ${JSON.stringify(table)} does not exist`, index);
        return { kind: 'lookup', table, inverse: false };
      }
      throw new RuleError(`unknown transform ${JSON.stringify(tr)} (use upper, lower or lookup:<table>)`, index);
    });
    pieces.push({ kind: 'var', name, transforms });
    last = m.index! + m[0].length;
  }
  if (last < t.length) pieces.push({ kind: 'text', text: t.slice(last) });
  for (const p of pieces) if (p.kind === 'text' && /[{}+#]/.test(p.text)) throw new RuleError(`the target ${JSON.stringify(template)} may not contain +, # or unmatched braces`, index);
  return pieces;
}

function parseQos(rule: RuleConfig, index: number): QosPolicy {
  const q = rule.qos;
  if (q === undefined || q === '' || q === 'pass') return { mode: 'pass' };
  if (typeof q === 'object') return q;
  const n = Number(q);
  if (n !== 0 && n !== 1 && n !== 2) throw new RuleError(`QoS ${JSON.stringify(q)} must be pass, 0, 1 or 2`, index);
  if (rule.qosMode === 'pass') return { mode: 'pass' };
  return { mode: rule.qosMode === 'cap' ? 'cap' : 'fixed', qos: n };
}

/** The reverse half of a `both` rule: the template becomes the filter, the filter the template. */
function reverse(forward: CompiledRule, index: number): CompiledRule {
  const textOf = (p: Piece) => (p.kind === 'text' ? p.text : null);
  // Split the template into levels; each level must be literal text or exactly one placeholder.
  const levels: Level[] = [];
  let current: Piece[] = [];
  const flush = () => {
    if (current.length === 1 && current[0].kind === 'var') {
      const v = current[0];
      if (/^\d+$/.test(v.name) || v.name === '#') throw new RuleError('a rule with direction "both" can only use named placeholders', index);
      const src = forward.levels.find((l) => l.name === v.name);
      if (!src) throw new RuleError(`placeholder {${v.name}} has no capture in the source filter`, index);
      levels.push({ kind: src.kind === 'rest' ? 'rest' : 'one', text: src.kind === 'rest' ? '#' : '+', name: v.name });
    } else if (current.every((p) => p.kind === 'text')) {
      levels.push({ kind: 'literal', text: current.map(textOf).join('') });
    } else throw new RuleError('a rule with direction "both" needs every target level to be literal or one whole placeholder', index);
    current = [];
  };
  for (const p of forward.pieces) {
    if (p.kind === 'var') {
      current.push(p);
      continue;
    }
    const parts = p.text.split('/');
    parts.forEach((part, i) => {
      if (i > 0) flush();
      if (part) current.push({ kind: 'text', text: part });
    });
  }
  flush();
  const restAt = levels.findIndex((l) => l.kind === 'rest');
  if (restAt >= 0 && restAt !== levels.length - 1) throw new RuleError('a multi-level capture must be the last level of the target for direction "both"', index);
  const transformsOf = new Map<string, Transform[]>();
  for (const p of forward.pieces) if (p.kind === 'var') transformsOf.set(p.name, p.transforms);
  const pieces: Piece[] = [];
  forward.levels.forEach((l, i) => {
    if (i > 0) pieces.push({ kind: 'text', text: '/' });
    if (l.kind === 'literal') pieces.push({ kind: 'text', text: l.text });
    else if (!l.name) throw new RuleError('a rule with direction "both" needs every wildcard of the filter named (+name, #name)', index);
    else {
      // Lookups are inverted; upper/lower cannot be undone and are left out.
      const inv = (transformsOf.get(l.name) ?? []).filter((t) => t.kind === 'lookup').map((t) => ({ ...t, inverse: true }) as Transform).reverse();
      pieces.push({ kind: 'var', name: l.name, transforms: inv });
    }
  });
  const subscription = levels.map((l) => (l.kind === 'one' ? '+' : l.kind === 'rest' ? '#' : l.text)).join('/');
  const bad = checkFilter(subscription);
  if (bad) throw new RuleError(bad, index);
  // Inverted lookups give table keys, which are not checked as topic levels: check what the reverse half renders.
  return { ...forward, from: forward.from === 'source' ? 'target' : 'source', subscription, levels, pieces, bidirectional: true, checkOutput: true };
}

/** The compiled rule set: both halves of every rule, in order, plus the lookup tables. */
export interface RuleSet {
  rules: CompiledRule[];
  tables: LookupTables;
  /** Inverted tables (for reverse halves), built once. */
  inverse: LookupTables;
  /** Number of configured rules (counters are per configured rule). */
  count: number;
  names: string[];
}

export function compileRules(configs: RuleConfig[], tables: LookupTables = {}): RuleSet {
  for (const [name, table] of Object.entries(tables)) {
    for (const [k, v] of Object.entries(table ?? {})) {
      if (typeof v !== 'string' || !v || /[+#/\u0000]/.test(v)) throw new RuleError(`lookup table ${JSON.stringify(name)}: the value for ${JSON.stringify(k)} must be a non-empty topic level (no "+", "#", "/")`);
    }
  }
  const rules: CompiledRule[] = [];
  const names: string[] = [];
  configs.forEach((rc, index) => {
    const direction: Direction = rc.direction ?? 'out';
    if (!['out', 'in', 'both'].includes(direction)) throw new RuleError(`direction ${JSON.stringify(direction)} must be out, in or both`, index);
    const { subscription, levels } = parseFilter(rc.filter, index);
    const pieces = parseTemplate(rc.target, index, tables);
    for (const p of pieces) {
      if (p.kind === 'var' && /^\d+$/.test(p.name)) {
        const n = Number(p.name);
        const fixed = !levels.some((l) => l.kind === 'rest');
        if (n < 1 || (fixed && n > levels.length)) throw new RuleError(`placeholder {${p.name}}: the source filter has levels 1 to ${levels.length}`, index);
        continue;
      }
      if (p.kind !== 'var' || p.name === '#') continue;
      if (!levels.some((l) => l.name === p.name) && !adapterVars(rc.adapter ?? 'none').includes(p.name)) throw new RuleError(`placeholder {${p.name}} has no capture in the source filter`, index);
    }
    const adapter = rc.adapter ?? 'none';
    if (!['none', 'smartrest-to-fields', 'json-path'].includes(adapter)) throw new RuleError(`unknown adapter ${JSON.stringify(adapter)}`, index);
    if (adapter === 'json-path' && !(rc.adapterArg ?? '').trim()) throw new RuleError('the json-path adapter needs a path', index);
    const name = rc.name?.trim() || `${rc.filter} → ${rc.target}`;
    names.push(name);
    const forward: CompiledRule = {
      index,
      name,
      from: direction === 'in' ? 'target' : 'source',
      subscription,
      levels,
      pieces,
      qos: parseQos(rc, index),
      retain: rc.retain === 'keep' ? 'keep' : 'strip',
      unmapped: rc.unmapped === 'pass' ? 'pass' : 'drop',
      adapter,
      adapterArg: (rc.adapterArg ?? '').trim(),
      bidirectional: direction === 'both',
      checkOutput: adapter !== 'none',
    };
    rules.push(forward);
    if (direction === 'both') {
      if (adapter !== 'none') throw new RuleError('a payload adapter only works one way: use direction out or in', index);
      // The reverse half maps back through the inverted table: two ids mapped to one value could not be told apart.
      for (const p of pieces) {
        for (const t of p.kind === 'var' ? p.transforms : []) {
          if (t.kind !== 'lookup') continue;
          const values = Object.values(tables[t.table]);
          if (new Set(values).size !== values.length) throw new RuleError(`lookup table ${JSON.stringify(t.table)} maps two ids to the same value, so direction "both" cannot map back`, index);
        }
      }
      rules.push(reverse(forward, index));
    }
  });
  const inverse: LookupTables = {};
  for (const [name, table] of Object.entries(tables)) {
    const inv: Record<string, string> = {};
    for (const [k, v] of Object.entries(table)) inv[v] = k;
    inverse[name] = inv;
  }
  return { rules, tables, inverse, count: configs.length, names };
}

export function adapterVars(adapter: AdapterName | string): string[] {
  return adapter === 'smartrest-to-fields' ? ['field', 'fragment', 'series'] : [];
}

/** Captured values of a matching topic, or undefined. `levels` of the topic are passed in (split once). */
export function matchLevels(rule: CompiledRule, topicLevels: string[]): Record<string, string> | undefined {
  const lv = rule.levels;
  const vars: Record<string, string> = {};
  for (let i = 0; i < lv.length; i++) {
    const l = lv[i];
    if (l.kind === 'rest') {
      if (i === 0 && topicLevels[0]?.startsWith('$')) return undefined;
      if (l.name) vars[l.name] = topicLevels.slice(i).join('/');
      return vars;
    }
    if (i >= topicLevels.length) return undefined;
    const t = topicLevels[i];
    if (l.kind === 'literal') {
      if (l.text !== t) return undefined;
    } else {
      if (i === 0 && t.startsWith('$')) return undefined;
      if (l.name) vars[l.name] = t;
    }
  }
  return topicLevels.length === lv.length ? vars : undefined;
}

export type RenderResult = { topic: string; unmapped: string[] } | { error: string };

/** Fill the template; `unmapped` lists ids a lookup table did not know (left unchanged in the topic). */
export function render(rule: CompiledRule, set: RuleSet, vars: Record<string, string>, topic: string, topicLevels: string[]): RenderResult {
  const unmapped: string[] = [];
  const r = renderTopic(rule, set, vars, topic, topicLevels, unmapped);
  return typeof r === 'string' ? { topic: r, unmapped } : r;
}

/**
 * `render` for the hot path: returns the topic (or `{error}`) and pushes ids a lookup did not know onto
 * `unmapped` (a reused array), so a forwarded message allocates nothing here but the topic string.
 */
export function renderTopic(rule: CompiledRule, set: RuleSet, vars: Record<string, string>, topic: string, topicLevels: string[], unmapped: string[]): string | { error: string } {
  let out = '';
  for (const p of rule.pieces) {
    if (p.kind === 'text') {
      out += p.text;
      continue;
    }
    let v: string | undefined;
    if (p.name === '#') v = topic;
    else if (p.name.charCodeAt(0) >= 48 && p.name.charCodeAt(0) <= 57) v = topicLevels[Number(p.name) - 1];
    else v = vars[p.name];
    if (v === undefined) return { error: `placeholder {${p.name}} has no value for ${topic}` };
    for (const t of p.transforms) {
      if (t.kind === 'upper') v = v.toUpperCase();
      else if (t.kind === 'lower') v = v.toLowerCase();
      else {
        const mapped: string | undefined = (t.inverse ? set.inverse : set.tables)[t.table]?.[v];
        if (mapped === undefined) unmapped.push(v);
        else v = mapped;
      }
    }
    out += v;
  }
  if (!out) return { error: `target topic for ${topic} is empty` };
  if (rule.checkOutput) {
    const bad = checkTopic(out);
    if (bad) return { error: `target topic ${JSON.stringify(out)}: ${bad}` };
  }
  return out;
}

export function applyQos(policy: QosPolicy, incoming: 0 | 1 | 2): 0 | 1 | 2 {
  if (policy.mode === 'pass') return incoming;
  if (policy.mode === 'fixed') return policy.qos;
  return incoming < policy.qos ? incoming : policy.qos;
}

/** QoS to subscribe with on the rule's `from` side: enough for the policy, never above 1 (QoS 1 end to end). */
export function subscribeQos(rule: CompiledRule): 0 | 1 {
  if (rule.qos.mode !== 'pass' && rule.qos.qos === 0) return 0;
  return 1;
}

export interface MatchResult {
  rule: CompiledRule;
  vars: Record<string, string>;
}

/** First rule (in order) listening on `side` whose filter matches `topic`. */
export function findRule(set: RuleSet, side: Side, topic: string, topicLevels = topic.split('/')): MatchResult | undefined {
  for (const rule of set.rules) {
    if (rule.from !== side) continue;
    const vars = matchLevels(rule, topicLevels);
    if (vars) return { rule, vars };
  }
  return undefined;
}

/** What the editor's live preview shows for a topic. */
export interface Preview {
  matched: boolean;
  rule?: number;
  ruleName?: string;
  direction?: string;
  target?: string;
  captures?: Record<string, string>;
  drop?: DropReason;
  reason?: string;
  unmapped?: string[];
  subscription?: string;
}

/** Preview: which rule matches `topic` arriving on `side`, and the target topic (or why it would be dropped). */
export function preview(set: RuleSet, side: Side, topic: string, payload?: string): Preview {
  const m = findRule(set, side, topic);
  if (!m) return { matched: false, drop: 'no-rule', reason: `no rule listens for ${topic} on the ${side} side` };
  const base: Preview = { matched: true, rule: m.rule.index, ruleName: m.rule.name, direction: m.rule.from === 'source' ? 'source → target' : 'target → source', captures: m.vars, subscription: m.rule.subscription };
  let vars = m.vars;
  if (m.rule.adapter === 'smartrest-to-fields') vars = { field: 'FIELD', fragment: 'fragment', series: 'series', ...vars };
  const r = render(m.rule, set, vars, topic, topic.split('/'));
  if ('error' in r) return { ...base, drop: 'error', reason: r.error };
  if (r.unmapped.length && m.rule.unmapped === 'drop') return { ...base, target: r.topic, drop: 'unmapped', unmapped: r.unmapped, reason: `no lookup entry for ${r.unmapped.join(', ')}` };
  void payload;
  return { ...base, target: r.topic, ...(r.unmapped.length ? { unmapped: r.unmapped } : {}) };
}
