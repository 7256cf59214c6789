/**
 * One grammar for the identifiers that become MQTT topic levels or SmartREST fields: device ids (external ids of
 * root devices, also the ClientId's device part), child device ids and template collection ids (X-IDs).
 *
 * Every id is a non-empty string of at most 128 UTF-8 bytes without `/`, `+`, `#` (topic separator and MQTT
 * wildcards) and without control characters (C0, DEL). Device ids may not contain `:` either, the separator of
 * the ClientId `d:<deviceId>:<X-ID>`. Decision: child ids and X-IDs may contain `:` (MAC addresses are common
 * child ids; a child never appears in a ClientId, and an X-ID with `:` simply cannot be a ClientId's default).
 */

export type IdKind = 'device' | 'child' | 'xid';

export const MAX_ID_BYTES = 128;

const NAMES: Record<IdKind, string> = { device: 'device id', child: 'child device id', xid: 'template collection id (X-ID)' };

/** `/`, `+`, `#`, C0 control characters and DEL. */
// eslint-disable-next-line no-control-regex
const BAD_CHARS = /[/+#\u0000-\u001f\u007f]/;

/** A short, printable rendering of an id for messages (never the whole of a huge value). */
export function showId(id: string): string {
  return JSON.stringify(id.length > 40 ? id.slice(0, 40) + '…' : id);
}

/** Why `id` cannot be an id of this kind; undefined when it can. */
export function idProblem(id: unknown, kind: IdKind): string | undefined {
  const name = NAMES[kind];
  if (typeof id !== 'string' || id === '') return `the ${name} must be a non-empty string`;
  if (BAD_CHARS.test(id)) return `the ${name} ${showId(id)} may not contain "/", an MQTT wildcard ("+", "#") or control characters`;
  if (kind === 'device' && id.includes(':')) return `the ${name} ${showId(id)} contains ":"`;
  if (Buffer.byteLength(id) > MAX_ID_BYTES) return `the ${name} ${showId(id)} is longer than ${MAX_ID_BYTES} bytes`;
  return undefined;
}
