#!/usr/bin/env node
'use strict';
/**
 * Builds, then runs the benchmarks in bench/ (`npm run bench`), one after the other, each in its own Node
 * process: `node --import tsx bench/<name>.ts` (the harness is TypeScript; what it measures is the built dist/).
 *
 *   npm run bench                 every bench/*.ts
 *   npm run bench -- codec        only bench/codec.ts (names with or without `.ts`, or paths)
 *
 * Exits with 1 if a benchmark fails (the others still run), with 2 if a name matches no benchmark.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const benchDir = path.join(root, 'bench');

const available = fs.existsSync(benchDir)
  ? fs
      .readdirSync(benchDir, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
      .map((e) => e.name.slice(0, -3))
      .sort()
  : [];

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  console.log(`usage: node scripts/bench.js [name ...]\navailable: ${available.join(', ') || '(none)'}`);
  process.exit(0);
}

let selected = available;
if (args.length) {
  const unknown = [];
  selected = [];
  for (const arg of args) {
    const name = path.basename(arg).replace(/\.ts$/, '');
    if (!available.includes(name)) unknown.push(arg);
    else if (!selected.includes(name)) selected.push(name);
  }
  if (unknown.length) {
    console.error(`bench: no benchmark named ${unknown.join(', ')} (available: ${available.join(', ') || 'none'})`);
    process.exit(2);
  }
}
if (!selected.length) {
  console.error('bench: no benchmarks found in bench/');
  process.exit(2);
}

// The benchmarks load the built package (dist/), i.e. the code users run, not the TypeScript sources.
const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('bench: the build failed');
  process.exit(1);
}

const failed = [];
for (const name of selected) {
  const file = path.join('bench', `${name}.ts`);
  console.log(`\n=== bench/${name}.ts ===\n`);
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.error) {
    console.error(`bench: ${name} could not start: ${result.error.message}`);
    failed.push(name);
  } else if (result.status !== 0) {
    console.error(`bench: ${name} failed (${result.signal ? `signal ${result.signal}` : `exit code ${result.status}`}) after ${seconds} s`);
    failed.push(name);
  } else {
    console.log(`\n=== bench/${name}.ts done in ${seconds} s ===`);
  }
}

if (failed.length) {
  console.error(`\nbench: ${failed.length} of ${selected.length} failed: ${failed.join(', ')}`);
  process.exit(1);
}
