import type { NodeDef } from 'node-red';
import type { RegistrationRefusal, RegistrationRequest } from '../../endpoint/server';

/** Editor configuration of `c8y-endpoint-registration`. */
export interface C8yEndpointRegistrationConfig extends NodeDef {
  endpoint: string;
  /**
   * Device ids accepted without a message: ids or patterns (`*` any characters, `?` one) separated by
   * spaces, commas or new lines, or one `/regular expression/`. Empty = accept only by message.
   */
  allow: string;
}

/** Message contract of `c8y-endpoint-registration`: input. Either property may also be inside msg.payload. */
export interface C8yEndpointRegistrationInput {
  accept?: string;
  reject?: string;
  /** Allow one re-registration of this (registered) device: its next accepted registration replaces its credentials. */
  reset?: string;
  /**
   * Check a device token (`s/uat` → `71,<token>`): the token, or `true` to take it from the `Authorization: Bearer`
   * header of an `http in` request (`msg.req`). Valid: the message goes on with `topic: "token/valid"`,
   * `device` and `token`; invalid: a Catch-able error (answer 401 from there).
   */
  verifyToken?: string | true;
}

/** What `msg.verifyToken` adds to a message whose token is valid. */
export interface C8yEndpointTokenOutput {
  topic: 'token/valid';
  device: string;
  token: import('../../endpoint/token').DeviceToken;
}

/**
 * Output: a new request (`registration/request`), an accept/reject/reset done by message, issued credentials
 * (`registration/registered`), or a poll refused because the device is already registered (`registration/refused`,
 * at most once a minute per device).
 */
export interface C8yEndpointRegistrationOutput {
  topic: 'registration/request' | 'registration/accepted' | 'registration/rejected' | 'registration/registered' | 'registration/reset' | 'registration/refused';
  /**
   * The request (device id, first seen, remote address, state); for `registered` the device id, tenant and user name
   * (never the password); for `reset` the device id and whether it was registered; for `refused` the device id,
   * the reason and the remote address.
   */
  payload: RegistrationRequest | { deviceId: string; tenant: string; username: string } | { deviceId: string; registered: boolean } | RegistrationRefusal;
  device: string;
}
