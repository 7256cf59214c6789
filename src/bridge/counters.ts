/** Per-rule counters of the bridge, reported on the node's observation output. */
import type { DropReason } from './rules';

export interface RuleCounters {
  rule: number;
  name: string;
  matched: number;
  forwarded: number;
  /** Duplicates: messages the source delivered again (DUP flag) after we had already forwarded them. */
  duplicates: number;
  /** Lookup misses (also counted when the rule forwards them unchanged). */
  unmappedIds: number;
  dropped: Record<Exclude<DropReason, 'no-rule'>, number>;
}

export function emptyCounters(rule: number, name: string): RuleCounters {
  return { rule, name, matched: 0, forwarded: 0, duplicates: 0, unmappedIds: 0, dropped: { unmapped: 0, loop: 0, expired: 0, 'queue-full': 0, error: 0, skipped: 0 } };
}

export class Counters {
  readonly rules: RuleCounters[];
  /** Messages that matched no rule (overlapping subscriptions of other users of the connection). */
  unmatched = 0;
  constructor(names: string[]) {
    this.rules = names.map((n, i) => emptyCounters(i, n));
  }
  drop(rule: number, reason: Exclude<DropReason, 'no-rule'>, n = 1): void {
    const r = this.rules[rule];
    if (r) r.dropped[reason] += n;
  }
  totals(): Omit<RuleCounters, 'rule' | 'name'> {
    const t = emptyCounters(-1, '');
    for (const r of this.rules) {
      t.matched += r.matched;
      t.forwarded += r.forwarded;
      t.duplicates += r.duplicates;
      t.unmappedIds += r.unmappedIds;
      for (const k of Object.keys(t.dropped) as (keyof RuleCounters['dropped'])[]) t.dropped[k] += r.dropped[k];
    }
    const { rule: _r, name: _n, ...rest } = t;
    return rest;
  }
  snapshot(): RuleCounters[] {
    return this.rules.map((r) => ({ ...r, dropped: { ...r.dropped } }));
  }
}
