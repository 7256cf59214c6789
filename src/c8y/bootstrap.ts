/**
 * Device registration (bootstrap) over MQTT, the device side (reference §11.1): poll `s/ucr` with empty
 * messages until `70,<tenant>,<username>,<password>` arrives on `s/dcr`. Pure: the poll schedule and the
 * parsing of `70` (through the codec's decoder, so a quoted password is read right).
 */
import { decodePayload } from '../smartrest/message';

export interface PollSchedule {
  /** Seconds between polls at first (default 5). */
  intervalS: number;
  /** After this many polls the interval grows (a long wait for acceptance; default 60 polls = 5 min). */
  slowAfter: number;
  /** Upper bound of the grown interval in seconds (default 60). */
  maxIntervalS: number;
  /** Stop after this many polls; 0 = never (default 0). */
  limit: number;
}

export const DEFAULT_SCHEDULE: PollSchedule = { intervalS: 5, slowAfter: 60, maxIntervalS: 60, limit: 0 };

/** Delay in ms before poll number `poll` (0-based, poll 0 goes at once), or undefined when the limit is reached. */
export function pollDelay(poll: number, schedule: Partial<PollSchedule> = {}): number | undefined {
  const s = { ...DEFAULT_SCHEDULE, ...schedule };
  if (s.limit > 0 && poll >= s.limit) return undefined;
  if (poll === 0) return 0;
  const base = Math.max(0.05, s.intervalS);
  if (poll <= s.slowAfter) return Math.round(base * 1000);
  // exponential growth after the long wait, capped
  const grown = base * Math.pow(2, Math.min(20, poll - s.slowAfter));
  return Math.round(Math.min(Math.max(base, s.maxIntervalS), grown) * 1000);
}

export interface DeviceCredentials {
  tenant: string;
  username: string;
  password: string;
}

/** The credentials from an `s/dcr` payload, or undefined when it holds no complete `70` line. */
export function parseCredentials(payload: string | Buffer): DeviceCredentials | undefined {
  const { records } = decodePayload(payload, 's/dcr');
  for (const r of records) {
    if (String(r.messageId) !== '70') continue;
    const [tenant, username, password] = r.fields;
    if (tenant && username && password !== undefined && password !== '') return { tenant, username, password };
  }
  return undefined;
}
