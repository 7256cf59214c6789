import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTopic, upstreamTopic, templateTopic } from '../../src/smartrest/topics';

describe('topics', () => {
  it('parses every topic of the grammar', () => {
    assert.deepEqual(parseTopic('s/us'), { direction: 'up', kind: 'static', mode: 's' });
    assert.deepEqual(parseTopic('t/us/child:1'), { direction: 'up', kind: 'static', mode: 't', child: 'child:1' });
    assert.deepEqual(parseTopic('q/uc/myX/ch/with/slash'), { direction: 'up', kind: 'custom', mode: 'q', xid: 'myX', child: 'ch/with/slash' });
    assert.deepEqual(parseTopic('s/ud'), { direction: 'up', kind: 'default', mode: 's' });
    assert.deepEqual(parseTopic('s/ut/myX'), { direction: 'up', kind: 'template', mode: 's', xid: 'myX' });
    assert.deepEqual(parseTopic('s/ucr'), { direction: 'up', kind: 'credentials', mode: 's' });
    assert.deepEqual(parseTopic('s/uat'), { direction: 'up', kind: 'token', mode: 's' });
    assert.deepEqual(parseTopic('s/ds'), { direction: 'down', kind: 'static', mode: 's' });
    assert.deepEqual(parseTopic('s/dc/myX'), { direction: 'down', kind: 'custom', mode: 's', xid: 'myX' });
    assert.deepEqual(parseTopic('s/dd'), { direction: 'down', kind: 'default', mode: 's' });
    assert.deepEqual(parseTopic('s/dt'), { direction: 'down', kind: 'template', mode: 's' });
    assert.deepEqual(parseTopic('s/dcr'), { direction: 'down', kind: 'credentials', mode: 's' });
    assert.deepEqual(parseTopic('s/dat'), { direction: 'down', kind: 'token', mode: 's' });
    assert.deepEqual(parseTopic('s/e'), { direction: 'down', kind: 'error', mode: 's' });
  });
  it('rejects what is outside the grammar', () => {
    for (const t of ['x/us', 't/ds', 's/ds/child', 's/uc', 's/uc//c', 's/us/', 't/ucr', 's/dc', 's/zz', 'us', '']) {
      assert.equal(parseTopic(t), undefined, t);
    }
  });
  it('builds upstream topics for modes, children and custom collections', () => {
    assert.equal(upstreamTopic({}), 's/us');
    assert.equal(upstreamTopic({ mode: 't', child: 'c1' }), 't/us/c1');
    assert.equal(upstreamTopic({ mode: 'c', xid: 'X', child: 'c1' }), 'c/uc/X/c1');
    assert.equal(templateTopic('X'), 's/ut/X');
    assert.throws(() => upstreamTopic({ mode: 'z' as never }), /processing mode/);
    assert.throws(() => upstreamTopic({ child: 'a/+' }), /wildcard/);
    assert.throws(() => upstreamTopic({ xid: 'a/b' }), /X-ID/);
  });
});
