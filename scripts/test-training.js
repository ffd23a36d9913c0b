#!/usr/bin/env node
/**
 * The training package's tests (training/tests, Python's unittest) under the first Python that
 * has PyTorch: OVERMAP_PYTHON, Debian's /usr/bin/python3, then python3 on the PATH.
 */
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const { pythonWithTorch } = require('./lib/python-torch');

const py = pythonWithTorch();
if (!py) {
  process.stderr.write(
    'test-training: no Python with PyTorch: `sudo apt-get install python3-torch python3-torchvision` (or set OVERMAP_PYTHON)\n',
  );
  process.exit(1);
}
const r = spawnSync(py, ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], {
  cwd: path.join(ROOT, 'training'),
  stdio: 'inherit',
  env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
});
process.exit(r.status ?? 1);
