/** Issue 18 #4: the pure JSON via MQTT mapping (src/c8y/json.ts) and #3: results by operation id, 507. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jsonTopic, parseJsonError, parseJsonTopic, parseOperations, recordToJson } from '../../src/c8y/json';
import { checkOperationId, failExecutingLines, statusLines, statusLinesById } from '../../src/c8y/operations';

const now = () => '2026-12-04T10:00:00.000Z';

describe('c8y json topics', () => {
  it('persistent has no prefix, t/q/c prefix the topic; update needs an id, create takes none', () => {
    assert.equal(jsonTopic('measurement/measurements', 'create'), 'measurement/measurements/create');
    assert.equal(jsonTopic('event/events', 'create', 't'), 't/event/events/create');
    assert.deepEqual(parseJsonTopic('q/measurement/measurements/create'), { mode: 'q', resource: 'measurement/measurements', action: 'create' });
    assert.deepEqual(parseJsonTopic('inventory/managedObjects/update/dev1'), { mode: 's', resource: 'inventory/managedObjects', action: 'update', id: 'dev1' });
    for (const bad of ['s/us', 'measurement/measurements/update', 'event/events/create/5', 'x/event/events/create', 'inventory/managedObjects/update/#', 'devicecontrol/notifications']) assert.equal(parseJsonTopic(bad), undefined, bad);
  });
});

describe('c8y json records', () => {
  it('200 → measurement as the REST API body, value a number, time filled', () => {
    assert.deepEqual(recordToJson({ messageId: 200, values: { fragment: 'c8y_Temperature', series: 'T', value: 21.5, unit: 'C' } }, { deviceId: 'd1', now }), {
      topic: 'measurement/measurements/create',
      body: { type: 'c8y_Temperature', time: now(), c8y_Temperature: { T: { value: 21.5, unit: 'C' } } },
    });
    assert.equal(recordToJson(['200', 'f', 's', '1', '', '2026-01-01T00:00:00Z'], { deviceId: 'd1', mode: 'q', now }).topic, 'q/measurement/measurements/create');
    assert.equal(recordToJson(['200', 'f', 's', '1', '', '2026-01-01T00:00:00Z'], { deviceId: 'd1', now }).body.time, '2026-01-01T00:00:00Z');
  });
  it('400 → event, 301–304 → alarm with severity, 100 → create, 110/114 → update of the device by external id', () => {
    assert.deepEqual(recordToJson(['400', 'c8y_Door', 'opened'], { deviceId: 'd1', mode: 't', now }), { topic: 't/event/events/create', body: { type: 'c8y_Door', text: 'opened', time: now() } });
    assert.deepEqual(recordToJson(['302', 'c8y_Heat', 'hot'], { deviceId: 'd1', now }).body, { type: 'c8y_Heat', text: 'hot', severity: 'MAJOR', time: now() });
    assert.equal(recordToJson(['304', 'c8y_X'], { deviceId: 'd1', now }).body.severity, 'WARNING');
    assert.deepEqual(recordToJson(['100', 'Dev', 'c8y_T'], { deviceId: 'd1' }), { topic: 'inventory/managedObjects/create', body: { name: 'Dev', type: 'c8y_T', c8y_IsDevice: {} } });
    assert.deepEqual(recordToJson(['110', 'S1', 'M', '2'], { deviceId: 'd1' }), { topic: 'inventory/managedObjects/update/d1', body: { c8y_Hardware: { serialNumber: 'S1', model: 'M', revision: '2' } } });
    assert.deepEqual(recordToJson(['114', 'c8y_Restart', 'c8y_Command'], { deviceId: 'd1' }).body, { c8y_SupportedOperations: ['c8y_Restart', 'c8y_Command'] });
  });
  it('bad input: unmapped ids, bad values, q/c on inventory and alarms are refused with a reason', () => {
    assert.throws(() => recordToJson(['211', '20'], { deviceId: 'd1' }), /211 has no JSON mapping.*SmartREST/);
    assert.throws(() => recordToJson(['200', 'f', 's', 'abc'], { deviceId: 'd1' }), /value|number/);
    assert.throws(() => recordToJson(['301', 'x'], { deviceId: 'd1', mode: 'c' }), /measurements and events only/);
    assert.throws(() => recordToJson(['110', 'S'], { deviceId: 'd1', mode: 'q' }), /measurements and events only/);
    assert.throws(() => recordToJson({ messageId: 200, values: {} }, { deviceId: 'd1' }), /fragment|mandatory|missing/i);
  });
});

describe('c8y json downstream', () => {
  it('devicecontrol/notifications: one operation or several; id, fragment and the external id of the target', () => {
    const op = { id: '4711', deviceId: '123', status: 'PENDING', description: 'Restart', externalSource: { externalId: 'd1', type: 'c8y_Serial' }, c8y_Restart: {} };
    assert.deepEqual(parseOperations(JSON.stringify(op)), { operations: [{ id: '4711', fragment: 'c8y_Restart', device: 'd1', body: op }], issues: [] });
    const two = parseOperations(Buffer.from(JSON.stringify([op, { ...op, id: 12, c8y_Restart: undefined, c8y_Command: { text: 'ls' } }])));
    assert.deepEqual(two.operations.map((o) => [o.id, o.fragment]), [['4711', 'c8y_Restart'], ['12', 'c8y_Command']]);
  });
  it('broken notifications are reported, not guessed', () => {
    assert.match(parseOperations('{not json').issues[0], /not JSON/);
    assert.match(parseOperations('{"c8y_Restart":{}}').issues[0], /no id/);
    assert.match(parseOperations('{"id":"1","status":"PENDING","deviceId":"5"}').issues[0], /no operation fragment/);
    assert.match(parseOperations('[1]').issues[0], /not an operation object/);
  });
  it('error topic: {error, message, messageId}; anything else kept as raw text', () => {
    assert.deepEqual(parseJsonError('{"error":"undefined/validationError","message":"time missing","messageId":"42"}'), { error: 'undefined/validationError', message: 'time missing', messageId: '42' });
    assert.deepEqual(parseJsonError('oops'), { error: '', message: 'oops', raw: 'oops' });
  });
});

describe('c8y operations by id', () => {
  it('504/505/506 by id on s/us or the owning child topic; a result with an operationId goes by id', () => {
    assert.deepEqual(statusLinesById('4711', { status: 'EXECUTING' }).map((p) => [p.topic, p.payload]), [['s/us', '504,4711']]);
    assert.deepEqual(statusLinesById('4711', { status: 'FAILED', reason: 'no, sorry' }, 'c1').map((p) => [p.topic, p.payload]), [['s/us/c1', '505,4711,"no, sorry"']]);
    assert.deepEqual(statusLinesById('4711', { status: 'SUCCESSFUL', result: ['a', 2] }).map((p) => p.payload), ['506,4711,a,2']);
    assert.deepEqual(statusLines({ fragment: 'c8y_Restart', device: 'd1', operationId: '9' }, { status: 'SUCCESSFUL' }, 'd1').map((p) => p.payload), ['506,9']);
  });
  it('operation ids are digits; 507 with or without a fragment', () => {
    assert.equal(checkOperationId(42), '42');
    for (const bad of ['', 'abc', '1,2', '12\n503', -1, 1.5, null]) assert.throws(() => checkOperationId(bad), /operation id/);
    assert.deepEqual(failExecutingLines('c8y_Restart', 'agent restarted').map((p) => [p.topic, p.payload]), [['s/us', '507,c8y_Restart,agent restarted']]);
    assert.deepEqual(failExecutingLines(undefined, 'crash', 'c1').map((p) => [p.topic, p.payload]), [['s/us/c1', '507,,crash']]);
    assert.throws(() => failExecutingLines('bad,frag', ''), /fragment/);
  });
});
