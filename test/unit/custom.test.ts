import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from '../../src/smartrest/codec';
import { collectionLookups, parseCollection, registrationPayload } from '../../src/smartrest/custom';
import { decodePayload, encodeRecords } from '../../src/smartrest/message';

const TEMPLATES = [
  '10,999,POST,MEASUREMENT,,c8y_MyMeasurement,,c8y_MyMeasurement.M.value,NUMBER,',
  '10,ev1,POST,EVENT,,c8y_MyEvent,,,c8y_Extra.count,INTEGER,',
  '10,op1,PUT,OPERATION,,c8y_Restart,c8y_Restart.note,STRING,',
  '10,inv1,GET,INVENTORY,true,false,c8y_Serial',
  '11,111,c8y_CustomConfiguration,deviceId,val1,val2,customValues[*]',
  '11,222,,,c8y_Name,c8y_Serial',
].join('\n');

describe('custom templates (SmartREST 2.0)', () => {
  const collection = parseCollection('myTemplates-v1', TEMPLATES);

  it('reads request and response templates', () => {
    assert.deepEqual(collection.requests.map((t) => [t.messageId, t.method, t.api]), [
      ['999', 'POST', 'MEASUREMENT'],
      ['ev1', 'POST', 'EVENT'],
      ['op1', 'PUT', 'OPERATION'],
      ['inv1', 'GET', 'INVENTORY'],
    ]);
    assert.deepEqual(collection.responses[0], { messageId: '111', base: 'c8y_CustomConfiguration', condition: 'deviceId', patterns: ['val1', 'val2', 'customValues[*]'] });
  });

  it('produces the s/ut registration payload that reads back to the same lines', () => {
    assert.deepEqual(parse(registrationPayload(collection)), parse(TEMPLATES));
  });

  it('names the values a device must send, in definition order', () => {
    const { request } = collectionLookups(collection);
    assert.deepEqual(request('999')!.fields.map((f) => [f.name, f.kind]), [['time', 'date'], ['c8y_MyMeasurement.M.value', 'number']]);
    assert.deepEqual(request('ev1')!.fields.map((f) => f.name), ['text', 'time', 'c8y_Extra.count']);
    assert.deepEqual(request('op1')!.fields.map((f) => f.name), ['c8y_Restart.note']);
    assert.deepEqual(request('inv1')!.fields.map((f) => f.name), ['externalId']);
  });

  it('encodes named custom records for s/uc/<X-ID> and keeps static ones on s/us', () => {
    const out = encodeRecords(
      [
        { messageId: '999', xid: 'myTemplates-v1', values: { 'c8y_MyMeasurement.M.value': 25 } },
        { messageId: 'ev1', values: { text: 'door, opened', 'c8y_Extra.count': 3 } },
        { messageId: 211, values: { value: 21 } },
      ],
      { collection, child: 'c1' },
    );
    assert.deepEqual(out.map((o) => [o.topic, o.payload, o.records]), [
      ['s/uc/myTemplates-v1/c1', '999,,25\nev1,"door, opened",,3', [0, 1]],
      ['s/us/c1', '211,21', [2]],
    ]);
  });

  it('refuses wrong values in custom records, naming the field', () => {
    assert.throws(() => encodeRecords([{ messageId: '999', values: { 'c8y_MyMeasurement.M.value': 'warm' } }], { collection }), /c8y_MyMeasurement\.M\.value/);
    assert.throws(() => encodeRecords([{ messageId: '999', xid: 'other', values: {} }], { collection }), /collection "other"/);
  });

  it('decodes responses on s/dc/<X-ID> with the response templates', () => {
    const { records } = decodePayload('111,myMqttTestDevice,1,2,a,b,c\n222,"My device",SN-1', 's/dc/myTemplates-v1', { collection });
    assert.equal(records[0].messageId, 111);
    assert.equal(records[0].device, 'myMqttTestDevice');
    assert.deepEqual(records[0].values, { val1: '1', val2: '2', customValues: ['a', 'b', 'c'] });
    assert.deepEqual(records[1].values, { c8y_Name: 'My device', c8y_Serial: 'SN-1' });
    assert.equal(records[1].device, undefined);
  });

  it('rejects malformed collections with the line that is wrong', () => {
    assert.throws(() => parseCollection('X', '10,1,DELETE,MEASUREMENT,'), /line 1: DELETE MEASUREMENT is not a supported combination/);
    assert.throws(() => parseCollection('X', '10,1,POST,MEASUREMENT,,t,,a.b,NUMBER'), /triples/);
    assert.throws(() => parseCollection('X', '10,1,POST,MEASUREMENT,,t,,a.b,FLOAT,'), /unknown value type/);
    assert.throws(() => parseCollection('X', '11,1,a\n11,1,b'), /defined twice/);
    assert.throws(() => parseCollection('X', '12,1'), /expected a 10/);
    assert.throws(() => parseCollection('a/b', '11,1'), /X-ID/);
  });
});
