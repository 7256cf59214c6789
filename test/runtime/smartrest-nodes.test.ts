/** smartrest-encode / smartrest-decode in a real Node-RED runtime (node-red-node-test-helper). */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { helper, catchNode, collect, TAB, settle } from '../support/flow';
import encodeNode = require('../../src/nodes/smartrest-encode/runtime');
import decodeNode = require('../../src/nodes/smartrest-decode/runtime');
import type { SmartRestEncodeOutput } from '../../src/nodes/smartrest-encode/types';
import type { SmartRestDecodeOutput } from '../../src/nodes/smartrest-decode/types';
import { parse } from '../../src/smartrest/codec';

const nodes = [encodeNode, decodeNode, catchNode];

function flow(type: string, config: Record<string, unknown> = {}) {
  return [
    { id: TAB, type: 'tab' },
    { id: 'n1', z: TAB, type, name: 'under test', ...config, wires: [['out']] },
    { id: 'out', z: TAB, type: 'helper' },
    { id: 'c1', z: TAB, type: 'catch', scope: ['n1'], wires: [['caught']] },
    { id: 'caught', z: TAB, type: 'helper' },
  ];
}

async function setup(type: string, config: Record<string, unknown> = {}) {
  await helper.load(nodes, flow(type, config));
  const n1 = helper.getNode('n1');
  return { n1, out: collect(helper.getNode('out')), caught: collect(helper.getNode('caught')) };
}

before(() => new Promise<void>((resolve) => helper.startServer(() => resolve())));
after(() => new Promise<void>((resolve) => helper.stopServer(() => resolve())));
afterEach(() => helper.unload());

describe('smartrest-encode node', () => {
  it('encodes named, raw and array records into one message on s/us', async () => {
    const { n1, out } = await setup('smartrest-encode');
    n1.receive({
      payload: [
        { messageId: 200, values: { fragment: 'c8y_Temperature', series: 'T', value: 21.5, unit: 'C' } },
        { messageId: 301, fields: ['c8y_DoorAlarm', 'Door "A" open'] },
        ['400', 'c8y_Tick', 'tick, tock'],
      ],
    });
    const [msg] = (await out.next(1)) as SmartRestEncodeOutput[];
    assert.equal(msg.topic, 's/us');
    assert.equal(msg.payload, '200,c8y_Temperature,T,21.5,C\n301,c8y_DoorAlarm,"Door \\"A\\" open"\n400,c8y_Tick,"tick, tock"');
    assert.deepEqual(msg.smartrest, { records: [0, 1, 2], truncated: [] });
  });

  it('takes mode and child device from the message over the node', async () => {
    const { n1, out } = await setup('smartrest-encode', { mode: 's', device: 'node-child', quote: 'double' });
    n1.receive({ payload: { messageId: 400, values: { type: 'c8y_X', text: 'say "hi"' } }, mode: 't', device: 'msg-child' });
    n1.receive({ payload: ['211', 20] });
    const [a, b] = (await out.next(2)) as SmartRestEncodeOutput[];
    assert.deepEqual([a.topic, a.payload], ['t/us/msg-child', '400,c8y_X,"say ""hi"""']);
    assert.deepEqual([b.topic, b.payload], ['s/us/node-child', '211,20']);
  });

  it('splits records over several messages at the publish limit', async () => {
    const { n1, out } = await setup('smartrest-encode', { maxBytes: 1000 });
    const records = Array.from({ length: 12 }, (_, i) => ({ messageId: 400, values: { type: 'c8y_Log', text: `entry ${i} ` + 'x'.repeat(200) } }));
    n1.receive({ payload: records });
    await settle();
    const msgs = out.received as SmartRestEncodeOutput[];
    assert.ok(msgs.length >= 3, `expected several messages, got ${msgs.length}`);
    for (const m of msgs) assert.ok(Buffer.byteLength(m.payload) + Buffer.byteLength(m.topic) + 7 <= 1000);
    assert.deepEqual(msgs.flatMap((m) => m.smartrest.records), records.map((_, i) => i));
    assert.equal(msgs.flatMap((m) => parse(m.payload)).length, 12);
  });

  it('shortens free text only when configured to', async () => {
    const long = { messageId: 502, values: { fragment: 'c8y_Command', failureReason: 'é'.repeat(20000) } };
    let t = await setup('smartrest-encode');
    t.n1.receive({ payload: long });
    const [err] = await t.caught.next(1);
    assert.match(err.error.message, /more than the \d+ bytes/);
    assert.equal(t.out.received.length, 0);
    await helper.unload();
    t = await setup('smartrest-encode', { truncate: true });
    t.n1.receive({ payload: long });
    const [msg] = (await t.out.next(1)) as SmartRestEncodeOutput[];
    assert.deepEqual(msg.smartrest.truncated, [0]);
    assert.ok(Buffer.byteLength(msg.payload) <= 16184);
    assert.match(msg.payload, /^502,c8y_Command,é+$/);
  });

  for (const [what, payload, pattern] of [
    ['a missing mandatory field', { messageId: 200, values: { fragment: 'c8y_T', value: 1 } }, /template 200 .*field "series"/],
    ['a non-finite number', { messageId: 200, values: { fragment: 'c8y_T', series: 'T', value: Infinity } }, /field "value".*finite/],
    ['an unknown message ID', { messageId: 9999, fields: ['x'] }, /9999/],
    ['a wrong type', { messageId: 200, values: { fragment: { nested: true }, series: 'T', value: 1 } }, /field "fragment"/],
    ['a scalar among records', 42, /record 2: a record must be an array or an object, got 42/],
    ['a control character', ['400', 'c8y_X', 'bell\u0007'], /U\+0007/],
  ] as const) {
    it(`fails the whole message with done(err) on ${what}, after a good record`, async () => {
      const { n1, out, caught } = await setup('smartrest-encode');
      n1.receive({ payload: [{ messageId: 211, values: { value: 1 } }, payload] });
      const [err] = await caught.next(1);
      assert.match(err.error.message, pattern);
      assert.equal(err.error.source.id, 'n1');
      assert.equal(out.received.length, 0, 'nothing of a failed message is sent');
    });
  }

  for (const [what, payload, pattern] of [
    ['a number', 42, /got number/],
    ['null', null, /got null/],
    ['an empty array', [], /empty array/],
    ['a boolean', true, /got boolean/],
  ] as const) {
    it(`refuses ${what} as payload with done(err)`, async () => {
      const { n1, out, caught } = await setup('smartrest-encode');
      n1.receive({ payload });
      const [err] = await caught.next(1);
      assert.match(err.error.message, pattern);
      assert.equal(out.received.length, 0);
    });
  }

  it('keeps working after bad input', async () => {
    const { n1, out, caught } = await setup('smartrest-encode');
    n1.receive({ payload: 'not,"csv' });
    n1.receive({ payload: '211,20' });
    const [err] = await caught.next(1);
    assert.match(err.error.message, /unterminated quote/);
    const [msg] = await out.next(1);
    assert.equal(msg.payload, '211,20');
  });

  it('registers and uses a custom template collection', async () => {
    const { n1, out } = await setup('smartrest-encode', { xid: 'tpl-v1', templates: '10,999,POST,MEASUREMENT,,c8y_M,,c8y_M.M.value,NUMBER,' });
    n1.receive({ action: 'register-templates' });
    n1.receive({ payload: { messageId: '999', values: { 'c8y_M.M.value': 7 } } });
    const [reg, data] = await out.next(2);
    assert.deepEqual([reg.topic, reg.payload], ['s/ut/tpl-v1', '10,999,POST,MEASUREMENT,,c8y_M,,c8y_M.M.value,NUMBER,']);
    assert.equal(reg.action, undefined);
    assert.deepEqual([data.topic, data.payload], ['s/uc/tpl-v1', '999,,7']);
  });

  it('reports a broken template collection on every message', async () => {
    const { n1, caught } = await setup('smartrest-encode', { xid: 'bad', templates: '10,1,DELETE,X' });
    n1.receive({ payload: ['211', 1] });
    const [err] = await caught.next(1);
    assert.match(err.error.message, /custom templates: .*not a supported combination/);
  });
});

describe('smartrest-decode node', () => {
  it('emits one message per record with names, typed values and the operation target', async () => {
    const { n1, out } = await setup('smartrest-decode');
    n1.receive({ topic: 's/ds', payload: Buffer.from('510,dev01\n511,dev01,"echo \\"hi\\"\nuptime"\r\n519,relay,OPEN,CLOSED') });
    const msgs = (await out.next(3)) as SmartRestDecodeOutput[];
    assert.deepEqual(msgs[0].payload, { messageId: 510, fields: ['dev01'], name: 'c8y_Restart', values: {}, device: 'dev01' });
    assert.equal(msgs[1].payload.name, 'c8y_Command');
    assert.deepEqual(msgs[1].payload.values, { command: 'echo "hi"\nuptime' });
    assert.deepEqual(msgs[2].payload.values, { states: ['OPEN', 'CLOSED'] });
    assert.deepEqual(msgs.map((m) => m.smartrest), [{ record: 1, of: 3 }, { record: 2, of: 3 }, { record: 3, of: 3 }]);
    assert.equal(msgs[0].topic, 's/ds');
  });

  it('types upstream values and takes the child from the topic', async () => {
    const { n1, out } = await setup('smartrest-decode', { output: 'array' });
    n1.receive({ topic: 's/us/child-7', payload: '200,c8y_Temperature,T,21.5,C\n201,c8y_Env,,c8y_T,T,20,C,c8y_H,H,40,%' });
    const [msg] = await out.next(1);
    assert.equal(msg.payload.length, 2);
    assert.deepEqual(msg.payload[0].values, { fragment: 'c8y_Temperature', series: 'T', value: 21.5, unit: 'C' });
    assert.equal(msg.payload[0].device, 'child-7');
    assert.deepEqual(msg.payload[1].values.measurements, [
      { fragment: 'c8y_T', series: 'T', value: 20, unit: 'C' },
      { fragment: 'c8y_H', series: 'H', value: 40, unit: '%' },
    ]);
  });

  it('keeps s/e free text unsplit and reads credentials and tokens', async () => {
    const { n1, out } = await setup('smartrest-decode');
    n1.receive({ topic: 's/e', payload: '50,100,Error on device creation, message: x' });
    n1.receive({ topic: 's/dcr', payload: '70,t12345,device_d1,"pa,ss"' });
    n1.receive({ topic: 's/dat', payload: '71,eyJhbGciOi.x.y' });
    const [e, cr, tok] = await out.next(3);
    assert.equal(e.payload.messageId, 50);
    assert.deepEqual(e.payload.fields, ['100', 'Error on device creation, message: x']);
    assert.deepEqual(cr.payload.values, { tenant: 't12345', username: 'device_d1', password: 'pa,ss' });
    assert.deepEqual(tok.payload.values, { token: 'eyJhbGciOi.x.y' });
  });

  it('sends the good records and reports the bad one with its number and text', async () => {
    const { n1, out, caught } = await setup('smartrest-decode');
    n1.receive({ topic: 's/ds', payload: '510,a\n511,a,"never closed\n510,b' });
    const good = await out.next(2);
    assert.deepEqual(good.map((m) => m.payload.device), ['a', 'b']);
    const [err] = await caught.next(1);
    assert.match(err.error.message, /1 of 3 records could not be decoded: record 2 \(line 2, column 7, field 3\): unterminated quote: "511,a,\\"never closed"/);
    assert.equal(err.issues[0].record, 2);
  });

  it('reads doubled quotes strictly when configured to', async () => {
    const { n1, out } = await setup('smartrest-decode', { quote: 'double' });
    n1.receive({ payload: '113,"C:\\path\\"' });
    const [msg] = await out.next(1);
    assert.deepEqual(msg.payload.fields, ['C:\\path\\']);
  });

  for (const [what, payload] of [
    ['an object', { a: 1 }],
    ['a number', 5],
    ['null', null],
  ] as const) {
    it(`refuses ${what} as payload with done(err)`, async () => {
      const { n1, caught, out } = await setup('smartrest-decode');
      n1.receive({ payload });
      const [err] = await caught.next(1);
      assert.match(err.error.message, /msg\.payload must be SmartREST text/);
      assert.equal(out.received.length, 0);
    });
  }

  it('decodes custom responses on s/dc/<X-ID>', async () => {
    const { n1, out } = await setup('smartrest-decode', { xid: 'tpl', templates: '11,111,c8y_CustomConfiguration,,val1,val2' });
    n1.receive({ topic: 's/dc/tpl', payload: '111,dev9,1,2' });
    const [msg] = await out.next(1);
    assert.deepEqual(msg.payload, { messageId: 111, fields: ['dev9', '1', '2'], name: 'c8y_CustomConfiguration', values: { val1: '1', val2: '2' }, device: 'dev9' });
  });

  it('handles an empty payload as zero records without error', async () => {
    const { n1, out, caught } = await setup('smartrest-decode');
    n1.receive({ topic: 's/ucr', payload: '' });
    n1.receive({ payload: '125' });
    const [msg] = await out.next(1);
    assert.equal(msg.payload.messageId, 125);
    assert.equal(caught.received.length, 0);
  });
});
