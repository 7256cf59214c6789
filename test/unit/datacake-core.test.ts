/** Pure Datacake core: topics, value typing/serializing, echo window, rate limiter, write planning. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeField, parseTopic, publishTopic, subscriptionFilter } from '../../src/datacake/topics';
import { canonicalText, parseValue, serializeValue } from '../../src/datacake/values';
import { EchoWindow } from '../../src/datacake/echo';
import { FieldRateLimiter } from '../../src/datacake/ratelimit';
import { planWrites } from '../../src/datacake/writes';

describe('datacake topics', () => {
  it('builds subscription filters, rewriting * to + and refusing bad levels', () => {
    assert.deepEqual(subscriptionFilter('prod', 'dev-1', 'temperature'), { filter: 'dtck/prod/dev-1/TEMPERATURE', rewritten: [] });
    assert.deepEqual(subscriptionFilter('prod', '*', '+'), { filter: 'dtck/prod/+/+', rewritten: ['deviceId'] });
    assert.deepEqual(subscriptionFilter('prod', '', ''), { filter: 'dtck/prod/+/+', rewritten: [] });
    assert.deepEqual(subscriptionFilter('prod', 'd', '*').rewritten, ['field']);
    assert.throws(() => subscriptionFilter('', 'd', 'F'), /product slug/);
    assert.throws(() => subscriptionFilter('p/x', 'd', 'F'), /may not contain/);
    assert.throws(() => subscriptionFilter('p', 'd', 'bad-field'), /field identifier/);
  });
  it('builds and parses publish topics', () => {
    assert.equal(publishTopic({ productSlug: 'p', deviceId: 'd', field: 'temp_1' }), 'dtck-pub/p/d/TEMP_1');
    assert.throws(() => publishTopic({ productSlug: 'p', deviceId: '+', field: 'T' }), /device id/);
    assert.deepEqual(parseTopic('dtck/p/d/F'), { prefix: 'dtck', productSlug: 'p', deviceId: 'd', field: 'F' });
    assert.equal(parseTopic('dtck-pub/p/d/F')?.prefix, 'dtck-pub');
    assert.equal(parseTopic('other/p/d/F'), undefined);
    assert.equal(parseTopic('dtck/p/d'), undefined);
    assert.equal(normalizeField(' relay '), 'RELAY');
    assert.throws(() => normalizeField('A B'));
  });
});

describe('datacake values', () => {
  it('types received text', () => {
    assert.equal(parseValue('21.5'), 21.5);
    assert.equal(parseValue('-3'), -3);
    assert.equal(parseValue('1e3'), 1000);
    assert.equal(parseValue('true'), true);
    assert.equal(parseValue('True'), true);
    assert.equal(parseValue('false'), false);
    assert.equal(parseValue('False'), false);
    assert.deepEqual(parseValue('(52.52,13.405)'), { lat: 52.52, lng: 13.405 });
    assert.deepEqual(parseValue('( -1.5 , 2 )'), { lat: -1.5, lng: 2 });
    assert.deepEqual(parseValue('{"a":1}'), { a: 1 });
    assert.deepEqual(parseValue('[1,2]'), [1, 2]);
    assert.equal(parseValue('"quoted"'), 'quoted');
    assert.equal(parseValue('{not json'), '{not json');
    assert.equal(parseValue('hello world'), 'hello world');
    assert.equal(parseValue(''), null);
    assert.equal(parseValue('0x10'), '0x10');
    assert.equal(parseValue('Infinity'), 'Infinity');
  });
  it('serializes values for publish and refuses objects and arrays', () => {
    assert.equal(serializeValue(21.5), '21.5');
    assert.equal(serializeValue(true), 'true');
    assert.equal(serializeValue(false), 'false');
    assert.equal(serializeValue({ lat: 52.5, lng: 13.4 }), '(52.5,13.4)');
    assert.equal(serializeValue('on'), 'on');
    assert.throws(() => serializeValue({ a: 1 }), /an object/);
    assert.throws(() => serializeValue([1]), /an array/);
    assert.throws(() => serializeValue(null), /null/);
    assert.throws(() => serializeValue(NaN), /finite/);
    assert.throws(() => serializeValue(undefined), /undefined/);
  });
  it('round-trips every serializable value through parseValue', () => {
    for (const v of [0, -1.25, 1e21, true, false, { lat: -33.9, lng: 151.2 }, 'text']) assert.deepEqual(parseValue(serializeValue(v)), v);
  });
  it('compares canonically', () => {
    assert.equal(canonicalText('True'), canonicalText('true'));
    assert.equal(canonicalText('21.50'), canonicalText('21.5'));
    assert.notEqual(canonicalText('21.5'), canonicalText('21.6'));
  });
});

describe('echo window', () => {
  it('drops the same value for the same device+field within the window, and counts it', () => {
    let now = 1000;
    const w = new EchoWindow(5000, () => now);
    const t = { productSlug: 'p', deviceId: 'd', field: 'T' };
    w.received(t, '21.5');
    assert.equal(w.isEcho(t, '21.5'), true);
    assert.equal(w.isEcho(t, '21.6'), false);
    assert.equal(w.isEcho({ ...t, deviceId: 'other' }, '21.5'), false);
    now += 4999;
    assert.equal(w.isEcho(t, '21.5'), true);
    now += 2;
    assert.equal(w.isEcho(t, '21.5'), false);
    assert.equal(w.dropped, 2);
    w.prune();
    assert.equal(w.size, 0);
  });
  it('is off with a window of 0', () => {
    const w = new EchoWindow(0);
    const t = { productSlug: 'p', deviceId: 'd', field: 'T' };
    w.received(t, '1');
    assert.equal(w.isEcho(t, '1'), false);
  });
});

describe('field rate limiter', () => {
  it('writes the first at once, then only the latest per interval, per field', async () => {
    const written: string[] = [];
    const l = new FieldRateLimiter<string>(100, async (key, item) => void written.push(`${key}=${item}`));
    const results = await Promise.all([l.submit('A', '1'), l.submit('A', '2'), l.submit('A', '3'), l.submit('B', 'x')]);
    assert.deepEqual(results, ['sent', 'superseded', 'sent', 'sent']);
    assert.deepEqual(written, ['A=1', 'B=x', 'A=3']);
    l.close();
  });
  it('settles waiting items on close and clears its timers', async () => {
    const l = new FieldRateLimiter<string>(10_000, async () => undefined);
    await l.submit('A', '1');
    const waiting = l.submit('A', '2');
    assert.equal(l.waiting, 1);
    l.close();
    assert.equal(await waiting, 'closed');
    assert.equal(await l.submit('A', '3'), 'closed');
  });
  it('passes write failures on', async () => {
    const l = new FieldRateLimiter<string>(0, async () => {
      throw new Error('nope');
    });
    await assert.rejects(l.submit('A', '1'), /nope/);
  });
});

describe('write planning', () => {
  const node = { productSlug: '', deviceId: '', field: '' };
  it('takes the node first, then msg.datacake, then msg.topic', () => {
    const [a] = planWrites({ productSlug: 'p', deviceId: 'd', field: 'temp' }, { payload: 1, datacake: { deviceId: 'x' } });
    assert.equal(a.topic, 'dtck-pub/p/d/TEMP');
    const [b] = planWrites(node, { payload: true, datacake: { productSlug: 'p', deviceId: 'd', field: 'RELAY' } });
    assert.deepEqual([b.topic, b.text], ['dtck-pub/p/d/RELAY', 'true']);
    const [c] = planWrites(node, { payload: 2, topic: 'dtck/p/d/LEVEL' });
    assert.equal(c.topic, 'dtck-pub/p/d/LEVEL');
  });
  it('writes one field per key of an object payload', () => {
    const w = planWrites({ ...node, productSlug: 'p', deviceId: 'd' }, { payload: { temperature: 21.5, HUMIDITY: 40, LOC: { lat: 1, lng: 2 } } });
    assert.deepEqual(w.map((x) => [x.topic, x.text]), [['dtck-pub/p/d/TEMPERATURE', '21.5'], ['dtck-pub/p/d/HUMIDITY', '40'], ['dtck-pub/p/d/LOC', '(1,2)']]);
  });
  it('refuses bad input as a whole', () => {
    assert.throws(() => planWrites({ productSlug: 'p', deviceId: 'd', field: 'T' }, { payload: { a: 1 } }), /single field/);
    assert.throws(() => planWrites({ productSlug: 'p', deviceId: 'd', field: 'T' }, { payload: [1, 2] }), /array/);
    assert.throws(() => planWrites({ ...node, productSlug: 'p', deviceId: 'd' }, { payload: { OK: 1, 'BAD-NAME': 2 } }), /field identifier/);
    assert.throws(() => planWrites({ ...node, productSlug: 'p', deviceId: 'd' }, { payload: { OK: 1, NESTED: { x: 1 } } }), /object/);
    assert.throws(() => planWrites(node, { payload: 1 }), /product slug/);
    assert.throws(() => planWrites({ ...node, productSlug: 'p', deviceId: 'd' }, { payload: 1 }), /no field/);
  });
});
