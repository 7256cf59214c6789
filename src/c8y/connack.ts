/**
 * CONNACK return codes as Cumulocity uses them (reference §1.6): what each means, what to do, and the retry
 * policy of the device connection. Decision: 3 (server unavailable) and 5 (not authorised, also sent during a
 * transient overload) retry with exponential backoff and jitter; 4 (bad username/password) stops until a
 * redeploy or new credentials so a wrong password cannot cause a lock-out storm; 1 and 2 are configuration
 * errors that no retry fixes, so they stop too.
 */
export interface ConnackInfo {
  code: number;
  meaning: string;
  action: string;
  /** The action in a few words, for the node status. */
  hint: string;
  retry: boolean;
}

const TABLE: Record<number, Omit<ConnackInfo, 'code'>> = {
  1: { meaning: 'unacceptable protocol version', action: 'Cumulocity needs MQTT 3.1.1; check the broker address (is it a Cumulocity Core MQTT endpoint?)', hint: 'check the host', retry: false },
  2: { meaning: 'client id refused', action: 'check the device id (no ":"; with MQTT 3.1 fewer than 24 characters)', hint: 'check the device id', retry: false },
  3: { meaning: 'server unavailable', action: 'transient platform or network problem: retrying with backoff', hint: 'transient', retry: true },
  4: { meaning: 'bad username or password', action: 'check tenant, user and password (or run the device registration); not retried until redeploy or new credentials', hint: 'check tenant, user, password', retry: false },
  5: { meaning: 'not authorised', action: 'missing permissions, certificate problem or overload: retrying with backoff; check the device user and certificate if it persists', hint: 'check permissions', retry: true },
};

export function connackInfo(code: number): ConnackInfo {
  const row = TABLE[code];
  if (row) return { code, ...row };
  return { code, meaning: `refused with code ${code}`, action: 'retrying with backoff', hint: 'unknown code', retry: true };
}

/** The retry policy for MqttConnection's `retryRefused`. */
export function retryRefused(code: number): boolean {
  return connackInfo(code).retry;
}

/** Text for MqttConnection (status): `CONNACK 4 bad username or password: check tenant, user, password (not retried)`. */
export function describeRefusal(code: number): string {
  const i = connackInfo(code);
  return `CONNACK ${code} ${i.meaning}: ${i.hint}${i.retry ? '' : ' (not retried)'}`;
}

/**
 * The log line: meaning and what to do. `midSession`: the CONNACK came on an open session (Cumulocity sends one
 * before it closes a connection, e.g. after a message it does not accept or when the device user lost a permission).
 */
export function refusalLogLine(code: number, midSession = false): string {
  const i = connackInfo(code);
  return `${midSession ? 'Cumulocity ended the session' : 'Cumulocity refused the connection'}: CONNACK ${code} ${i.meaning}. ${i.action}`;
}
