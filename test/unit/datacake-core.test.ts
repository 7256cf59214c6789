/** Pure Datacake core: topics, value typing/serializing, echo window, rate limiter, write planning. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeField, parseTopic, publishTopic, subscriptionFilter } from '../../src/datacake/topics';
import { canonicalText, parseValue, serializeValue } from '../../src/datacake/values';
import { EchoMemory, accountKey, echoMemoryFor } from '../../src/datacake/echo';
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
  it('refuses non-ASCII field names instead of upper-casing them into another field (#9)', () => {
    // 'straße'.toUpperCase() is 'STRASSE', 'ﬁeld'.toUpperCase() is 'FIELD': both valid names of OTHER fields
    for (const bad of ['straße', 'ﬁeld', 'Ärger', 'temp-1', 'ı']) assert.throws(() => normalizeField(bad), /not a Datacake field identifier/, bad);
    assert.throws(() => subscriptionFilter('p', 'd', 'straße'), /not a Datacake field identifier/);
    assert.throws(() => publishTopic({ productSlug: 'p', deviceId: 'd', field: 'straße' }), /not a Datacake field identifier/);
    assert.equal(normalizeField('Temp_2'), 'TEMP_2');
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
  it('round-trips numbers, booleans, {lat, lng} and plain text through parseValue', () => {
    for (const v of [0, -1.25, 1e21, true, false, { lat: -33.9, lng: 151.2 }, 'text']) assert.deepEqual(parseValue(serializeValue(v)), v);
  });
  it('does NOT round-trip strings that look typed (README: use keep strings in the in-node) (#11)', () => {
    assert.equal(parseValue(serializeValue('42')), 42);
    assert.equal(parseValue(serializeValue('True')), true);
    assert.equal(parseValue(serializeValue('')), null);
    assert.deepEqual(parseValue(serializeValue('(1,2)')), { lat: 1, lng: 2 });
  });
  it('compares canonically', () => {
    assert.equal(canonicalText('True'), canonicalText('true'));
    assert.equal(canonicalText('21.50'), canonicalText('21.5'));
    assert.notEqual(canonicalText('21.5'), canonicalText('21.6'));
  });
});

describe('echo memory', () => {
  const t = { productSlug: 'p', deviceId: 'd', field: 'T' };

  it('recognises the echo of our own write until its window after completion, and only that value', () => {
    let now = 1000;
    const m = new EchoMemory(() => now);
    assert.equal(m.isOwnEcho(t, '1'), false, 'a value we never wrote is not an echo');
    const settled = m.wrote(t, '1', 5000);
    now += 60_000;
    assert.equal(m.isOwnEcho(t, '1'), true, 'still under way (offline queue): its echo is still expected');
    settled(true);
    now += 4999;
    assert.equal(m.isOwnEcho(t, '1'), true);
    assert.equal(m.isOwnEcho(t, '2'), false);
    assert.equal(m.isOwnEcho({ ...t, deviceId: 'other' }, '1'), false);
    now += 2;
    assert.equal(m.isOwnEcho(t, '1'), false);
    m.prune();
    assert.equal(m.size, 0);
  });

  it('forgets a write that failed; window 0 remembers nothing', () => {
    const m = new EchoMemory();
    m.wrote(t, '1', 5000)(false);
    assert.equal(m.isOwnEcho(t, '1'), false);
    m.wrote(t, '1', 0)(true);
    assert.equal(m.isOwnEcho(t, '1'), false);
  });

  it('drops only the write-back carried by the marked echo message, never another message with the same value (#5)', () => {
    let now = 0;
    const m = new EchoMemory(() => now);
    m.wrote(t, 'true', 5000)(true);
    assert.equal(m.isOwnEcho(t, 'true'), true);
    m.markMessage('echo-msg', t, 'true');
    now += 700;
    assert.equal(m.isWriteBack('flow-msg', t, 'true'), false, 'a later write of the flow');
    assert.equal(m.isWriteBack('echo-msg', { ...t, field: 'OTHER' }, 'true'), false, 'another field');
    assert.equal(m.isWriteBack('echo-msg', t, 'false'), false, 'another value');
    assert.equal(m.isWriteBack(undefined, t, 'true'), false);
    now += 3_600_000; // a delay of any length (#8)
    assert.equal(m.isWriteBack('echo-msg', t, 'true'), true);
    assert.equal(m.dropped, 1);
  });

  it('bounds the remembered echo messages (oldest out) and writes per field', () => {
    const m = new EchoMemory(Date.now, 3);
    for (let i = 0; i < 5; i++) m.markMessage(`m${i}`, t, '1');
    assert.equal(m.messageCount, 3);
    assert.equal(m.isWriteBack('m0', t, '1'), false);
    assert.equal(m.isWriteBack('m4', t, '1'), true);
    for (let i = 0; i < 100; i++) m.wrote(t, String(i), 5000);
    assert.equal(m.isOwnEcho(t, '0'), false, 'only the newest writes of a field are kept');
    assert.equal(m.isOwnEcho(t, '99'), true);
  });

  it('is shared per account (server + token) and freed by the last user (#8)', () => {
    const a = echoMemoryFor(accountKey('mqtt.datacake.co:8883', 'tok'));
    const b = echoMemoryFor(accountKey('mqtt.datacake.co:8883', 'tok'));
    const other = echoMemoryFor(accountKey('mqtt.datacake.co:8883', 'other-token'));
    assert.equal(a.memory, b.memory);
    assert.notEqual(a.memory, other.memory);
    assert.ok(!accountKey('h', 'secret-token').includes('secret-token'));
    a.memory.wrote(t, '1', 5000);
    a.release();
    a.release(); // twice does not free it for b
    assert.equal(b.memory.isOwnEcho(t, '1'), true);
    b.release();
    other.release();
    const fresh = echoMemoryFor(accountKey('mqtt.datacake.co:8883', 'tok'));
    assert.equal(fresh.memory.isOwnEcho(t, '1'), false);
    fresh.release();
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
  it('keeps one write under way and one waiting per field: no burst when the writes complete late (#7)', async () => {
    const written: string[] = [];
    const releases: (() => void)[] = [];
    // writes that do not complete (offline) until released
    const l = new FieldRateLimiter<string>(20, (_key, item) => new Promise<void>((resolve) => (written.push(item), releases.push(resolve))));
    const results = [l.submit('A', '1')];
    for (let i = 2; i <= 10; i++) {
      results.push(l.submit('A', String(i)));
      await new Promise((r) => setTimeout(r, 30)); // longer than the interval
    }
    assert.deepEqual(written, ['1'], 'nothing more goes out while the first is under way');
    assert.equal(l.waiting, 1);
    releases.shift()!();
    while (written.length < 2) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(written, ['1', '10'], 'then only the newest');
    releases.shift()!();
    assert.deepEqual(await Promise.all(results), ['sent', ...Array(8).fill('superseded'), 'sent']);
    l.close();
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
