'use strict';
/**
 * The first Python that has PyTorch and torchvision: OVERMAP_PYTHON, Debian's /usr/bin/python3,
 * then python3 on the PATH (which may be another Python without them). Null if none.
 */
const { spawnSync } = require('node:child_process');

function pythonWithTorch() {
  const candidates = [process.env.OVERMAP_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean);
  return (
    candidates.find((py) => spawnSync(py, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0) ??
    null
  );
}

module.exports = { pythonWithTorch };
