/** The endpoint's side of JSON via MQTT (src/c8y/json.ts) and response templates (src/smartrest/responses.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jsonToRecords, operationToJson, parseJsonTopic, parseOperations, recordToJson } from '../../src/c8y/json';
import { responseRecords } from '../../src/smartrest/responses';

const read = (topic: string, body: unknown) => jsonToRecords(parseJsonTopic(topic)!, typeof body === 'string' ? body : JSON.stringify(body));

describe('JSON → SmartREST records (endpoint)', () => {
  it('reads back what the device side writes', () => {
    const opts = { deviceId: 'd1', now: () => '2026-01-01T00:00:00.000Z' };
    for (const rec of [['200', 'c8y_T', 'T', '21.5', 'C', '2026-01-01T00:00:00.000Z'], ['400', 'c8y_E', 'text', '2026-01-01T00:00:00.000Z'], ['303', 'c8y_A', 'open', '2026-01-01T00:00:00.000Z'], ['110', 'SN', 'M', '1'], ['114', 'c8y_Restart']]) {
      const m = recordToJson(rec, opts);
      assert.deepEqual(read(m.topic, m.body).records, [rec], m.topic);
    }
  });
  it('refuses bad bodies with a reason', () => {
    assert.match(read('measurement/measurements/create', '{').error!, /not JSON/);
    assert.match(read('measurement/measurements/create', [1]).error!, /one JSON object/);
    assert.match(read('measurement/measurements/create', { c8y_T: { T: { value: 'x' } } }).error!, /must be a number/);
    assert.match(read('measurement/measurements/create', { type: 't' }).error!, /at least one fragment/);
    assert.match(read('alarm/alarms/create', { type: 't', severity: 'LOUD' }).error!, /severity/);
    assert.match(read('q/alarm/alarms/create', { type: 't', severity: 'MAJOR' }).error!, /processing mode q/);
    assert.match(read('event/events/create', { text: 'x' }).error!, /needs a type/);
    assert.match(read('measurement/measurements/createBulk', {}).error!, /not supported/);
  });
  it('writes operations that the device side reads', () => {
    const body = operationToJson({ id: '7', target: 'd1', fragment: 'c8y_Command', status: 'PENDING', created: 'now', values: { command: 'ls' } });
    const [op] = parseOperations(JSON.stringify(body)).operations;
    assert.deepEqual([op.id, op.fragment, op.device, body.c8y_Command], ['7', 'c8y_Command', 'd1', { text: 'ls' }]);
  });
});

describe('response templates', () => {
  it('give the documented example lines', () => {
    const op = { deviceId: '1', c8y_CustomConfiguration: { val1: '1', val2: '2', customValues: ['a', 'b', 'c'] } };
    const t = [
      { messageId: '111', base: 'c8y_CustomConfiguration', condition: 'deviceId', patterns: ['val1', 'val2', 'customValues[*]'] },
      { messageId: '333', base: '', condition: '', patterns: ['x', 'y', 'z'] },
      { messageId: '444', base: '', condition: 'nope', patterns: ['x'] },
    ];
    assert.deepEqual(responseRecords(t, op, 'myMqttTestDevice'), [['111', 'myMqttTestDevice', '1', '2', 'a', 'b', 'c'], ['333', 'myMqttTestDevice', '', '', '']]);
  });
});

describe('ACL of the JSON topics', () => {
  it('devices publish the upstream JSON topics and subscribe devicecontrol/notifications and error; nothing else', async () => {
    const { devicePublish, deviceSubscribe } = await import('../../src/endpoint/acl.js');
    for (const t of ['measurement/measurements/create', 't/event/events/create', 'alarm/alarms/create', 'inventory/managedObjects/create', 'inventory/managedObjects/update/x']) {
      assert.equal(devicePublish('device', t).allow, true, t);
      assert.equal(devicePublish('bootstrap', t).allow, false, t);
    }
    for (const t of ['devicecontrol/notifications', 'error', 'inventory/managedObjects/update', 'measurement/measurements/create/1', 'x/measurement/measurements/create']) {
      assert.equal(devicePublish('device', t).allow, false, t);
    }
    for (const t of ['devicecontrol/notifications', 'error']) {
      assert.equal(deviceSubscribe('device', t), undefined, t);
      assert.ok(deviceSubscribe('bootstrap', t), t);
    }
    for (const t of ['devicecontrol/#', 'measurement/measurements/create', '+/notifications']) assert.ok(deviceSubscribe('device', t), t);
  });
});
