/**
 * Response templates (`11,<msgId>,<base>,<condition>,<pattern…>`) applied to a JSON object, as the platform does
 * for request templates with `response=true` (reference §8.3): every template whose condition path exists fires;
 * each pattern (prefixed by base) gives one field, `[*]` on a list gives one field per element, an unresolved path
 * an empty field. Pure.
 */
import type { ResponseTemplate } from './custom';

/** Values at a JSON path (`a.b`, `a[0].b`, `list[*]`); empty when it does not resolve. */
export function pathValues(root: unknown, path: string): unknown[] {
  let current: unknown[] = [root];
  for (const part of path.split('.').filter(Boolean)) {
    const m = /^([^[\]]*)((?:\[(?:\d+|\*)\])*)$/.exec(part);
    if (!m) return [];
    const next: unknown[] = [];
    for (const v of current) {
      let vals: unknown[] = m[1] === '' ? [v] : v && typeof v === 'object' && !Array.isArray(v) && m[1] in v ? [(v as Record<string, unknown>)[m[1]]] : [];
      for (const idx of m[2].match(/\[(\d+|\*)\]/g) ?? []) {
        const i = idx.slice(1, -1);
        vals = vals.flatMap((x) => (Array.isArray(x) ? (i === '*' ? x : i in x ? [x[Number(i)]] : []) : []));
      }
      next.push(...vals);
    }
    current = next;
  }
  return current.filter((v) => v !== undefined);
}

function field(v: unknown): string {
  return v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The response lines (records) of `templates` for `object`; `target` (operations) is put after the message id. */
export function responseRecords(templates: readonly ResponseTemplate[], object: unknown, target?: string): string[][] {
  const out: string[][] = [];
  for (const t of templates) {
    if (t.condition && pathValues(object, t.condition).length === 0) continue;
    const fields = t.patterns.flatMap((p) => {
      const path = t.base ? `${t.base}.${p}` : p;
      const vals = pathValues(object, path);
      return p.includes('[*]') ? vals.map(field) : [field(vals[0])];
    });
    out.push([t.messageId, ...(target !== undefined ? [target] : []), ...fields]);
  }
  return out;
}
