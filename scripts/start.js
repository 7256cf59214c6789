#!/usr/bin/env node
/**
 * `npm start`: Node-RED 4 with this package loaded from the working tree and the demo flow deployed.
 * User dir: .node-red/ (git-ignored). The package is linked into .node-red/node_modules, so a rebuild
 * (`npm run build`) and a restart pick up changes. The demo (examples/demo.json) is deployed when the
 * user dir has no flows yet; `npm start -- --reset` replaces the flows with the demo again.
 * Editor: http://127.0.0.1:1880 (PORT and HOST environment variables override).
 * The examples carry no credentials; the ones deployed here get credentials made from random secrets kept in
 * .node-red/demo-secrets.json (scripts/demo-config.js).
 * Beside Node-RED, this process runs the local Datacake stand-in (dist/standin/datacake-broker.js) on
 * 127.0.0.1:1885 that the demo's bridge and Datacake nodes talk to (scripts/demo-config.js); if that port is
 * taken, the demo runs without it and says so.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');

const root = path.resolve(__dirname, '..');
const userDir = path.join(root, '.node-red');
const port = Number(process.env.PORT) || 1880;
const host = process.env.HOST || '127.0.0.1';

if (!fs.existsSync(path.join(root, 'nodes')) || !fs.existsSync(path.join(root, 'dist'))) {
  console.error('start: the package is not built; run `npm install` (or `npm run build`) first');
  process.exit(1);
}
fs.mkdirSync(path.join(userDir, 'node_modules'), { recursive: true });
const link = path.join(userDir, 'node_modules', 'node-red-contrib-device-protocols');
try {
  if (fs.readlinkSync(link) !== root) fs.rmSync(link, { force: true });
} catch {
  fs.rmSync(link, { recursive: true, force: true });
}
if (!fs.existsSync(link)) fs.symlinkSync(root, link, 'dir');
if (!fs.existsSync(path.join(userDir, 'package.json'))) {
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-demo', private: true }, null, 2) + '\n');
}

// A per-checkout secret so that credentials in flows_cred.json are encrypted, never in flows.json.
const secretFile = path.join(userDir, '.credential-secret');
if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, crypto.randomBytes(24).toString('hex'), { mode: 0o600 });
const settings = `module.exports = {
  uiHost: ${JSON.stringify(host)},
  uiPort: ${port},
  flowFile: 'flows.json',
  credentialSecret: require('fs').readFileSync(${JSON.stringify(secretFile)}, 'utf8').trim(),
  editorTheme: { tours: false, palette: { catalogues: [] } },
  telemetry: { enabled: false, updateNotification: false },
  functionExternalModules: true,
  logging: { console: { level: 'info', metrics: false, audit: false } },
};
`;
fs.writeFileSync(path.join(userDir, 'settings.js'), settings);

const { DEMO_DATACAKE, demoSecrets, exampleCredentials } = require('./demo-config');
const secrets = demoSecrets(userDir);

const flowFile = path.join(userDir, 'flows.json');
if (!fs.existsSync(flowFile) || process.argv.includes('--reset')) {
  // The demo and, beside it, the device-side examples that run against its endpoint. The examples carry no
  // credentials: those made for this user dir (scripts/demo-config.js) go to flows_cred.json, encrypted the way
  // Node-RED does it (aes-256-ctr, key sha256(credentialSecret)), never into flows.json.
  const read = (f) => JSON.parse(fs.readFileSync(path.join(root, 'examples', f), 'utf8'));
  const deviceExamples = fs.readdirSync(path.join(root, 'examples', 'c8y-device')).filter((f) => f.endsWith('.json')).sort();
  const flows = [...read('demo.json'), ...deviceExamples.flatMap((f) => read(path.join('c8y-device', f)))];
  const all = exampleCredentials(secrets);
  const creds = Object.fromEntries(flows.filter((n) => all[n.id]).map((n) => [n.id, all[n.id]]));
  fs.writeFileSync(flowFile, JSON.stringify(flows, null, 2) + '\n');
  const key = crypto.createHash('sha256').update(fs.readFileSync(secretFile, 'utf8').trim()).digest();
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv('aes-256-ctr', key, iv);
  const $ = iv.toString('hex') + cipher.update(JSON.stringify(creds), 'utf8', 'base64') + cipher.final('base64');
  fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify({ $ }, null, 2) + '\n', { mode: 0o600 });
  console.log(`start: deployed the demo (examples/demo.json) and examples/c8y-device/ (${deviceExamples.join(', ')})`);
}

async function main() {
  const { startDatacakeStandin } = require(path.join(root, 'dist', 'standin', 'datacake-broker.js'));
  let standin;
  try {
    standin = await startDatacakeStandin({ ...DEMO_DATACAKE, token: secrets.datacake, maxWrites: 1000 });
    console.log(`start: local Datacake stand-in on ${standin.url} (its token and the demo passwords: .node-red/demo-secrets.json)`);
  } catch (err) {
    console.warn(`start: could not start the local Datacake stand-in on ${DEMO_DATACAKE.host}:${DEMO_DATACAKE.port} (${err.message}); the demo's Datacake part will only retry`);
  }
  const red = spawn(process.execPath, [require.resolve('node-red/red.js'), '-u', userDir, '-s', path.join(userDir, 'settings.js')], { stdio: 'inherit', cwd: root });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => red.kill(sig));
  red.on('exit', async (code, signal) => {
    await standin?.stop().catch(() => undefined);
    process.exit(code ?? (signal ? 1 : 0));
  });
}
main().catch((err) => {
  console.error(`start: ${err.stack || err}`);
  process.exit(1);
});
