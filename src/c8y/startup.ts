/**
 * The startup phase of a Cumulocity device connection (reference §2.3, §11.1 step 8): what is published on
 * every connect before the subscriptions are made. Pure: the config becomes SmartREST lines through the codec.
 * Order: `100` name/type, `101` children, `110` hardware, `114` supported operations, `117` required interval,
 * then the custom template collection on `s/ut/<X-ID>`.
 */
import { registrationPayload, type TemplateCollection } from '../smartrest/custom';
import { encodeRecords } from '../smartrest/message';
import { templateTopic } from '../smartrest/topics';
import type { RawRecord } from '../smartrest/types';

export interface ChildDevice {
  id: string;
  name?: string;
  type?: string;
}

export interface StartupConfig {
  /** `100`: created when name (or type) is given. */
  name?: string;
  type?: string;
  /** `101` per child (gateway). */
  children?: ChildDevice[];
  /** `110`. */
  hardware?: { serialNumber?: string; model?: string; revision?: string };
  /** `114`. */
  operations?: string[];
  /** `117` in minutes; 0 or empty = not sent. */
  requiredInterval?: number;
  /** Registered on `s/ut/<X-ID>`. */
  collection?: TemplateCollection;
}

export interface StartupMessage {
  topic: string;
  payload: string;
}

/** Parse the editor's children text: one child per line, `id[,name[,type]]`. */
export function parseChildren(text: string | undefined): ChildDevice[] {
  const out: ChildDevice[] = [];
  for (const line of (text ?? '').split(/\r?\n/)) {
    const t = line.trim();
    if (!t) continue;
    const [id, name, type] = t.split(',').map((s) => s.trim());
    if (!id) throw new Error(`child line ${JSON.stringify(line)} has no id`);
    if (/[+#/]/.test(id)) throw new Error(`child id ${JSON.stringify(id)} may not contain "/", "+" or "#"`);
    out.push({ id, ...(name ? { name } : {}), ...(type ? { type } : {}) });
  }
  return out;
}

/** Parse a comma/space/newline separated list (supported operations). */
export function parseList(text: string | undefined): string[] {
  return (text ?? '').split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

export function startupRecords(config: StartupConfig): RawRecord[] {
  const records: RawRecord[] = [];
  if (config.name || config.type) records.push({ messageId: 100, fields: [config.name || '', config.type || ''] });
  for (const c of config.children ?? []) records.push({ messageId: 101, fields: [c.id, c.name || c.id, c.type || 'c8y_MQTTChildDevice'] });
  const h = config.hardware;
  if (h && (h.serialNumber || h.model || h.revision)) records.push({ messageId: 110, fields: [h.serialNumber || '', h.model || '', h.revision || ''] });
  if (config.operations?.length) records.push({ messageId: 114, fields: [...config.operations] });
  if (config.requiredInterval && config.requiredInterval > 0) records.push({ messageId: 117, fields: [String(Math.floor(config.requiredInterval))] });
  return records;
}

/** The startup messages in order (possibly several payloads for a long children list). */
export function startupMessages(config: StartupConfig): StartupMessage[] {
  const records = startupRecords(config);
  const out: StartupMessage[] = records.length ? encodeRecords(records).map((p) => ({ topic: p.topic, payload: p.payload })) : [];
  if (config.collection) out.push({ topic: templateTopic(config.collection.xid), payload: registrationPayload(config.collection) });
  return out;
}
