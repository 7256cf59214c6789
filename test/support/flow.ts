/** Helpers for runtime tests with node-red-node-test-helper. */
import helper from 'node-red-node-test-helper';

helper.init(require.resolve('node-red'));

export { helper };

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const catchNode = require('@node-red/nodes/core/common/25-catch.js');

export const TAB = 'tab1';

/** Collects what a helper node receives; `next(n)` resolves with the next n messages. */
export function collect(node: { on(event: 'input', fn: (msg: any) => void): void }) {
  const received: any[] = [];
  const waiters: { n: number; resolve: (msgs: any[]) => void }[] = [];
  node.on('input', (msg: any) => {
    received.push(msg);
    for (const w of waiters.splice(0)) {
      if (received.length >= w.n) w.resolve(received.slice(0, w.n));
      else waiters.push(w);
    }
  });
  return {
    received,
    next(n = 1, timeoutMs = 3000): Promise<any[]> {
      if (received.length >= n) return Promise.resolve(received.slice(0, n));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} messages, got ${received.length}`)), timeoutMs);
        waiters.push({ n, resolve: (m) => { clearTimeout(timer); resolve(m); } });
      });
    },
  };
}

/** Resolves after the event loop has had time to deliver anything pending (not a timing assertion). */
export function settle(ms = 50): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
