'use strict';
/**
 * The local Datacake stand-in behind the `npm start` demo (examples/demo.json): where it listens and the one
 * token it accepts. A demo-only value for a loopback broker, not a secret. Shared by scripts/start.js and the
 * end-to-end test, which runs the demo the same way.
 */
module.exports = {
  DEMO_DATACAKE: { host: '127.0.0.1', port: 1885, token: 'demo-datacake-token' },
};
