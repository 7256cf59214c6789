import type { NodeDef } from 'node-red';
import type { RegistrationRequest } from '../../endpoint/server';

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
}

/** Output: a new request (`registration/request`), an accept/reject done by message, or issued credentials (`registration/registered`). */
export interface C8yEndpointRegistrationOutput {
  topic: 'registration/request' | 'registration/accepted' | 'registration/rejected' | 'registration/registered';
  /** The request (device id, first seen, remote address, state), or for `registered` the device id, tenant and user name (never the password). */
  payload: RegistrationRequest | { deviceId: string; tenant: string; username: string };
  device: string;
}
