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
// TEMP-HARNESS-CHECK
EXPECTATIONS['demo'] = [
  { debug: 'SmartREST line', match: (m) => m.topic === 's/us' && /^211,\d+(\.\d)?$/.test(m.payload) },
  { debug: 'decoded measurement', match: (p) => p.messageId === 211 && typeof p.values.value === 'number' },
];
EXPECTATIONS['smartrest-encode'] = [
  { debug: 'encoded measurement', payload: '201,c8y_Env,,WRONG' },
  { debug: 'encoded custom', match: (m) => m.topic === 's/uc/demoTemplates-v1' },
];
EXPECTATIONS['smartrest-decode'] = allowErrors(0, [
  { debug: 'operation', match: (p) => true, count: 3 },
  { debug: 'decode error', match: (m) => typeof m === 'string' },
]);
