/**
 * Every example flow in examples/**\/*.json, deployed into ONE real node-red
 * process (our package symlinked into its user dir), must start without
 * errors and show the result documented in test/e2e/expectations.ts.
 * Finally all examples are deployed together (ids must not clash).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { isDeepStrictEqual, inspect } from 'node:util';
import {
  type Comms,
  type DebugEntry,
  type ExampleFile,
  type NodeRedProcess,
  decodeDebugValue,
  deployAndWait,
  formatLog,
  injectNode,
  listExamples,
  openComms,
  startNodeRed,
} from '../support/nodered';
import { type DebugExpectation, type ExampleExpectation, EXPECTATIONS } from './expectations';
import { startDatacakeStandin, type DatacakeStandin } from '../../src/standin/datacake-broker';
import { DEMO_DATACAKE, exampleCredentials, randomSecrets, withCredentials } from '../../scripts/demo-config';

// The examples carry no credentials; they are deployed with credentials made for this run, as `npm start` does.
const SECRETS = randomSecrets();
const CREDENTIALS = exampleCredentials(SECRETS);
const deployable = (flows: any[]) => withCredentials(flows, CREDENTIALS);

const WAIT_MS = 30_000;
const examples: ExampleFile[] = listExamples();

interface ResolvedExpectation extends DebugExpectation {
  debugId: string;
  /** what the debug node shows: 'payload', 'true' (complete msg) or another property / expression */
  complete: string;
}

function show(v: unknown): string {
  return inspect(v, { depth: 6, breakLength: 120 });
}

/** Structural checks on an example plus resolving each expectation's debug node. Throws with a clear message. */
function resolveExample(ex: ExampleFile): { expectations: ResolvedExpectation[]; allowErrors: number } {
  const flows = ex.flows;
  assert.ok(Array.isArray(flows) && flows.length > 0, `example ${ex.name}: must be a non-empty JSON array of nodes`);
  assert.ok(flows.some((n) => n && n.type === 'tab'), `example ${ex.name}: must contain a "tab" node`);
  const ids = new Set<string>();
  for (const n of flows) {
    assert.ok(n && typeof n.id === 'string' && n.id, `example ${ex.name}: every node needs a string id (${JSON.stringify(n).slice(0, 120)})`);
    assert.ok(!ids.has(n.id), `example ${ex.name}: node id ${n.id} is used twice`);
    ids.add(n.id);
  }

  const exp: ExampleExpectation | undefined = Object.prototype.hasOwnProperty.call(EXPECTATIONS, ex.name) ? EXPECTATIONS[ex.name] : undefined;
  assert.ok(
    exp,
    `example "${ex.name}" (${ex.file}) has no entry in test/e2e/expectations.ts. ` +
      `Add EXPECTATIONS['${ex.name}'] = [{ debug: '<debug node name>', payload: <documented result> }, ...] ` +
      `so that its documented result is checked.`,
  );
  assert.ok(Array.isArray(exp) && exp.length > 0, `EXPECTATIONS['${ex.name}'] must list at least one debug expectation`);

  const expectations = exp.map((e, i): ResolvedExpectation => {
    assert.ok(e.payload !== undefined || typeof e.match === 'function',
      `EXPECTATIONS['${ex.name}'][${i}]: give "payload" and/or "match" (a bare debug name checks nothing)`);
    const debugs = flows.filter((n) => n.type === 'debug' && n.name === e.debug);
    assert.equal(debugs.length, 1,
      `EXPECTATIONS['${ex.name}'][${i}]: expected exactly one debug node named "${e.debug}" in the example, found ${debugs.length}` +
        ` (debug nodes: ${flows.filter((n) => n.type === 'debug').map((n) => JSON.stringify(n.name)).join(', ') || 'none'})`);
    const d = debugs[0];
    assert.ok(d.tosidebar !== false, `example ${ex.name}: debug node "${e.debug}" does not send to the debug window (tosidebar: false)`);
    assert.ok(d.active !== false, `example ${ex.name}: debug node "${e.debug}" is inactive`);
    assert.ok(!d.d, `example ${ex.name}: debug node "${e.debug}" is disabled`);
    const complete = d.targetType === 'jsonata' ? 'jsonata' : String(d.complete || 'payload') === 'false' ? 'payload' : String(d.complete || 'payload');
    if (e.payload !== undefined) {
      assert.ok(complete === 'payload' || complete === 'true',
        `EXPECTATIONS['${ex.name}'][${i}]: debug node "${e.debug}" shows "${complete}", so "payload" cannot be compared; use "match"`);
    }
    return { ...e, debugId: d.id, complete };
  });
  return { expectations, allowErrors: exp.allowErrors ?? 0 };
}

/** Extra explanation for failures that come from the machine rather than the example. */
function hint(nr: NodeRedProcess, mark: number): string {
  return nr.log.slice(mark).some((l) => /EADDRINUSE/.test(l))
    ? '\nhint: a port this example listens on is taken (EADDRINUSE): examples use fixed ports, so a concurrent ' +
        'test run, another node-red or a system mosquitto service on that port makes them fail'
    : '';
}

function fromDebug(e: ResolvedExpectation, m: DebugEntry): boolean {
  return m.level === undefined && (m.id === e.debugId || m._alias === e.debugId);
}

function matches(e: ResolvedExpectation, m: DebugEntry): boolean {
  if (!fromDebug(e, m)) return false;
  const value = decodeDebugValue(m);
  if (e.payload !== undefined) {
    const payload = e.complete === 'true' ? (value as any)?.payload : value;
    if (!isDeepStrictEqual(payload, e.payload)) return false;
  }
  if (e.match && !e.match(value, m)) return false;
  return true;
}

/** Waits for every expectation; on failure, reports what the debug node did send plus the log. */
async function awaitExpectations(label: string, nr: NodeRedProcess, comms: Comms, list: ResolvedExpectation[], mark: number): Promise<void> {
  for (const e of list) {
    const count = e.count ?? 1;
    try {
      await comms.waitForCount((m) => matches(e, m), count, WAIT_MS);
    } catch (err) {
      const seen = comms.messages.filter((m) => fromDebug(e, m)).map((m) => show(decodeDebugValue(m)));
      const nodeErrors = comms.messages.filter((m) => m.level === 20).map((m) => `${m.name || m.id}: ${m.msg}`);
      throw new Error(
        `${label}: debug node "${e.debug}" did not show the expected result ` +
          `(${e.payload !== undefined ? 'payload ' + show(e.payload) : ''}${e.match ? ' match ' + e.match.toString() : ''}, count ${count}): ${(err as Error).message}\n` +
          `received from "${e.debug}" (${seen.length}):\n  ${seen.join('\n  ') || '(nothing)'}\n` +
          `node errors:\n  ${nodeErrors.join('\n  ') || '(none)'}\n${formatLog(nr.log, mark)}${hint(nr, mark)}`,
      );
    }
  }
}

function assertNoErrors(label: string, nr: NodeRedProcess, comms: Comms, mark: number, allowErrors: number): void {
  const logErrors = nr.errorsSince(mark);
  const nodeErrors = comms.messages.filter((m) => m.level === 20);
  assert.ok(logErrors.length <= allowErrors,
    `${label}: ${logErrors.length} [error] line(s) in the node-red log (allowed ${allowErrors}):\n  ${logErrors.join('\n  ')}\n${formatLog(nr.log, mark)}${hint(nr, mark)}`);
  assert.ok(nodeErrors.length <= allowErrors,
    `${label}: ${nodeErrors.length} node error(s) in the debug sidebar (allowed ${allowErrors}):\n  ` +
      nodeErrors.map((m) => `${m.type ?? ''} ${m.name || m.id}: ${m.msg}`).join('\n  ') + hint(nr, mark));
}

function reportWarnings(t: TestContext, nr: NodeRedProcess, mark: number): void {
  for (const w of nr.log.slice(mark).filter((l) => /\[warn\]/.test(l))) t.diagnostic(`node-red warning: ${w}`);
}

/** Inject nodes that do not fire on their own after deploy are pressed through the Admin API. */
async function pressManualInjects(nr: NodeRedProcess, flows: any[]): Promise<void> {
  const disabledTabs = new Set(flows.filter((n) => n.type === 'tab' && n.disabled).map((n) => n.id));
  for (const n of flows) {
    if (n.type === 'inject' && !n.once && !n.d && !disabledTabs.has(n.z)) await injectNode(nr.url, n.id);
  }
}

describe('examples', { concurrency: false }, () => {
  let nr: NodeRedProcess | undefined;
  let datacake: DatacakeStandin | undefined;

  before(async () => {
    // The demo forwards to a local Datacake stand-in, which `npm start` runs beside Node-RED: so does this test.
    datacake = await startDatacakeStandin({ ...DEMO_DATACAKE, token: SECRETS.datacake });
    nr = await startNodeRed({});
  });

  after(async () => {
    await nr?.stop();
    await datacake?.stop();
  });

  it('the package ships at least one example', () => {
    assert.ok(examples.length > 0, 'no examples/**/*.json found');
  });

  it('no example holds credentials (a flow file is no place for a secret)', () => {
    const holding = examples.flatMap((ex) => (ex.flows as any[]).filter((n) => n && n.credentials !== undefined).map((n) => `${ex.name}: ${n.type} ${n.id}`));
    assert.deepEqual(holding, []);
  });

  it('every entry in test/e2e/expectations.ts belongs to an existing example', () => {
    const names = new Set(examples.map((e) => e.name));
    const stale = Object.keys(EXPECTATIONS).filter((k) => !names.has(k));
    assert.deepEqual(stale, [], `expectations without an example: ${stale.join(', ')} (examples: ${[...names].join(', ')})`);
  });

  for (const ex of examples) {
    it(`example "${ex.name}" deploys without errors and shows its documented result`, { timeout: 180_000 }, async (t) => {
      assert.ok(nr, 'node-red did not start');
      const { expectations, allowErrors } = resolveExample(ex);
      const comms = await openComms(nr.url);
      try {
        const mark = await deployAndWait(nr, deployable(ex.flows), 'full');
        await pressManualInjects(nr, ex.flows);
        await awaitExpectations(`example "${ex.name}"`, nr, comms, expectations, mark);
        // Stop the example again, so that errors raised while its nodes close are attributed to it.
        await deployAndWait(nr, [], 'full');
        reportWarnings(t, nr, mark);
        assertNoErrors(`example "${ex.name}"`, nr, comms, mark, allowErrors);
      } finally {
        await comms.close();
      }
    });
  }

  // Issue #4: the c8y-device examples "run against the npm start demo endpoint without editing". Deployed with the
  // demo they connect with its demo credentials, the bootstrap example registers through the demo's registration
  // node, and their data arrives at the demo's endpoint. Runs before the test below, which registers again otherwise.
  it('c8y-device examples against the demo endpoint: connect, register, data arrives', { timeout: 180_000 }, async (t) => {
    assert.ok(nr, 'node-red did not start');
    const pick = (name: string) => {
      const ex = examples.find((e) => e.name === name);
      assert.ok(ex, `example ${name} is missing`);
      return ex;
    };
    const set = ['demo', 'c8y-device/device', 'c8y-device/gateway', 'c8y-device/bootstrap', 'c8y-device/json-device'].map(pick);
    const expect = (ex: ExampleFile, e: DebugExpectation): ResolvedExpectation => {
      const d = (ex.flows as any[]).find((n) => n.type === 'debug' && n.name === e.debug);
      assert.ok(d, `example ${ex.name}: no debug node "${e.debug}"`);
      return { ...e, debugId: d.id, complete: String(d.complete || 'payload') === 'false' ? 'payload' : String(d.complete || 'payload') };
    };
    const [demo, device, gateway, bootstrap, jsonDevice] = set;
    const list = [
      expect(device, { debug: 'device connection', match: (s) => s?.fill === 'green' && /connected/.test(s.text) }),
      expect(gateway, { debug: 'gateway connection', match: (s) => s?.fill === 'green' && /connected/.test(s.text) }),
      expect(jsonDevice, { debug: 'device connection', match: (s) => s?.fill === 'green' && /connected/.test(s.text) }),
      // the JSON device's measurement (measurement/measurements/create) decoded into the same record, with its time
      expect(demo, { debug: 'measurement from the device', match: (p) => p?.messageId === 200 && p.values?.fragment === 'c8y_Temperature' && /^\d{4}-\d\d-\d\dT/.test(p.values?.time) }),
      // what the devices sent, as the demo's endpoint decoded it
      expect(demo, { debug: 'measurement from the device', match: (p) => p?.messageId === 200 && p.values?.fragment === 'c8y_Temperature' && !p.device }),
      expect(demo, { debug: 'measurement from the device', match: (p) => p?.messageId === 200 && p.device === 'c4d-child-1' }),
      expect(demo, { debug: 'measurement from the device', match: (p) => p?.messageId === 200 && p.device === 'c4d-child-2' }),
      // the bootstrap: accepted by the demo's allow-list, credentials issued, stored, and the device connects with them
      expect(demo, { debug: 'registrations', match: (m) => m?.topic === 'registration/registered' && m.payload?.deviceId === 'c4d-boot-01' && !('password' in m.payload) }),
      expect(bootstrap, { debug: 'credentials received', match: (p) => p?.tenant === 'edge' && p.username === 'device_c4d-boot-01' && !('password' in p) }),
      expect(bootstrap, { debug: 'registration status', match: (s) => s?.fill === 'green' && /^done: edge\/device_c4d-boot-01/.test(s.text) }),
    ];
    const comms = await openComms(nr.url);
    try {
      const mark = await deployAndWait(nr, deployable(set.flatMap((ex) => ex.flows)), 'full');
      await awaitExpectations('c8y-device examples with the demo', nr, comms, list, mark);
      await deployAndWait(nr, [], 'full');
      reportWarnings(t, nr, mark);
      assertNoErrors('c8y-device examples with the demo', nr, comms, mark, 0);
      assert.ok(!nr.log.slice(mark).some((l) => Object.values(SECRETS).some((secret) => l.includes(secret))), 'a password or token appeared in the log');
    } finally {
      await comms.close();
    }
  });

  it('all examples deployed together: no id clashes, no errors, every documented result', { timeout: 300_000 }, async (t) => {
    assert.ok(nr, 'node-red did not start');
    const owner = new Map<string, string>();
    const clashes: string[] = [];
    for (const ex of examples) {
      for (const n of ex.flows as any[]) {
        const prev = owner.get(n.id);
        if (prev !== undefined && prev !== ex.name) clashes.push(`${n.id} (${prev} and ${ex.name})`);
        owner.set(n.id, ex.name);
      }
    }
    assert.deepEqual(clashes, [], `node ids used by more than one example: ${clashes.join(', ')}`);

    // Examples whose expectations are missing or invalid are reported by their own test above;
    // here they are still deployed (for clashes and errors), just without result checks.
    const resolved: { ex: ExampleFile; expectations: ResolvedExpectation[]; allowErrors: number }[] = [];
    for (const ex of examples) {
      try {
        resolved.push({ ex, ...resolveExample(ex) });
      } catch (err) {
        t.diagnostic(`not checking the results of "${ex.name}": ${(err as Error).message.split('\n')[0]}`);
        resolved.push({ ex, expectations: [], allowErrors: 0 });
      }
    }
    const all = examples.flatMap((ex) => ex.flows);
    const comms = await openComms(nr.url);
    try {
      const mark = await deployAndWait(nr, deployable(all), 'full');
      for (const r of resolved) await pressManualInjects(nr, r.ex.flows);
      for (const r of resolved) await awaitExpectations(`all examples together, "${r.ex.name}"`, nr, comms, r.expectations, mark);
      await deployAndWait(nr, [], 'full');
      reportWarnings(t, nr, mark);
      assertNoErrors('all examples together', nr, comms, mark, resolved.reduce((s, r) => s + r.allowErrors, 0));
    } finally {
      await comms.close();
    }
  });
});
