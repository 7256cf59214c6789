import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyQos, compileRules, findRule, preview, render, RuleError } from '../../src/bridge/rules';

const tables = { devices: { 'SN-001': '6f1c2a10-uuid-1', 'SN-002': '6f1c2a10-uuid-2' } };

function target(set: ReturnType<typeof compileRules>, side: 'source' | 'target', topic: string) {
  const m = findRule(set, side, topic);
  if (!m) return undefined;
  const r = render(m.rule, set, m.vars, topic, topic.split('/'));
  return 'error' in r ? r : r.topic;
}

describe('bridge rules', () => {
  it('maps named captures with transforms', () => {
    const set = compileRules([{ filter: 'site/+device/+field', target: 'dtck-pub/my-product/{device}/{field|upper}' }]);
    assert.equal(set.rules[0].subscription, 'site/+/+');
    assert.equal(target(set, 'source', 'site/d1/temp'), 'dtck-pub/my-product/d1/TEMP');
    assert.equal(target(set, 'source', 'site/d1/temp/extra'), undefined);
    assert.equal(target(set, 'target', 'site/d1/temp'), undefined);
  });

  it('captures the rest with #name, positional {N} and the whole topic {#}', () => {
    const set = compileRules([
      { filter: 'a/+/#rest', target: 'b/{2}/{rest|lower}' },
      { filter: 'x/#', target: 'copy/{#}' },
    ]);
    assert.equal(target(set, 'source', 'a/K/Q/R/S'), 'b/K/q/r/s');
    assert.equal(target(set, 'source', 'x/1/2'), 'copy/x/1/2');
  });

  it('first matching rule wins', () => {
    const set = compileRules([
      { filter: 'site/special/+field', target: 'one/{field}' },
      { filter: 'site/+device/+field', target: 'two/{device}/{field}' },
    ]);
    assert.equal(target(set, 'source', 'site/special/t'), 'one/t');
    assert.equal(target(set, 'source', 'site/other/t'), 'two/other/t');
  });

  it('lookup tables map ids; unmapped ids are reported', () => {
    const set = compileRules([{ filter: 'site/+serial/+field', target: 'dtck-pub/p/{serial|lookup:devices}/{field|upper}' }], tables);
    assert.equal(target(set, 'source', 'site/SN-001/temp'), 'dtck-pub/p/6f1c2a10-uuid-1/TEMP');
    const m = findRule(set, 'source', 'site/SN-999/temp')!;
    const r = render(m.rule, set, m.vars, 'site/SN-999/temp', ['site', 'SN-999', 'temp']);
    assert.deepEqual(r, { topic: 'dtck-pub/p/SN-999/TEMP', unmapped: ['SN-999'] });
    assert.equal(preview(set, 'source', 'site/SN-999/temp').drop, 'unmapped');
  });

  it('derives the reverse half of a both rule, inverting lookups', () => {
    const set = compileRules([{ direction: 'both', filter: 'site/+serial/#rest', target: 'plant/{serial|lookup:devices}/{rest}' }], tables);
    assert.equal(set.rules.length, 2);
    assert.equal(set.rules[1].from, 'target');
    assert.equal(set.rules[1].subscription, 'plant/+/#');
    assert.equal(target(set, 'source', 'site/SN-002/a/b'), 'plant/6f1c2a10-uuid-2/a/b');
    assert.equal(target(set, 'target', 'plant/6f1c2a10-uuid-2/a/b'), 'site/SN-002/a/b');
  });

  it('keeps $share/ for the subscription and ignores it for matching', () => {
    const set = compileRules([{ filter: '$share/bridges/site/+d', target: 'out/{d}' }]);
    assert.equal(set.rules[0].subscription, '$share/bridges/site/+');
    assert.equal(target(set, 'source', 'site/7'), 'out/7');
  });

  it('rejects bad rules with the rule number', () => {
    assert.throws(() => compileRules([{ filter: 'a/+x', target: 'b/{y}' }]), (e: unknown) => e instanceof RuleError && /rule 1: placeholder \{y\}/.test(e.message));
    assert.throws(() => compileRules([{ filter: 'a/#r/b', target: 'b' }]), /last level/);
    assert.throws(() => compileRules([{ filter: 'a/+x', target: 'b/{x|lookup:nope}' }]), /does not exist/);
    assert.throws(() => compileRules([{ filter: 'a/+x', target: 'b/{x|reverse}' }]), /unknown transform/);
    assert.throws(() => compileRules([{ filter: 'a/+', target: 'b/#' }]), /may not contain/);
    assert.throws(() => compileRules([{ direction: 'both', filter: 'a/+', target: 'b/{2}' }]), /named/);
  });

  it('QoS policies: pass, fixed, capped', () => {
    assert.equal(applyQos({ mode: 'pass' }, 1), 1);
    assert.equal(applyQos({ mode: 'fixed', qos: 0 }, 1), 0);
    assert.equal(applyQos({ mode: 'cap', qos: 1 }, 2), 1);
    assert.equal(applyQos({ mode: 'cap', qos: 1 }, 0), 0);
    const set = compileRules([{ filter: 'a', target: 'b', qos: 1, qosMode: 'cap' }]);
    assert.deepEqual(set.rules[0].qos, { mode: 'cap', qos: 1 });
    assert.equal(set.rules[0].retain, 'strip');
  });

  it('preview explains matches and misses', () => {
    const set = compileRules([{ name: 'temps', filter: 'site/+device/+field', target: 'dtck-pub/p/{device}/{field|upper}' }]);
    const p = preview(set, 'source', 'site/d1/temp');
    assert.equal(p.matched, true);
    assert.equal(p.ruleName, 'temps');
    assert.equal(p.target, 'dtck-pub/p/d1/TEMP');
    assert.deepEqual(p.captures, { device: 'd1', field: 'temp' });
    assert.equal(preview(set, 'source', 'nope').matched, false);
  });

  it('$ topics do not match leading wildcards', () => {
    const set = compileRules([{ filter: '#all', target: 'x/{all}' }]);
    assert.equal(findRule(set, 'source', '$SYS/broker/uptime'), undefined);
  });
});
