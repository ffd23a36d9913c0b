#!/usr/bin/env node
/**
 * What `npm test` needs beyond `npm ci`, found or installed before the first test:
 * - Chromium, for the report's browser tests (playwright-core drives it and downloads none):
 *   CHROMIUM_PATH, else /usr/bin/chromium;
 * - PyTorch and torchvision, for the training package's tests (training/): Debian's
 *   python3-torch and python3-torchvision (PyPI is not needed).
 * On a Debian machine where this runs as root (a fresh CI or developer machine of this project's
 * kind), what is missing is installed with apt-get, saying so first. Elsewhere it stops with one
 * line naming what is missing and how to get it. OVERMAP_TEST_INSTALL=0: never install.
 */
'use strict';
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const { pythonWithTorch } = require('./lib/python-torch');

function canApt() {
  return (
    process.env.OVERMAP_TEST_INSTALL !== '0' &&
    process.platform === 'linux' &&
    typeof process.getuid === 'function' &&
    process.getuid() === 0 &&
    fs.existsSync('/usr/bin/apt-get')
  );
}

function apt(packages, why) {
  process.stderr.write(`test-prereqs: installing Debian's ${packages.join(' ')} (${why}) with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  return run(['update', '-qq']) && run(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
}

const missing = [];
if (!fs.existsSync(CHROMIUM))
  missing.push({ what: `Chromium at ${CHROMIUM}`, pkgs: ['chromium'], why: 'report browser tests' });
if (!pythonWithTorch())
  missing.push({ what: 'PyTorch', pkgs: ['python3-torch', 'python3-torchvision'], why: 'training package tests' });

for (const m of missing) {
  if (canApt() && apt(m.pkgs, m.why)) continue;
  process.stderr.write(
    `test-prereqs: ${m.what} is missing (${m.why}): install it with ` +
      `\`sudo apt-get install ${m.pkgs.join(' ')}\`` +
      (m.pkgs[0] === 'chromium'
        ? ' or set CHROMIUM_PATH to a Chromium or Chrome binary\n'
        : ' (or set OVERMAP_PYTHON)\n'),
  );
  process.exit(1);
}
