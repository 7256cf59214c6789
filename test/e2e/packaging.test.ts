/**
 * Packaging: `npm pack` the repo (npm runs `prepare` = the build), install the
 * tarball into a fresh Node-RED user dir the way a user does (production
 * dependencies only), start node-red on it and check through the Admin API
 * that every node set, editor template, help text, message catalog, icon and
 * example of the INSTALLED copy is served.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  MODULE_NAME,
  type NodeRedProcess,
  type NodeSetInfo,
  REPO_ROOT,
  getJson,
  getNodes,
  getNodesHtml,
  listExamples,
  parseRegisteredTypes,
  readPackageJson,
  startNodeRed,
} from '../support/nodered';

const pkg = readPackageJson();
const SETS: Record<string, string> = pkg['node-red']?.nodes ?? {};

/** Runs a command, resolves with stdout; rejects with its output on a non-zero exit. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${code ?? signal}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`));
    });
  });
}

describe('packaging: the npm tarball installed into a Node-RED user dir', { concurrency: false }, () => {
  let tmp: string | undefined;
  let tarball = '';
  let tarEntries: string[] = [];
  let userDir = '';
  let installed = '';
  let nr: NodeRedProcess | undefined;
  let sets: NodeSetInfo[] = [];
  let ours: NodeSetInfo[] = [];

  before(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nr-pack-'));
    const packDir = path.join(tmp, 'pack');
    await fsp.mkdir(packDir);
    await run('npm', ['pack', '--pack-destination', packDir], REPO_ROOT);
    const tgz = (await fsp.readdir(packDir)).filter((f) => f.endsWith('.tgz'));
    assert.equal(tgz.length, 1, `npm pack should write exactly one .tgz, found: ${tgz.join(', ')}`);
    tarball = path.join(packDir, tgz[0]);
    tarEntries = (await run('tar', ['-tzf', tarball], tmp)).split('\n').filter(Boolean);

    userDir = path.join(tmp, 'userdir');
    await fsp.mkdir(userDir);
    await fsp.writeFile(
      path.join(userDir, 'package.json'),
      JSON.stringify({ name: 'node-red-project', version: '0.0.1', private: true, description: 'packaging test' }, null, 2),
    );
    await run('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--ignore-scripts', '--prefer-offline', tarball], userDir);
    installed = path.join(userDir, 'node_modules', ...MODULE_NAME.split('/'));
    assert.ok(fs.existsSync(installed), `npm install did not create ${installed}`);
    assert.ok(!fs.lstatSync(installed).isSymbolicLink(), `${installed} must be an installed copy, not a link`);

    nr = await startNodeRed({ userDir });
    sets = await getNodes(nr.url);
    ours = sets.filter((s) => s.module === MODULE_NAME);
  });

  after(async () => {
    try {
      await nr?.stop();
    } finally {
      if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
    }
  });

  it('the tarball ships the build and no sources or tests', () => {
    const files = tarEntries.map((e) => e.replace(/^package\//, ''));
    assert.deepEqual(files.filter((f) => /^src\//.test(f)), [], 'src/ must not be packed');
    assert.deepEqual(files.filter((f) => /^test\//.test(f)), [], 'test/ must not be packed');
    assert.ok(files.includes('package.json'));
    assert.ok(files.includes('dist/smartrest/index.js'), 'dist/smartrest/index.js (the library entry) must be packed');
    for (const [set, file] of Object.entries(SETS)) {
      assert.ok(files.includes(file), `node set ${set}: ${file} must be packed`);
      assert.ok(files.includes(file.replace(/\.c?js$/, '.html')), `node set ${set}: its .html must be packed`);
    }
    for (const ex of listExamples()) {
      assert.ok(files.includes(`examples/${ex.name}.json`), `examples/${ex.name}.json must be packed`);
    }
  });

  it('the installed copy is what node-red loaded (no link to the repo)', () => {
    assert.ok(nr, 'node-red did not start');
    const link = path.join(userDir, 'node_modules', ...MODULE_NAME.split('/'));
    assert.equal(fs.realpathSync(link), link);
    assert.ok(!fs.existsSync(path.join(installed, 'src')), 'installed copy must not contain src/');
    assert.ok(ours.length > 0, `GET /nodes lists no node set of ${MODULE_NAME}:\n${JSON.stringify(sets.map((s) => s.id))}`);
    for (const s of ours) assert.equal(s.version, pkg.version, `${s.id}: version`);
  });

  it('every node set of package.json is loaded and enabled, without err', () => {
    assert.ok(nr, 'node-red did not start');
    for (const set of Object.keys(SETS)) {
      const info = ours.find((s) => s.id === `${MODULE_NAME}/${set}`);
      assert.ok(info, `node set ${set} is not listed by GET /nodes (listed: ${ours.map((s) => s.id).join(', ')})`);
      assert.equal(info.err, undefined, `node set ${set} failed to load: ${info.err}\n${nr.log.join('\n')}`);
      assert.equal(info.enabled, true, `node set ${set} is disabled`);
      assert.ok(info.types.length > 0, `node set ${set} registers no node type`);
    }
    assert.deepEqual(ours.map((s) => s.name).sort(), Object.keys(SETS).sort(), 'node sets served vs. package.json');
  });

  it('the editor HTML of every type has a template and help, and registers it literally', async () => {
    assert.ok(nr, 'node-red did not start');
    const html = await getNodesHtml(nr.url);
    const literal = new Set(parseRegisteredTypes(html).map((t) => t.type));
    for (const s of ours) {
      for (const type of s.types) {
        assert.ok(html.includes(`data-template-name="${type}"`), `GET /nodes (html) lacks data-template-name="${type}"`);
        assert.ok(html.includes(`data-help-name="${type}"`), `GET /nodes (html) lacks data-help-name="${type}"`);
        assert.ok(literal.has(type), `no literal RED.nodes.registerType('${type}', {...}) in the editor HTML`);
      }
    }
  });

  it('every node set has a non-empty en-US message catalog', async () => {
    assert.ok(nr, 'node-red did not start');
    for (const set of Object.keys(SETS)) {
      const catalog = await getJson(nr.url, `/locales/${MODULE_NAME}/${set}?lng=en-US`);
      assert.ok(catalog && typeof catalog === 'object' && !Array.isArray(catalog), `catalog of ${set} is not an object`);
      assert.ok(Object.keys(catalog).length > 0, `catalog of ${set} is empty`);
    }
  });

  it('our icons are served, and every icon the editor HTML names exists', async () => {
    assert.ok(nr, 'node-red did not start');
    const icons: Record<string, string[]> = await getJson(nr.url, '/icons');
    const mine = icons[MODULE_NAME] ?? [];
    assert.ok(mine.length > 0, `GET /icons lists no icon of ${MODULE_NAME}: ${JSON.stringify(Object.keys(icons))}`);
    const core = new Set(icons['node-red'] ?? []);
    for (const file of new Set(Object.values(SETS))) {
      const html = fs.readFileSync(path.join(installed, file.replace(/\.c?js$/, '.html')), 'utf8');
      for (const m of html.matchAll(/\bicon\s*:\s*(['"`])([^'"`]+)\1/g)) {
        const icon = m[2];
        if (icon.startsWith('font-awesome/')) continue;
        const slash = icon.indexOf('/');
        if (slash > 0) {
          const [mod, name] = [icon.slice(0, slash), icon.slice(slash + 1)];
          assert.ok((icons[mod] ?? []).includes(name), `${file}: icon "${icon}" is not served by GET /icons`);
        } else if (!core.has(icon)) {
          assert.ok(mine.includes(icon), `${file}: icon "${icon}" is neither a core icon nor one of ours (${mine.join(', ')})`);
        }
      }
    }
  });

  it('every example is served under /library/examples/flows/<module>/', async () => {
    assert.ok(nr, 'node-red did not start');
    const examples = listExamples(installed);
    assert.ok(examples.length > 0, 'the installed package has no examples/');
    assert.deepEqual(examples.map((e) => e.name), listExamples().map((e) => e.name), 'installed examples vs. repo examples');
    for (const ex of examples) {
      const served = await getJson(nr.url, `/library/examples/flows/${MODULE_NAME}/${ex.name.split('/').map(encodeURIComponent).join('/')}`);
      assert.deepEqual(served, ex.flows, `example ${ex.name} served differently than packed`);
    }
  });

  it("the library entry 'smartrest' resolves from the install and exposes parse and serialize", async () => {
    assert.ok(installed, 'package was not installed');
    // A plain node process in the user dir, resolving the package's "exports" map like a user's code would.
    const out = await run(
      process.execPath,
      [
        '-e',
        `const m = require(${JSON.stringify(`${MODULE_NAME}/smartrest`)});` +
          `console.log(JSON.stringify({ file: require.resolve(${JSON.stringify(`${MODULE_NAME}/smartrest`)}), parse: typeof m.parse, serialize: typeof m.serialize }));`,
      ],
      userDir,
    );
    const r = JSON.parse(out.trim().split('\n').pop() ?? '{}');
    assert.equal(r.file, fs.realpathSync(path.join(installed, 'dist', 'smartrest', 'index.js')));
    assert.equal(r.parse, 'function');
    assert.equal(r.serialize, 'function');
  });

  it('node-red logged no errors while loading the installed package', () => {
    assert.ok(nr, 'node-red did not start');
    assert.deepEqual(nr.errorsSince(0), []);
    assert.ok(!nr.log.some((l) => /Waiting for missing types|Failed to register|cannot be loaded/i.test(l)), nr.log.join('\n'));
  });
});
