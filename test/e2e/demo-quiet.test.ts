/**
 * Issue #15 item 4: a normal deploy and a redeploy of the demo (examples/demo.json, as `npm start` deploys it) log no
 * warning: the in-process clients start before the in-process endpoint listens (a refused connection in the first
 * seconds is a status, not a warning), a redeploy resets their connections (expected, not a warning), and nothing
 * of the user's is lost when the bridge stops. Item 6: the demo runs next to a broker already on 1883 and none of
 * its clients goes there. Uses fixed ports (the demo's, 1883): run under `flock /tmp/fixed-ports.lock`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Comms, type DebugEntry, type NodeRedProcess, decodeDebugValue, deployAndWait, formatLog, listExamples, openComms, startNodeRed } from '../support/nodered';
import { startDatacakeStandin, type DatacakeStandin } from '../../src/standin/datacake-broker';
import mqtt from 'mqtt';
import { DEMO_DATACAKE, DEMO_ENDPOINT, exampleCredentials, randomSecrets, withCredentials } from '../../scripts/demo-config';
import { mosquittoAvailable, startMosquitto, type Mosquitto } from '../support/mosquitto';

const SECRETS = randomSecrets();
const demo = listExamples().find((e) => e.name === 'demo');

/** The demo runs end to end: the bridge forwarded with both sides connected, and a Datacake field came back. */
async function demoRuns(comms: Comms, since: number): Promise<void> {
  const debugId = (name: string) => (demo!.flows as any[]).find((n) => n.type === 'debug' && n.name === name)?.id;
  const stats = debugId('bridge stats');
  const field = debugId('Datacake field');
  assert.ok(stats && field, 'the demo has its "bridge stats" and "Datacake field" debug nodes');
  const fresh = (m: DebugEntry) => comms.messages.indexOf(m) >= since;
  await comms.waitFor((m) => fresh(m) && m.id === stats && ((p: any) => p?.rules?.[0]?.forwarded > 0 && p.connections?.source === 'connected' && p.connections?.target === 'connected')(decodeDebugValue(m)), 60_000);
  await comms.waitFor((m) => fresh(m) && m.id === field, 60_000);
}

describe('the demo deploys quietly', { concurrency: false }, () => {
  let nr: NodeRedProcess | undefined;
  let datacake: DatacakeStandin | undefined;

  before(async () => {
    datacake = await startDatacakeStandin({ ...DEMO_DATACAKE, token: SECRETS.datacake });
    nr = await startNodeRed({});
  });
  after(async () => {
    await nr?.stop();
    await datacake?.stop();
  });

  it('deploy, redeploy and stop of the demo: no warning in the log or the debug sidebar', { timeout: 240_000 }, async () => {
    assert.ok(nr && demo, 'node-red and the demo');
    const flows = withCredentials(demo.flows as any[], exampleCredentials(SECRETS));
    const comms = await openComms(nr.url);
    try {
      const mark = await deployAndWait(nr, flows, 'full');
      await demoRuns(comms, 0);
      const again = comms.messages.length;
      await deployAndWait(nr, flows, 'full'); // a redeploy: every node stops and starts again
      await demoRuns(comms, again);
      await deployAndWait(nr, [], 'full');
      const warnings = nr.log.slice(mark).filter((l) => /\[warn\]/.test(l));
      const sidebar = comms.messages.filter((m) => m.level === 30 || m.level === 20).map((m) => `${m.type ?? ''} ${m.name || m.id}: ${m.msg}`);
      assert.deepEqual(warnings, [], `warnings in the log:\n${formatLog(nr.log, mark)}`);
      assert.deepEqual(sidebar, [], 'warnings or errors in the debug sidebar');
    } finally {
      await comms.close();
    }
  });

  it('next to a broker already on 1883 the demo runs, and none of its clients connects to that broker', { timeout: 240_000, skip: !mosquittoAvailable() && 'no mosquitto' }, async () => {
    assert.ok(nr && demo, 'node-red and the demo');
    const ports = (demo.flows as any[]).filter((n) => n.port !== undefined).map((n) => Number(n.port));
    assert.ok(ports.includes(DEMO_ENDPOINT.port), `the demo endpoint is on ${DEMO_ENDPOINT.port} (scripts/demo-config.js)`);
    assert.ok(!ports.includes(1883), `no demo node uses 1883: ${ports.join(', ')}`);
    let foreign: Mosquitto | undefined;
    foreign = await startMosquitto({ port: 1883 });
    const watcher = await mqtt.connectAsync(foreign.url, { clientId: 'foreign-watcher' });
    const seen: string[] = [];
    watcher.on('message', (topic) => seen.push(topic));
    await watcher.subscribeAsync('#');
    const comms = await openComms(nr.url);
    try {
      const mark = await deployAndWait(nr, withCredentials(demo.flows as any[], exampleCredentials(SECRETS)), 'full');
      await demoRuns(comms, 0);
      await deployAndWait(nr, [], 'full');
      assert.deepEqual(seen, [], 'the demo published to the foreign broker on 1883');
      assert.deepEqual(nr.errorsSince(mark), [], `errors:\n${formatLog(nr.log, mark)}`);
    } finally {
      await comms.close();
      await watcher.endAsync(true);
      await foreign.stop();
    }
  });
});
