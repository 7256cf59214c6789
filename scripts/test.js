#!/usr/bin/env node
/**
 * Test runner behind `npm test` and `npm run test:full`.
 *
 *   node scripts/test.js            build, then test/unit, test/runtime, test/e2e
 *   node scripts/test.js --full     ... plus test/editor and test/interop (needs /usr/bin/chromium)
 *   node scripts/test.js <files..>  build, then only the given test files
 *   (the whole-suite runs also typecheck test/ and bench/ with tsconfig.test.json)
 *
 * Runs `node --import tsx --test --test-concurrency=1 --test-force-exit --test-reporter=tap <files>`
 * (Node 20's --test does not expand globs, so the files are listed here),
 * echoes the TAP output and finishes with a plain `N passed, N failed` line.
 * Exits with the test runner's exit code.
 *
 * Concurrency 1 (one test file at a time): the e2e and editor files both
 * deploy the shipped examples, which listen on fixed ports (11883, 1884, 1885, 1886), so
 * they must not overlap; each starts node-red (and Chromium), which is CPU
 * heavy on this 2-core machine anyway (Node's own default here is also 1).
 * TEST_CONCURRENCY overrides it, at your own risk.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const CHROMIUM = '/usr/bin/chromium';

const args = process.argv.slice(2);
const full = args.includes('--full');
const explicit = args.filter((a) => !a.startsWith('--'));

function testFilesIn(dir) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs
    .readdirSync(abs, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => path.posix.join(dir, e.name))
    .sort();
}

const dirs = ['test/unit', 'test/runtime', 'test/e2e'];
if (full) dirs.push('test/editor', 'test/interop');
const files = explicit.length ? explicit : dirs.flatMap(testFilesIn);

if (files.length === 0) {
  console.error(`test: no test files found in ${dirs.join(', ')}`);
  process.exit(1);
}
for (const f of files) {
  if (!fs.existsSync(path.resolve(root, f))) {
    console.error(`test: ${f} does not exist`);
    process.exit(1);
  }
}
const needsChromium = full || files.some((f) => /(^|\/)test\/editor\//.test(f.split(path.sep).join('/')));
if (needsChromium && !fs.existsSync(CHROMIUM)) {
  console.error(
    `test: the editor tests need Chromium at ${CHROMIUM}, which is missing.\n` +
      '      Install it with: sudo apt-get update && sudo apt-get install -y chromium',
  );
  process.exit(1);
}

const buildScript = path.join(root, 'scripts', 'build.js');
if (!fs.existsSync(buildScript)) {
  console.error('test: scripts/build.js is missing');
  process.exit(1);
}
const build = spawnSync(process.execPath, [buildScript], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`test: the build failed (exit ${build.status ?? build.signal}); not running tests`);
  process.exit(build.status || 1);
}

// The whole suite also typechecks the tests and benchmarks (tsx runs them without checking types), so that a
// test that no longer matches the code it calls fails here rather than passing on a wrong assumption.
if (!explicit.length) {
  const tc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.test.json')], { cwd: root, stdio: 'inherit' });
  if (tc.status !== 0) {
    console.error('test: the tests do not typecheck (tsc -p tsconfig.test.json); not running them');
    process.exit(tc.status || 1);
  }
}

const concurrency = process.env.TEST_CONCURRENCY || '1';
// A test file that leaves a handle open (a socket, a timer, a child process)
// keeps its process alive and Node 20's runner then waits for it forever.
// --test-force-exit ends each file once its tests are done, so a leak cannot
// hang the run. Set TEST_FORCE_EXIT=0 to find such leaks (the run then hangs).
const forceExit = process.env.TEST_FORCE_EXIT !== '0' ? ['--test-force-exit'] : [];
const nodeArgs = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...forceExit, '--test-reporter=tap', ...files];
console.log(`test: node ${nodeArgs.join(' ')}`);

const child = spawn(process.execPath, nodeArgs, { cwd: root, stdio: ['inherit', 'pipe', 'inherit'] });
const summary = {};
let pending = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  pending += chunk;
  let i;
  while ((i = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, i);
    pending = pending.slice(i + 1);
    // the run's own summary is at column 0; nested subtests' lines are indented
    const m = /^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)\s*$/.exec(line);
    if (m) summary[m[1]] = Number(m[2]);
  }
});

let interrupted;
const forward = (sig) => () => {
  interrupted = sig;
  child.kill(sig);
};
process.on('SIGINT', forward('SIGINT'));
process.on('SIGTERM', forward('SIGTERM'));

child.on('close', (code, signal) => {
  const passed = summary.pass ?? 0;
  const failed = (summary.fail ?? 0) + (summary.cancelled ?? 0);
  console.log('');
  if (interrupted || signal) console.log(`test: interrupted (${interrupted || signal}); the counts below are incomplete`);
  else if (summary.pass === undefined && summary.fail === undefined) {
    console.log('test: the test runner printed no summary');
  }
  const extra = [];
  if (summary.cancelled) extra.push(`${summary.cancelled} of the failed were cancelled`);
  if (summary.skipped) extra.push(`${summary.skipped} skipped`);
  if (summary.todo) extra.push(`${summary.todo} todo`);
  console.log(`${passed} passed, ${failed} failed${extra.length ? ` (${extra.join(', ')})` : ''}`);
  if (interrupted || signal) process.exit(1);
  process.exit(code ?? 1);
});
