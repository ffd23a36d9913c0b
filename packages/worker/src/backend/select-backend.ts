/**
 * Chooses the TF.js backend: OVERMAP_BACKEND (tensorflow | wasm | cpu) or the fastest
 * installed. `@tensorflow/tfjs-node(-gpu)` are optional: their install script downloads
 * libtensorflow, which fails on machines without general internet access, so they are
 * installed only in the worker images. The wasm backend is the CPU default (one thread in
 * Node: run one worker process per core); the pure-JS cpu backend is a last resort
 * (~30x slower than wasm).
 */
import { InputError, configValue } from '@overmap/shared';
import * as tf from './tf';
import { registerWasmGradKernels } from './wasm-grad-kernels';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

function tryRequire(name: string): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(name);
    return true;
  } catch {
    return false;
  }
}

function loadTensorflowBinding(): string | undefined {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if (tryRequire(pkg)) return pkg;
  }
  return undefined;
}

export interface BackendInfo {
  name: BackendName;
  /** The package that provides it. */
  package: string;
}

let chosen: BackendInfo | undefined;

export async function initBackend(requested: string | undefined = configValue('OVERMAP_BACKEND')): Promise<BackendInfo> {
  if (chosen && (!requested || requested === chosen.name)) return chosen;
  if (requested && !BACKENDS.includes(requested as BackendName)) {
    throw new InputError(`OVERMAP_BACKEND=${requested} is not a backend: use one of ${BACKENDS.join(', ')}, or unset it for the fastest installed`);
  }
  const order: BackendName[] = requested ? [requested as BackendName] : [...BACKENDS];
  for (const name of order) {
    if (name === 'tensorflow') {
      const pkg = loadTensorflowBinding();
      if (!pkg) {
        if (requested) throw new InputError('OVERMAP_BACKEND=tensorflow but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed: install one (the worker images do), or use wasm');
        continue;
      }
      await tf.setBackend('tensorflow');
      chosen = { name, package: pkg };
    } else if (name === 'wasm') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-backend-wasm');
      registerWasmGradKernels();
      if (!(await tf.setBackend('wasm'))) continue;
      chosen = { name, package: '@tensorflow/tfjs-backend-wasm' };
    } else {
      await tf.setBackend('cpu');
      chosen = { name, package: '@tensorflow/tfjs-backend-cpu' };
    }
    await tf.ready();
    return chosen;
  }
  throw new InputError('no TensorFlow.js backend could be started: reinstall with npm ci');
}
