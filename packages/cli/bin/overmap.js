#!/usr/bin/env node
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const main = path.join(__dirname, '../dist/main.js');
if (!fs.existsSync(main)) {
  // A checkout after `npm ci` (which runs no install scripts, .npmrc): build the TypeScript once.
  const root = path.resolve(__dirname, '../../..');
  let tsc;
  try {
    tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  } catch {
    process.stderr.write(`overmap: ${main} is missing and TypeScript is not installed: run npm ci && npm run build\n`);
    process.exit(2);
  }
  process.stderr.write('overmap: building the TypeScript once (tsc -b)…\n');
  const r = require('node:child_process').spawnSync(process.execPath, [tsc, '-b'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 2);
}
require(main);
