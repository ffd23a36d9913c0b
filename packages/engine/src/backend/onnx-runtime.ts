/**
 * ONNX Runtime (onnxruntime-node), loaded only when a spec names an ONNX model or the
 * backend choice asks whether it is installed. Sessions get one intra-op thread by default
 * (OVERMAP_ONNX_THREADS): on CPU the fleet runs one worker process per core, which measured
 * faster than one process with several threads; with more than one thread, spinning is off
 * so that idle threads do not take the cores other processes need.
 */
import { CONFIG_DEFAULTS, type Config, ModelSpecError } from '@overmap/shared/core';
import type * as Ort from 'onnxruntime-node';

export type OrtModule = typeof Ort;
export type OrtSession = Ort.InferenceSession;
export type OrtTensor = Ort.Tensor;

let ort: OrtModule | null | undefined;

/** onnxruntime-node if it loads here, else null. */
export function onnxRuntime(): OrtModule | null {
  if (ort === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      ort = require('onnxruntime-node') as OrtModule;
    } catch {
      ort = null;
    }
  }
  return ort;
}

export function requireOnnxRuntime(what: string): OrtModule {
  const m = onnxRuntime();
  if (!m)
    throw new ModelSpecError(
      `${what} is an ONNX model but onnxruntime-node cannot be loaded here: reinstall with npm ci (it is a dependency of @overmap/worker)`,
    );
  return m;
}

export interface SessionSettings {
  threads: number;
  providers: string[];
}

/** The session settings of a resolved configuration (OVERMAP_ONNX_THREADS, OVERMAP_ONNX_PROVIDERS). */
export function sessionSettingsOf(
  config: Pick<Config, 'OVERMAP_ONNX_THREADS' | 'OVERMAP_ONNX_PROVIDERS'>,
): SessionSettings {
  return { threads: config.OVERMAP_ONNX_THREADS, providers: config.OVERMAP_ONNX_PROVIDERS.split(',') };
}

/** The settings every new session takes: the configuration's defaults until a process's start says otherwise. */
let current: SessionSettings = sessionSettingsOf(CONFIG_DEFAULTS);

/** Set once at a process's start (initBackend) from its resolved configuration. */
export function useSessionSettings(s: SessionSettings): void {
  current = s;
}

export function sessionOptions(s: SessionSettings = current): Ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: s.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: s.providers,
    extra: { session: { intra_op: { allow_spinning: s.threads > 1 ? '0' : '1' } } },
  };
}

/** An inference session over a model's bytes; errors name the file and the spec. */
export async function createSession(
  bytes: Uint8Array,
  file: string,
  specUri: string,
  settings?: SessionSettings,
): Promise<OrtSession> {
  const m = requireOnnxRuntime(`${file} named in ${specUri}`);
  try {
    return await m.InferenceSession.create(bytes, sessionOptions(settings));
  } catch (e) {
    throw new ModelSpecError(`cannot load the ONNX model ${file} named in ${specUri}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}
