/**
 * Device-side ClientId and username for Cumulocity Core MQTT (reference §1.3, §1.4). Pure, no Node-RED.
 * The device identifier must not contain `:` (the ClientId uses `:` as separator; refused in the editor and here).
 */

/** Why a device id cannot be used, or undefined when it is fine. */
export function checkDeviceId(id: string): string | undefined {
  if (!id) return 'the device id is empty';
  if (id.includes(':')) return `the device id ${JSON.stringify(id)} contains ":", which Cumulocity's ClientId format forbids`;
  if (/[\u0000-\u001f]/.test(id)) return `the device id ${JSON.stringify(id)} contains control characters`;
  return undefined;
}

/** `d:<id>` or `d:<id>:<X-ID>` (the default template collection enables `s/ud` and `s/dd`). Throws on a bad id. */
export function deviceClientId(id: string, xid?: string): string {
  const bad = checkDeviceId(id);
  if (bad) throw new Error(bad);
  if (xid && (xid.includes(':') || xid.includes('/'))) throw new Error(`the default template X-ID ${JSON.stringify(xid)} may not contain ":" or "/"`);
  return xid ? `d:${id}:${xid}` : `d:${id}`;
}

/**
 * MQTT username `<tenant>/<user>`. A user that already contains `/` (as stored after a registration:
 * `<tenant>/<username>`) is sent unchanged; without a tenant the user is sent as it is.
 */
export function mqttUsername(tenant: string | undefined, user: string | undefined): string | undefined {
  const u = (user ?? '').trim();
  if (!u) return undefined;
  if (u.includes('/')) return u;
  const t = (tenant ?? '').trim();
  return t ? `${t}/${u}` : u;
}

export type C8yTransport = 'mqtts' | 'mqtt' | 'wss' | 'ws';
export const DEFAULT_PORTS: Record<C8yTransport, number> = { mqtts: 8883, mqtt: 1883, wss: 443, ws: 80 };

/** Broker URL: TLS 8883 by default, plain 1883, WebSocket on `/mqtt` (443 with TLS). */
export function brokerUrl(host: string, transport: string | undefined, port?: number | string, path?: string): string {
  const t: C8yTransport = transport === 'mqtt' || transport === 'wss' || transport === 'ws' ? transport : 'mqtts';
  const h = (host || '').trim();
  if (!h) throw new Error('the host is empty');
  const p = Number(port) > 0 ? Number(port) : DEFAULT_PORTS[t];
  const wsPath = t === 'wss' || t === 'ws' ? (path || '/mqtt').replace(/^(?=[^/])/, '/') : '';
  return `${t}://${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}:${p}${wsPath}`;
}
