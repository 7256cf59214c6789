/**
 * Cumulocity MQTT topic grammar: `<mode>/<direction><type>[/<X-ID>][/<childId>]` (reference §2).
 * Only upstream topics take the processing modes t/q/c; downstream topics always start with `s/`.
 */
import { idProblem } from './ids';
import type { ProcessingMode } from './types';

export const PROCESSING_MODES: readonly ProcessingMode[] = ['s', 't', 'q', 'c'];

/** What a topic carries. */
export type TopicKind =
  | 'static' // s/us, s/ds
  | 'custom' // s/uc/<X-ID>, s/dc/<X-ID>
  | 'default' // s/ud, s/dd (X-ID from the ClientId)
  | 'template' // s/ut/<X-ID>, s/dt
  | 'credentials' // s/ucr, s/dcr
  | 'token' // s/uat, s/dat
  | 'error' // s/e
  | 'json'; // Cumulocity's JSON topics (see c8y/json.ts), endpoint ACL only

export interface TopicInfo {
  direction: 'up' | 'down';
  kind: TopicKind;
  mode: ProcessingMode;
  xid?: string;
  child?: string;
  /** kind `json`: the JSON topic. */
  json?: import('../c8y/json').JsonTopic;
}

export function isProcessingMode(value: unknown): value is ProcessingMode {
  return value === 's' || value === 't' || value === 'q' || value === 'c';
}

/** Upstream topic info; `child` is everything after `childFrom` extra levels (a child id may contain `/`). */
function up(rest: string[], mode: ProcessingMode, kind: TopicKind, xid: string | undefined, childFrom: number): TopicInfo | undefined {
  const child = rest.length > childFrom ? rest.slice(childFrom).join('/') : undefined;
  if (child === '') return undefined;
  const info: TopicInfo = { direction: 'up', kind, mode };
  if (xid !== undefined) info.xid = xid;
  if (child !== undefined) info.child = child;
  return info;
}

function down(rest: string[], mode: ProcessingMode, kind: TopicKind, xid?: string): TopicInfo | undefined {
  if (mode !== 's' || rest.length !== (xid !== undefined ? 1 : 0)) return undefined;
  const info: TopicInfo = { direction: 'down', kind, mode };
  if (xid !== undefined) info.xid = xid;
  return info;
}

/** Parse a Cumulocity topic; undefined for anything outside the grammar. Runs for every device publish. */
export function parseTopic(topic: string): TopicInfo | undefined {
  const parts = topic.split('/');
  const mode = parts[0];
  if (!isProcessingMode(mode) || parts.length < 2) return undefined;
  const name = parts[1];
  const rest = parts.length > 2 ? parts.slice(2) : NO_LEVELS;
  switch (name) {
    case 'us':
      return up(rest, mode, 'static', undefined, 0);
    case 'ud':
      return up(rest, mode, 'default', undefined, 0);
    case 'uc':
      return rest.length && rest[0] ? up(rest, mode, 'custom', rest[0], 1) : undefined;
    case 'ut':
      return mode === 's' && rest.length === 1 && rest[0] ? { direction: 'up', kind: 'template', mode, xid: rest[0] } : undefined;
    case 'ucr':
      return mode === 's' && !rest.length ? { direction: 'up', kind: 'credentials', mode } : undefined;
    case 'uat':
      return mode === 's' && !rest.length ? { direction: 'up', kind: 'token', mode } : undefined;
    case 'ds':
      return down(rest, mode, 'static');
    case 'dd':
      return down(rest, mode, 'default');
    case 'dc':
      return rest.length === 1 && rest[0] ? down(rest, mode, 'custom', rest[0]) : undefined;
    case 'dt':
      return down(rest, mode, 'template');
    case 'dcr':
      return down(rest, mode, 'credentials');
    case 'dat':
      return down(rest, mode, 'token');
    case 'e':
      return down(rest, mode, 'error');
    default:
      return undefined;
  }
}

const NO_LEVELS: string[] = [];

/** Why a child id cannot be used (see ids.ts for the grammar). */
export function checkChildId(child: string): string | undefined {
  return idProblem(child, 'child');
}

/** Why an X-ID cannot be used (see ids.ts for the grammar). */
export function checkXid(xid: string): string | undefined {
  return idProblem(xid, 'xid');
}

/** Build the upstream topic for static (`s/us`) or custom (`s/uc/<X-ID>`) messages, as a device or a child. */
export function upstreamTopic(options: { mode?: ProcessingMode; xid?: string; child?: string }): string {
  const mode = options.mode ?? 's';
  if (!isProcessingMode(mode)) throw new Error(`unknown processing mode ${JSON.stringify(mode)}; use s, t, q or c`);
  let topic = options.xid !== undefined ? `${mode}/uc/${options.xid}` : `${mode}/us`;
  if (options.xid !== undefined) {
    const bad = checkXid(options.xid);
    if (bad) throw new Error(bad);
  }
  if (options.child !== undefined && options.child !== '') {
    const bad = checkChildId(options.child);
    if (bad) throw new Error(bad);
    topic += '/' + options.child;
  }
  return topic;
}

/** Topic on which a template collection is registered. */
export function templateTopic(xid: string): string {
  const bad = checkXid(xid);
  if (bad) throw new Error(bad);
  return `s/ut/${xid}`;
}
