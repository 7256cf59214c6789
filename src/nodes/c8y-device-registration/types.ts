import type { NodeDef } from 'node-red';
import type { DeviceCredentials } from '../../c8y/bootstrap';

/** Editor configuration of `c8y-device-registration`. */
export interface C8yRegistrationConfig extends NodeDef {
  host: string;
  transport: 'mqtts' | 'mqtt' | 'wss' | 'ws';
  port: number | string;
  wsPath: string;
  tls: string;
  verifyCert: boolean;
  /** Bootstrap user, default `management/devicebootstrap`. */
  user: string;
  /** Optional `c8y-device` config node: its device id is used, and the credentials are stored into it. */
  device: string;
  /** Device id when no c8y-device is selected (ClientId = device id, no `d:`). */
  deviceId: string;
  /** Seconds between polls (default 5). */
  interval: number | string;
  /** Polls before the interval grows (default 60). */
  slowAfter: number | string;
  /** Give up after this many polls (0 = never). */
  limit: number | string;
  /** `auto`: on deploy when the selected c8y-device has no credentials; `always`; `manual`: by message only. */
  start: 'auto' | 'always' | 'manual';
}

export interface C8yRegistrationCredentials {
  password?: string;
}

/** Input: `msg.payload` / `msg.action` = `"start"` or `"stop"` (any other message starts). */
export interface C8yRegistrationInput {
  action?: 'start' | 'stop';
  payload?: unknown;
}

/** Output: the credentials once the registration was accepted. */
export interface C8yRegistrationOutput {
  topic: 's/dcr';
  payload: DeviceCredentials;
  deviceId: string;
}
