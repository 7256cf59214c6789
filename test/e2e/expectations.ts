/**
 * The documented result of every example flow in `examples/**\/*.json`.
 *
 * test/e2e/examples.test.ts deploys each example into a real Node-RED and
 * checks that the result described here shows up in the example's debug
 * nodes. An example WITHOUT an entry here fails that test on purpose: every
 * example we ship must have a checked result. An entry whose example no longer
 * exists fails too.
 *
 * Key: the example's path relative to `examples/`, without `.json`
 *      (`examples/smartrest-encode.json` -> `'smartrest-encode'`,
 *       `examples/c8y/register.json` -> `'c8y/register'`).
 *
 * Value: a non-empty list of debug expectations. Each one waits until the
 * debug node with that `name` (it must exist once in the example, with
 * "debug window" output on) has sent `count` (default 1) messages that satisfy
 * BOTH `payload` and `match` (whichever are given):
 *   - `payload`: deep-equal (util.isDeepStrictEqual) to msg.payload. For a
 *     debug node that shows msg.payload (the default) that is the displayed
 *     value; for one that shows the complete msg object it is `.payload` of it.
 *     Buffers arrive as Buffer, objects/arrays as parsed JSON.
 *   - `match(value, entry)`: a predicate on the displayed value (whatever
 *     the debug node is set to show, decoded), `entry` is the raw comms entry.
 * List the same debug node several times to expect several different messages.
 *
 * Inject nodes should use `once: true`; inject nodes without it are pressed
 * through the Admin API once the flows have started.
 *
 * Errors: by default the example must not produce any `[error]` log line nor
 * any node error (debug sidebar entry with level 20). An example that shows
 * error handling declares how many node errors it may produce with
 * `allowErrors` (use the helper: `allowErrors(1, [ ... ])`).
 *
 * Example entry:
 *   'smartrest-encode': [
 *     { debug: 'SmartREST line', payload: '200,c8y_Temperature,T,21.5' },
 *     { debug: 'full msg', match: (m) => m.topic === 's/us' },
 *   ],
 */

export interface DebugExpectation {
  /** name of a debug node in the example */
  debug: string;
  /** deep-equal to msg.payload */
  payload?: unknown;
  /** predicate on the decoded value the debug node shows */
  match?: (msg: any, entry?: any) => boolean;
  /** number of matching messages to wait for (at least); default 1 */
  count?: number;
}

export type ExampleExpectation = DebugExpectation[] & { allowErrors?: number };

/** `allowErrors(n, [...])`: an expectation list whose example may raise up to n node errors. */
export function allowErrors(n: number, list: DebugExpectation[]): ExampleExpectation {
  return Object.assign(list, { allowErrors: n });
}

export const EXPECTATIONS: Record<string, ExampleExpectation> = {};
// The full pipeline (issues #2-#6). The e2e test starts the local Datacake stand-in on 127.0.0.1:1885 as `npm start`
// does (test/e2e/examples.test.ts).
EXPECTATIONS['demo'] = [
  { debug: 'SmartREST line', match: (m) => m.topic === 's/us' && /^211,\d+(\.\d)?$/.test(m.payload) },
  { debug: 'decoded measurement', match: (p) => p.messageId === 211 && typeof p.values.value === 'number' },
  // c8y-device -> c8y-endpoint: the simulated device's measurement as the endpoint decoded it.
  { debug: 'measurement from the device', match: (p) => p.messageId === 211 && typeof p.values.value === 'number' },
  // broker-bridge (service account, smartrest-to-fields) -> Datacake stand-in -> datacake-mqtt-in: a typed field.
  { debug: 'Datacake field', match: (m) => m.topic === 'dtck/demo-product/demo-device-01/TEMPERATURE' && typeof m.payload === 'number' && m.datacake?.field === 'TEMPERATURE' },
  { debug: 'bridge stats', match: (p) => p && Array.isArray(p.rules) && p.rules[0].forwarded > 0 && p.connections?.source === 'connected' && p.connections?.target === 'connected' },
  // an operation down to the device and its status back
  { debug: 'operation on the device', match: (p) => p && p.name === 'c8y_Restart' && p.device === 'demo-device-01' },
  { debug: 'operation status', match: (p) => p.fragment === 'c8y_Restart' && p.status === 'EXECUTING' },
  { debug: 'operation status', match: (p) => p.fragment === 'c8y_Restart' && p.status === 'SUCCESSFUL' },
];
EXPECTATIONS['smartrest-encode'] = [
  { debug: 'encoded measurement', match: (m) => m.topic === 's/us' && m.payload === '201,c8y_Env,,c8y_Temperature,T,21.5,C,c8y_Humidity,H,40,%' },
  { debug: 'encoded as child', match: (m) => m.topic === 's/us/door-sensor-1' && m.payload === '301,c8y_DoorAlarm,"Door \\"A\\" open"\n400,c8y_Tick,"tick, tock"' },
  { debug: 'encoded custom', match: (m) => m.topic === 's/uc/demoTemplates-v1' && m.payload === '999,,23.5' },
  { debug: 'encoded custom', match: (m) => m.topic === 's/ut/demoTemplates-v1' && /^10,999,POST,MEASUREMENT,/.test(m.payload) },
];
// The bad record of 'one good, one bad record' is caught by a Catch node, so it is no node error.
EXPECTATIONS['smartrest-decode'] = [
  { debug: 'operation', match: (p) => p.name === 'c8y_Restart' && p.device === 'dev01' },
  { debug: 'operation', match: (p) => p.name === 'c8y_Command' && p.device === 'dev01' && p.values.command === 'echo "hello"\nuptime' },
  { debug: 'operation', match: (p) => p.name === 'c8y_RelayArray' && p.device === 'relay-box' && p.values.states.join() === 'OPEN,CLOSED,OPEN' },
  // this debug node shows msg.payload.values
  { debug: 'credentials', match: (v) => JSON.stringify(v) === JSON.stringify({ tenant: 't12345', username: 'device_dev01', password: 's3cr,et' }) },
  { debug: 'operation', match: (p) => p.name === 'c8y_Restart' && p.device === 'dev02' },
  { debug: 'decode error', match: (m) => typeof m === 'string' && /1 of 2 records .*record 1 .*unterminated quote/.test(m) },
];
// Datacake (issue #5). Offline and without a token (credentials are never in an example) the broker node
// starts no connection: the in-node shows `no token`, out-nodes show their writes as waiting in the queue.
EXPECTATIONS['datacake-to-dashboard'] = [
  { debug: 'in-node status', match: (s) => s && s.fill === 'red' && /no token/.test(s.text) },
];
EXPECTATIONS['datacake-sensor'] = [
  { debug: 'sent to Datacake', payload: { TEMPERATURE: 21.5, HUMIDITY: 40, DOOR_OPEN: false } },
  { debug: 'out-node status', match: (s) => s && /no token · 3 waiting/.test(s.text) },
];
EXPECTATIONS['datacake-relay'] = [
  { debug: 'relayed value', match: (m) => m.payload === true && m.datacake && m.datacake.field === 'RELAY' },
  { debug: 'relay status', match: (s) => s && /no token · 1 waiting/.test(s.text) },
];
// c8y-endpoint (issue #3): endpoint on 127.0.0.1:1884, a simulated device of core MQTT nodes, an operation round trip.
EXPECTATIONS['c8y-endpoint'] = [
  { debug: 'decoded measurements', match: (p) => p.messageId === 211 && typeof p.values.value === 'number' },
  { debug: 'operation on the device', match: (p) => p === '510,c8y-example-device' },
  { debug: 'operation status', match: (p) => p.fragment === 'c8y_Restart' && p.status === 'SUCCESSFUL' },
  // availability filter: the simulated device connects and, with `117,1` and a message every 3 s, is AVAILABLE.
  { debug: 'device availability', match: (p) => p?.device === 'c8y-example-device' && p.state === 'CONNECTED' && p.reason === 'connected' },
  { debug: 'device availability', match: (p) => p?.device === 'c8y-example-device' && p.state === 'AVAILABLE' },
];
// c8y-device (issue #4): a flow as a Cumulocity device against the `npm start` demo endpoint (127.0.0.1:11883);
// json-device speaks JSON via MQTT to it (issue #18).
// Deployed alone there is no broker, so what shows is the data side and the connection state; deployed with the
// demo they connect and register for real (checked in test/e2e/examples.test.ts, 'c8y-device examples against the
// demo endpoint'). Refusals and an absent broker only warn.
const c8yConnectionState = (s: any) => !!s && typeof s.text === 'string' && /connect|CONNACK|refused|no credentials/.test(s.text);
EXPECTATIONS['c8y-device/device'] = [
  { debug: 'measurement sent', match: (p) => p && p.messageId === 200 && p.values.fragment === 'c8y_Temperature' && typeof p.values.value === 'number' },
  { debug: 'device connection', match: c8yConnectionState },
];
EXPECTATIONS['c8y-device/gateway'] = [
  { debug: 'child measurement', match: (m) => m && m.device === 'c4d-child-1' && m.payload[0] === '200' },
  { debug: 'child measurement', match: (m) => m && m.device === 'c4d-child-2' && m.payload[0] === '200' },
  { debug: 'gateway connection', match: c8yConnectionState },
];
EXPECTATIONS['c8y-device/json-device'] = [
  { debug: 'measurement sent', match: (p) => p && p.messageId === 200 && p.values.fragment === 'c8y_Temperature' && typeof p.values.value === 'number' },
  { debug: 'device connection', match: c8yConnectionState },
];
EXPECTATIONS['c8y-device/bootstrap'] = [
  { debug: 'registration status', match: (s) => !!s && typeof s.text === 'string' && /connect|CONNACK|refused|polling|waiting|done|not needed/.test(s.text) },
];
// broker-bridge (issue #6). Offline: the foreign brokers on 127.0.0.1:1883x are absent (the connections only warn
// and retry with backoff), Datacake connections are `manual` (no token in an example). The stats output still
// reports every rule and both connection states.
EXPECTATIONS['broker-bridge-to-datacake'] = [
  { debug: 'bridge stats', match: (p) => p && Array.isArray(p.rules) && p.rules.length === 1 && typeof p.connections?.source === 'string' },
];
// The device -> endpoint -> service account -> bridge part runs offline; the Datacake connection is manual, so the
// field writes wait in the outbox. The example is quiet by default (issue #15: no sample of every message, the
// per-message debug nodes off), so its result is read from the stats: lines matched, the event skipped, writes queued.
EXPECTATIONS['broker-bridge-smartrest'] = [
  { debug: 'bridge stats', match: (p) => p?.rules?.[0]?.matched > 0 && p.rules[0].dropped.skipped > 0 && p.queue.toTarget.depth > 0 && p.connections.source === 'connected' },
];
EXPECTATIONS['broker-bridge-both-ways'] = [
  { debug: 'bridge stats', match: (p) => p && Array.isArray(p.rules) && p.rules.length === 2 },
];
