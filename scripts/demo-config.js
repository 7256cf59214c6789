'use strict';
/**
 * What the shipped examples need but must not hold: their credentials. A flow file is no place for a secret (and
 * Node-RED never exports credentials), so the examples carry none. `npm start` (scripts/start.js) and the
 * end-to-end test deploy them with the credentials made here from random secrets, kept per user dir
 * (`.node-red/demo-secrets.json`, git-ignored) or made per test run. They are valid on these loopback brokers only.
 * Imported anywhere else the examples show "no credentials" / "no token" until they are entered.
 *
 * Also: where the local Datacake stand-in of the demo listens (its token is one of the secrets).
 */
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const DEMO_DATACAKE = { host: '127.0.0.1', port: 1885 };

const SECRET_NAMES = ['device', 'bootstrap', 'service', 'datacake', 'example', 'exampleBootstrap'];

function randomSecrets() {
  return Object.fromEntries(SECRET_NAMES.map((name) => [name, crypto.randomBytes(12).toString('base64url')]));
}

/** The secrets of a user dir: made on first use, then kept (mode 600). */
function demoSecrets(userDir) {
  const file = path.join(userDir, 'demo-secrets.json');
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (SECRET_NAMES.every((n) => typeof s[n] === 'string' && s[n])) return s;
  } catch {
    // missing or damaged: make new ones
  }
  const s = randomSecrets();
  fs.writeFileSync(file, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
  return s;
}

/** Credentials of the example nodes that need them, by node id. */
function exampleCredentials(s) {
  const devices = ['demo-device-01', 'c4d-device-01', 'c4d-gateway-01', 'c4d-json-01'].map((id) => `${id}:${s.device}`).join(' ');
  return {
    // examples/demo.json
    de10000000000011: { devices, bootstrapPassword: s.bootstrap, servicePassword: s.service },
    de10000000000021: { user: 'device_demo-device-01', password: s.device },
    de10000000000041: { user: 'edge/bridge', password: s.service },
    de10000000000042: { user: s.datacake, password: s.datacake },
    de10000000000051: { token: s.datacake },
    // examples/c8y-device/*.json, against the demo endpoint
    c4d0000000000002: { user: 'device_c4d-device-01', password: s.device },
    c4d0000000000102: { user: 'device_c4d-gateway-01', password: s.device },
    c4d0000000000203: { password: s.bootstrap },
    c4e0000000000002: { user: 'device_c4d-json-01', password: s.device },
    // examples/c8y-endpoint.json (its own endpoint on 1884)
    c3e0000000000002: { devices: `c8y-example-device:${s.example}`, bootstrapPassword: s.exampleBootstrap },
    c3e0000000000003: { user: 'edge/device_c8y-example-device', password: s.example },
    // examples/broker-bridge-smartrest.json (its own endpoint on 1886)
    b6b0000000000210: { user: 'edge/bridge', password: s.service },
    b6b0000000000220: { devices: `sensor-01:${s.example}`, servicePassword: s.service },
    b6b0000000000221: { user: 'device_sensor-01', password: s.example },
  };
}

/** The flows with the credentials of their nodes added (what the Admin API and flows_cred.json take). */
function withCredentials(flows, credentials) {
  return flows.map((n) => (credentials[n.id] ? { ...n, credentials: credentials[n.id] } : n));
}

module.exports = { DEMO_DATACAKE, randomSecrets, demoSecrets, exampleCredentials, withCredentials };
