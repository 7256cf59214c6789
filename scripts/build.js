#!/usr/bin/env node
/**
 * Build: TypeScript `src/` → `dist/` (tsc), then the files Node-RED loads into `nodes/`:
 *   nodes/<type>.js                 a one-line CommonJS entry requiring dist/nodes/<type>/runtime.js
 *   nodes/<type>.html               src/nodes/<type>/editor.html + help.html
 *   nodes/locales/en-US/<type>.json src/nodes/<type>/locale.json under the key <type>
 *   nodes/icons/*.svg               icons/*.svg
 *   resources/device-protocols-editor.js  dist/editor/browser.js and the cores it imports, for the edit dialogs
 * Node sets and types come from package.json `node-red.nodes` (set name = type = folder name).
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { bundle } = require('./editor-bundle');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const out = path.join(root, 'nodes');

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
if (tsc.status !== 0) fail('TypeScript compilation failed');

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'locales', 'en-US'), { recursive: true });
fs.mkdirSync(path.join(out, 'icons'), { recursive: true });

for (const [set, file] of Object.entries(pkg['node-red'].nodes)) {
  const src = path.join(root, 'src', 'nodes', set);
  if (file !== `nodes/${set}.js`) fail(`node set ${set} must point at nodes/${set}.js, not ${file}`);
  const read = (name) => {
    const p = path.join(src, name);
    if (!fs.existsSync(p)) fail(`missing ${path.relative(root, p)}`);
    return fs.readFileSync(p, 'utf8');
  };
  const editor = read('editor.html');
  const help = read('help.html');
  // node-red-dev and the Flow Library only see literal registerType('<type>', {…}) calls.
  if (!new RegExp(`RED\\.nodes\\.registerType\\(\\s*['"]${set}['"]\\s*,\\s*\\{`).test(editor)) {
    fail(`src/nodes/${set}/editor.html must call RED.nodes.registerType('${set}', { … }) literally`);
  }
  if (!help.includes(`data-help-name="${set}"`)) fail(`src/nodes/${set}/help.html needs data-help-name="${set}"`);
  const locale = JSON.parse(read('locale.json'));
  if (!fs.existsSync(path.join(root, 'dist', 'nodes', set, 'runtime.js'))) fail(`dist/nodes/${set}/runtime.js was not built`);
  fs.writeFileSync(path.join(out, `${set}.js`), `'use strict';\nmodule.exports = require('../dist/nodes/${set}/runtime.js');\n`);
  fs.writeFileSync(path.join(out, `${set}.html`), `${editor.trim()}\n\n${help.trim()}\n`);
  fs.writeFileSync(path.join(out, 'locales', 'en-US', `${set}.json`), JSON.stringify({ [set]: locale }, null, 2) + '\n');
}
for (const icon of fs.readdirSync(path.join(root, 'icons'))) {
  fs.copyFileSync(path.join(root, 'icons', icon), path.join(out, 'icons', icon));
}
fs.writeFileSync(path.join(root, 'resources', 'device-protocols-editor.js'), bundle(path.join(root, 'dist', 'editor', 'browser.js')));
console.log(`build: ${Object.keys(pkg['node-red'].nodes).length} node sets written to nodes/`);
