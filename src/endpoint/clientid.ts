/**
 * Cumulocity MQTT ClientId: `[d:]<deviceId>[:<defaultTemplateXId>]` (reference §1.3).
 * Uniqueness is decided by the device id alone, so `dev1`, `d:dev1` and `d:dev1:xid` are the same device.
 */

export interface ClientIdInfo {
  deviceId: string;
  /** Default template collection (X-ID) for `s/ud` / `s/dd`, when given. */
  xid?: string;
}

export class ClientIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientIdError';
  }
}

/** Characters a device id may not contain: it becomes a topic level in the service namespace (`devices/<id>/…`). */
const BAD_ID = /[/+#\u0000]/;

/**
 * Parse a ClientId; throws ClientIdError for an empty id, an empty device id, a `:` inside the device id
 * (`a:b:c:d`, or `x:dev` with a connection type other than `d`) or MQTT wildcards / `/` in the device id.
 *
 * Decision: `a:b` with a first part other than `d` is read as a device id containing `:` and refused
 * (Cumulocity documents only the `d` connection type and forbids `:` in device ids).
 */
export function parseClientId(clientId: string): ClientIdInfo {
  if (!clientId) throw new ClientIdError('the ClientId is empty');
  const parts = clientId.split(':');
  let deviceId: string;
  let xid: string | undefined;
  if (parts.length === 1) deviceId = parts[0];
  else if (parts[0] === 'd' && parts.length <= 3) {
    deviceId = parts[1];
    if (parts.length === 3) {
      xid = parts[2];
      if (!xid) throw new ClientIdError(`the ClientId ${JSON.stringify(clientId)} ends with an empty template collection id`);
    }
  } else throw new ClientIdError(`the device id in ClientId ${JSON.stringify(clientId)} contains ":" (format [d:]<deviceId>[:<X-ID>])`);
  if (!deviceId) throw new ClientIdError(`the ClientId ${JSON.stringify(clientId)} has an empty device id`);
  const bad = checkDeviceId(deviceId);
  if (bad) throw new ClientIdError(bad);
  if (xid !== undefined && BAD_ID.test(xid)) throw new ClientIdError(`the template collection id ${JSON.stringify(xid)} may not contain "/", "+", "#" or NUL`);
  return xid !== undefined ? { deviceId, xid } : { deviceId };
}

/** Why a string cannot be a device id (undefined when it can). */
export function checkDeviceId(deviceId: unknown): string | undefined {
  if (typeof deviceId !== 'string' || deviceId === '') return 'the device id must be a non-empty string';
  if (deviceId.includes(':')) return `the device id ${JSON.stringify(deviceId)} contains ":"`;
  if (BAD_ID.test(deviceId)) return `the device id ${JSON.stringify(deviceId)} may not contain "/", "+", "#" or NUL`;
  if (Buffer.byteLength(deviceId) > 128) return `the device id ${JSON.stringify(deviceId.slice(0, 20) + '…')} is longer than 128 bytes`;
  return undefined;
}
