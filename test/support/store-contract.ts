/**
 * Contract tests of EndpointStore, for any implementation: `storeContract(name, factory)` where the factory opens a
 * fresh, empty store and `reopen` opens a second store on the same data (what a restart of Node-RED sees).
 * The file store runs them in test/unit/endpoint-store.test.ts; a shared store (Redis) runs the same function.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointStore, StoreCollection } from '../../src/endpoint/store';

export interface StoreFactory {
  /** A new, empty store. */
  open(): Promise<EndpointStore>;
  /** Another store on the data of `store` (which is closed, or crashed when `crashed`, first). */
  reopen(store: EndpointStore): Promise<EndpointStore>;
}

export function storeContract(name: string, factory: StoreFactory): void {
  describe(`EndpointStore contract: ${name}`, () => {
    it('starts empty and returns what was written, also after a reopen', async () => {
      const s = await factory.open();
      assert.equal((await s.load('operations')).size, 0);
      await s.write('operations', [
        { key: '1', value: { id: '1', line: '510,d1', nested: { a: [1, 'x'] } } },
        { key: '2', value: { id: '2' } },
      ]);
      await s.write('sequences', [{ key: 'operations', value: 2 }]);
      assert.deepEqual([...(await s.load('operations')).keys()].sort(), ['1', '2']);
      await s.close();
      const r = await factory.reopen(s);
      const ops = await r.load<{ id: string; nested?: unknown }>('operations');
      assert.deepEqual(ops.get('1'), { id: '1', line: '510,d1', nested: { a: [1, 'x'] } });
      assert.equal((await r.load<number>('sequences')).get('operations'), 2);
      await r.close();
    });

    it('deletes keys and applies writes in call order', async () => {
      const s = await factory.open();
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) writes.push(s.write('operations', [{ key: 'k', value: i }, { key: `k${i}`, value: i }]));
      writes.push(s.write('operations', [{ key: 'k3' }, { key: 'missing' }]));
      await Promise.all(writes);
      await s.close();
      const r = await factory.reopen(s);
      const m = await r.load<number>('operations');
      assert.equal(m.get('k'), 49);
      assert.equal(m.has('k3'), false);
      assert.equal(m.size, 50);
      await r.close();
    });

    it('keeps collections apart and stores a copy of the value', async () => {
      const s = await factory.open();
      const value = { status: 'PENDING' };
      await s.write('operations', [{ key: 'x', value }]);
      value.status = 'CHANGED';
      assert.equal((await s.load('sequences')).size, 0);
      assert.deepEqual((await s.load('operations')).get('x'), { status: 'PENDING' });
      await s.close();
    });

    it('refuses unknown collections and writes after close', async () => {
      const s = await factory.open();
      await assert.rejects(s.write('../../etc/passwd' as StoreCollection, [{ key: 'a', value: 1 }]), /unknown store collection/);
      await assert.rejects(s.load('nope' as StoreCollection), /unknown store collection/);
      await s.close();
      await assert.rejects(s.write('operations', [{ key: 'a', value: 1 }]), /closed/);
    });

    it('keeps many records and large values intact', async () => {
      const s = await factory.open();
      const big = 'x'.repeat(16_000);
      await s.write('operations', Array.from({ length: 2000 }, (_, i) => ({ key: String(i), value: { i, line: big } })));
      await s.close();
      const r = await factory.reopen(s);
      const m = await r.load<{ i: number; line: string }>('operations');
      assert.equal(m.size, 2000);
      assert.equal(m.get('1999')?.line.length, 16_000);
      await r.close();
    });
  });
}
