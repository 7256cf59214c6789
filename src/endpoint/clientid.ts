/**
 * Cumulocity MQTT ClientId: `[d:]<deviceId>[:<defaultTemplateXId>]` (reference §1.3).
 * Uniqueness is decided by the device id alone, so `dev1`, `d:dev1` and `d:dev1:xid` are the same device.
 */
import { idProblem } from '../smartrest/ids';

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
  const badXid = xid !== undefined ? idProblem(xid, 'xid') : undefined;
  if (badXid) throw new ClientIdError(badXid);
  return xid !== undefined ? { deviceId, xid } : { deviceId };
}

/** Why a string cannot be a device id (undefined when it can); the grammar is in smartrest/ids.ts. */
export function checkDeviceId(deviceId: unknown): string | undefined {
  return idProblem(deviceId, 'device');
}
