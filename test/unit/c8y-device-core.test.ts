/** Device-side Cumulocity core (src/c8y): ClientId, CONNACK policy, startup lines, operation FIFO, bootstrap, credential store. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { brokerUrl, checkDeviceId, deviceClientId, mqttUsername } from '../../src/c8y/clientid';
import { connackInfo, describeRefusal, retryRefused } from '../../src/c8y/connack';
import { parseChildren, parseList, startupMessages } from '../../src/c8y/startup';
import { FragmentQueues, MAX_REASON_BYTES, operationOf, queueKey, readResult, statusLines, truncateUtf8 } from '../../src/c8y/operations';
import { parseCredentials, pollDelay } from '../../src/c8y/bootstrap';
import { CredentialStore, STORE_FILE } from '../../src/c8y/credstore';
import { parseCollection } from '../../src/smartrest/custom';
import { decodePayload } from '../../src/smartrest/message';

describe('c8y clientid', () => {
  it('builds d:<id> and d:<id>:<xid>, refuses ":"', () => {
    assert.equal(deviceClientId('dev1'), 'd:dev1');
    assert.equal(deviceClientId('dev1', 'tpl'), 'd:dev1:tpl');
    assert.throws(() => deviceClientId('a:b'), /":"/);
    assert.match(checkDeviceId('')!, /empty/);
    assert.equal(checkDeviceId('ok-1'), undefined);
  });
  it('username is <tenant>/<user>; a stored full username is kept', () => {
    assert.equal(mqttUsername('t123', 'alice'), 't123/alice');
    assert.equal(mqttUsername('t123', 't9/device_x'), 't9/device_x');
    assert.equal(mqttUsername('', 'alice'), 'alice');
    assert.equal(mqttUsername('t1', ''), undefined);
  });
  it('broker URL defaults: TLS 8883, ws on /mqtt', () => {
    assert.equal(brokerUrl('h', 'mqtts'), 'mqtts://h:8883');
    assert.equal(brokerUrl('h', 'mqtt'), 'mqtt://h:1883');
    assert.equal(brokerUrl('h', 'wss'), 'wss://h:443/mqtt');
    assert.equal(brokerUrl('h', 'mqtt', 1884), 'mqtt://h:1884');
  });
});

describe('c8y connack', () => {
  it('3 and 5 retry, 1, 2 and 4 stop', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map(retryRefused), [false, false, true, false, true]);
    // the status says what it means and, in a few words, what to do
    assert.equal(describeRefusal(4), 'CONNACK 4 bad username or password: check tenant, user, password (not retried)');
    assert.equal(describeRefusal(5), 'CONNACK 5 not authorised: check permissions');
    for (const code of [1, 2, 3, 4, 5]) assert.match(describeRefusal(code), new RegExp(`^CONNACK ${code} [a-z ]+: [a-z ,]+`));
    assert.match(connackInfo(4).action, /redeploy or new credentials/);
  });
});

describe('c8y startup', () => {
  it('lines 100, 101, 110, 114, 117 in order, then s/ut', () => {
    const collection = parseCollection('tpl', '10,999,POST,MEASUREMENT,,c8y_X,,c8y_X.v.value,NUMBER,');
    const msgs = startupMessages({ name: 'Dev', type: 'c8y_NR', children: parseChildren('c1,Child 1\nc2'), hardware: { serialNumber: 'S1', model: 'M', revision: '1' }, operations: parseList('c8y_Restart, c8y_Command'), requiredInterval: 10, collection });
    assert.equal(msgs[0].topic, 's/us');
    assert.deepEqual(msgs[0].payload.split('\n').map((l) => l.split(',')[0]), ['100', '101', '101', '110', '114', '117']);
    assert.match(msgs[0].payload, /^100,Dev,c8y_NR\n101,c1,Child 1,c8y_MQTTChildDevice\n101,c2,c2,c8y_MQTTChildDevice\n110,S1,M,1\n114,c8y_Restart,c8y_Command\n117,10$/);
    assert.equal(msgs[1].topic, 's/ut/tpl');
    assert.match(msgs[1].payload, /^10,999,POST/);
    assert.deepEqual(startupMessages({}), []);
  });
});

describe('c8y operations', () => {
  it('operationOf reads fragment and target', () => {
    const { records } = decodePayload('510,dev1\n511,child1,"ls -l"\n106,c1', 's/ds');
    assert.deepEqual(operationOf(records[0]), { fragment: 'c8y_Restart', device: 'dev1' });
    assert.deepEqual(operationOf(records[1]), { fragment: 'c8y_Command', device: 'child1' });
    assert.equal(operationOf(records[2]), undefined);
  });
  it('one at a time per fragment, in arrival order', () => {
    const released: string[] = [];
    const q = new FragmentQueues<{ fragment: string; device: string; n: string }>(queueKey, (i) => released.push(i.n));
    q.push({ fragment: 'c8y_Command', device: 'd', n: 'a' });
    q.push({ fragment: 'c8y_Command', device: 'd', n: 'b' });
    q.push({ fragment: 'c8y_Restart', device: 'd', n: 'c' });
    q.push({ fragment: 'c8y_Command', device: 'child', n: 'd' });
    assert.deepEqual(released, ['a', 'c', 'd']);
    assert.equal(q.done(queueKey({ fragment: 'c8y_Command', device: 'd' }), (i) => i.n === 'b'), false);
    assert.equal(q.done(queueKey({ fragment: 'c8y_Command', device: 'd' })), true);
    assert.deepEqual(released, ['a', 'c', 'd', 'b']);
    assert.equal(q.size, 3);
  });
  it('a queue holds at most maxPerKey items per key; inProgress lists the heads', () => {
    const q = new FragmentQueues<{ fragment: string; device: string; n: number }>(queueKey, () => undefined, 3);
    const pos = [0, 1, 2, 3].map((n) => q.push({ fragment: 'c8y_Command', device: 'd', n }));
    assert.deepEqual(pos, [0, 1, 2, -1]);
    q.push({ fragment: 'c8y_Restart', device: 'd', n: 9 });
    assert.deepEqual(q.inProgress().map((i) => i.n), [0, 9]);
  });
  it('a failure reason is cut to 500 UTF-8 bytes on a character boundary', () => {
    assert.equal(truncateUtf8('abc', 2), 'ab');
    assert.equal(truncateUtf8('aä', 2), 'a');
    assert.equal(truncateUtf8('😀x', 3), '');
    const long = 'ä'.repeat(600);
    const [line] = statusLines({ fragment: 'c8y_Restart', device: 'dev1' }, { status: 'FAILED', reason: long }, 'dev1');
    const reason = line.payload.slice('502,c8y_Restart,'.length);
    assert.equal(Buffer.byteLength(reason), MAX_REASON_BYTES);
    assert.equal(reason, 'ä'.repeat(250));
  });
  it('results become 503/502/501 on the right topic', () => {
    assert.deepEqual(statusLines({ fragment: 'c8y_Command', device: 'dev1' }, readResult({ status: 'SUCCESSFUL', result: ['done ok'] }), 'dev1').map((p) => [p.topic, p.payload]), [['s/us', '503,c8y_Command,done ok']]);
    assert.deepEqual(statusLines({ fragment: 'c8y_RelayArray', device: 'c1' }, readResult({ status: 'SUCCESSFUL', result: ['OPEN', 'CLOSED'] }), 'dev1').map((p) => [p.topic, p.payload]), [['s/us/c1', '503,c8y_RelayArray,OPEN,CLOSED']]);
    assert.deepEqual(statusLines({ fragment: 'c8y_Restart', device: 'dev1' }, readResult({ status: 'failed', reason: 'no, "never"' }), 'dev1').map((p) => p.payload), ['502,c8y_Restart,"no, \\"never\\""']);
    assert.deepEqual(statusLines({ fragment: 'c8y_Restart', device: 'dev1' }, readResult({ status: 'EXECUTING' }), 'dev1').map((p) => p.payload), ['501,c8y_Restart']);
    assert.throws(() => readResult('ok'), /msg.payload/);
    assert.throws(() => readResult({ status: 'DONE' }), /SUCCESSFUL/);
  });
});

describe('c8y bootstrap', () => {
  it('poll schedule: interval, backoff after a long wait, limit', () => {
    assert.equal(pollDelay(0), 0);
    assert.equal(pollDelay(1), 5000);
    assert.equal(pollDelay(60), 5000);
    assert.equal(pollDelay(61), 10000);
    assert.equal(pollDelay(70), 60000);
    assert.equal(pollDelay(3, { limit: 3 }), undefined);
    assert.equal(pollDelay(2, { intervalS: 1, slowAfter: 1, maxIntervalS: 3 }), 2000);
  });
  it('parses 70 (quoted password too)', () => {
    assert.deepEqual(parseCredentials('70,t123,device_d1,"pa,ss"'), { tenant: 't123', username: 'device_d1', password: 'pa,ss' });
    assert.equal(parseCredentials('71,token'), undefined);
    assert.equal(parseCredentials(''), undefined);
  });
  it('credential store: encrypted, keyed by node and device, wrong secret reads nothing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c8y-cred-'));
    try {
      const s = new CredentialStore(dir, 'secret');
      s.set('n1', 'd1', { tenant: 't1', username: 'u1', password: 'p1' });
      assert.deepEqual({ ...s.get('n1', 'd1'), at: undefined }, { tenant: 't1', username: 'u1', password: 'p1', at: undefined });
      assert.equal(s.get('n1', 'd2'), undefined);
      assert.equal(new CredentialStore(dir, 'other').get('n1', 'd1'), undefined);
      assert.doesNotMatch(fs.readFileSync(path.join(dir, STORE_FILE), 'utf8'), /p1|u1/);
      s.delete('n1', 'd1');
      assert.equal(s.get('n1', 'd1'), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('c8y tls problems', () => {
  it('names the certificate problem and what to do; ordinary network errors are not TLS problems', async () => {
    const { tlsProblem } = await import('../../src/c8y/tls');
    assert.equal(tlsProblem({ code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' }, 'h')?.status, 'TLS: server certificate not trusted (unknown CA)');
    assert.equal(tlsProblem({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: '' }, 'h')?.status, 'TLS: server certificate not trusted (unknown CA)');
    assert.equal(tlsProblem({ code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }, 'h')?.status, 'TLS: server certificate expired');
    assert.equal(tlsProblem({ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }, 'mqtt.example')?.status, 'TLS: server certificate is not for host mqtt.example');
    assert.equal(tlsProblem({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', message: 'tlsv13 alert certificate required' }, 'h')?.status, 'TLS: the server refused the client certificate');
    assert.match(tlsProblem({ code: 'CERT_HAS_EXPIRED', message: '' }, 'h')!.log, /^TLS handshake with h failed: server certificate expired \(CERT_HAS_EXPIRED\)\..*retrying with backoff/);
    for (const e of [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, { code: 'ECONNRESET', message: 'read ECONNRESET' }, { message: 'Protocol error' }, undefined]) assert.equal(tlsProblem(e as never, 'h'), undefined);
  });
});
