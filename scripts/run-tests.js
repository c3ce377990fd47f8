#!/usr/bin/env node
'use strict';
// Runs every compiled test file (dist/src/**/*.test.js and dist/test/**/*.test.js) with node's test
// runner. `npm test` builds first. Node 20's runner takes explicit files, so we list them here.
const { readdirSync, statSync, existsSync } = require('node:fs');
const { join, relative } = require('node:path');
const { spawnSync } = require('node:child_process');

function collect(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const root = join(__dirname, '..');
const only = process.argv.slice(2);
let files = [...collect(join(root, 'dist/src'), []), ...collect(join(root, 'dist/test'), []), ...collect(join(root, 'dist/bench'), [])].sort();
// tsc never deletes outputs: a compiled test whose source was moved or removed would still run.
const stale = files.filter((f) => !existsSync(join(root, relative(join(root, 'dist'), f)).replace(/\.js$/, '.ts')));
for (const f of stale) console.error(`skipping ${relative(root, f)}: its source is gone (stale build output)`);
files = files.filter((f) => !stale.includes(f));
if (only.length > 0) files = files.filter((f) => only.some((o) => f.includes(o)));
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
const concurrency = process.env.REMORA_TEST_CONCURRENCY ?? '2';
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
