/**
 * Chooses the backends: OVERMAP_BACKEND (onnx | tensorflow | wasm | cpu) or the fastest
 * installed. `onnx` (the default where onnxruntime-node loads) means ONNX Runtime runs the
 * models of ONNX specs and the bundled reference model is its ONNX conversion; TF.js (its
 * fastest installed backend) still runs the tensor steps after the forward pass (Grad-CAM
 * through the head, resizing, overlaps). A TF.js name forces TF.js for the reference model.
 * `@tensorflow/tfjs-node(-gpu)` are optional: their install script downloads
 * libtensorflow, which fails on machines without general internet access, so they are
 * installed only in the worker images. The wasm backend is the CPU default (one thread in
 * Node: run one worker process per core); the pure-JS cpu backend is a last resort
 * (~30x slower than wasm).
 */
import { InputError } from '@overmap/shared/core';
import { type SessionSettings, onnxRuntime, useSessionSettings } from './onnx-runtime';
import * as tf from './tf';
import { registerWasmGradKernels } from './wasm-grad-kernels';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];
const CHOICES = ['onnx', ...BACKENDS];

/**
 * Whether ONNX Runtime is the default for the reference model: OVERMAP_BACKEND=onnx, or unset and
 * onnxruntime-node loads.
 */
export function prefersOnnx(requested: string | undefined): boolean {
  return requested === 'onnx' || (!requested && onnxRuntime() !== null);
}

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
  /** the TF.js backend */
  name: BackendName;
  /** The package that provides it. */
  package: string;
  /** ONNX Runtime is the default for the reference model (OVERMAP_BACKEND=onnx or unset, and installed) */
  onnx: boolean;
}

let chosen: BackendInfo | undefined;

/** The backend a process chose at its start, if it has. */
export function currentBackend(): BackendInfo | undefined {
  return chosen;
}

/**
 * Chooses the backends once, at a process's start, from its resolved configuration:
 * `requested` is OVERMAP_BACKEND (undefined: the fastest installed, or what was chosen already),
 * `onnx` the ONNX Runtime session settings (sessionSettingsOf(config)).
 */
export async function initBackend(requested?: string, onnxSettings?: SessionSettings): Promise<BackendInfo> {
  if (onnxSettings) useSessionSettings(onnxSettings);
  if (requested && !CHOICES.includes(requested)) {
    throw new InputError(
      `OVERMAP_BACKEND=${requested} is not a backend: use one of ${CHOICES.join(', ')}, or unset it for the fastest installed`,
    );
  }
  if (requested === 'onnx' && !onnxRuntime())
    throw new InputError('OVERMAP_BACKEND=onnx but onnxruntime-node cannot be loaded: reinstall with npm ci');
  const onnx = prefersOnnx(requested);
  const tfRequested = requested === 'onnx' ? undefined : requested;
  if (chosen && (!tfRequested || tfRequested === chosen.name)) return { ...chosen, onnx };
  const order: BackendName[] = tfRequested ? [tfRequested as BackendName] : [...BACKENDS];
  for (const name of order) {
    if (name === 'tensorflow') {
      const pkg = loadTensorflowBinding();
      if (!pkg) {
        if (tfRequested)
          throw new InputError(
            'OVERMAP_BACKEND=tensorflow but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed: install one (the worker images do), or use wasm',
          );
        continue;
      }
      await tf.setBackend('tensorflow');
      chosen = { name, package: pkg, onnx };
    } else if (name === 'wasm') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-backend-wasm');
      registerWasmGradKernels();
      if (!(await tf.setBackend('wasm'))) continue;
      chosen = { name, package: '@tensorflow/tfjs-backend-wasm', onnx };
    } else {
      await tf.setBackend('cpu');
      chosen = { name, package: '@tensorflow/tfjs-backend-cpu', onnx };
    }
    await tf.ready();
    return chosen;
  }
  throw new InputError('no TensorFlow.js backend could be started: reinstall with npm ci');
}
