/**
 * The model spec: a JSON file (file://, s3:// or https://) that says which classifier to
 * run, how to feed it, where Grad-CAM and attention are read, which segmenter gives the
 * object mask, and how the overlaps combine into `scores.overmap`. Paths inside it are
 * relative to the spec's own location. Its content hash (spec + every model file) goes
 * into run.json and every record's run. Every object in it is strict: a field the schema does
 * not know (a misspelling such as "normalisation") is an error naming the nearest known field,
 * never a field silently dropped for its default. The schema is in model-spec-schema.ts.
 */
import { createHash } from 'node:crypto';
import * as posix from 'node:path/posix';
import * as path from 'node:path';
import { ModelSpecError, type ObjectStore, isAbsoluteUri, openObject } from '@overmap/shared/core';
import { currentBackend, prefersOnnx } from '../backend/select-backend';
import { type ModelSpec, ModelSpecSchema } from './model-spec-schema';
import { checkClassifierTopology } from './model-topology';
import { unknownFieldsMessage } from './unknown-fields';

export { ModelSpecSchema, type ModelSpec, type Normalization } from './model-spec-schema';

export interface ReadSpec {
  spec: ModelSpec;
  uri: string;
  /** the spec file's bytes */
  raw: Buffer;
  /** the store holding the spec: files named in the spec are keys in it */
  store: ObjectStore;
}

export interface LoadedSpec extends ReadSpec {
  /** sha256 over the spec and every model file it names */
  hash: string;
}

/**
 * A store that answers the first read of each prefetched key from memory, then forgets it:
 * the hash pass has already read every model file, so loading the models does not read them
 * again (a large model's weights over S3 are read once per process).
 */
function withPrefetched(store: ObjectStore, prefetched: Map<string, Buffer>): ObjectStore {
  const take = (key: string) => {
    const b = prefetched.get(key);
    prefetched.delete(key);
    return b;
  };
  // Explicit delegation: the stores are class instances, whose methods a spread would not copy.
  return {
    uri: store.uri,
    get: async (key, options) => take(key) ?? store.get(key, options),
    getIfExists: async (key) => take(key) ?? store.getIfExists(key),
    put: (key, body, options) => store.put(key, body, options),
    exists: (key) => store.exists(key),
    listPage: (prefix, options) => store.listPage(prefix, options),
    check: () => store.check(),
  };
}

/** The bundled reference models: `onnx`, the default where ONNX Runtime runs (a CBAM ResNet, U-Net
 * segmenter, trained in PyTorch by training/); `layers`, the TF.js Layers model for the TF.js
 * backends; `layers-onnx`, that Layers model's ONNX conversion (for comparing the two runtimes on
 * one model). */
export type ReferenceModel = 'onnx' | 'layers' | 'layers-onnx';
const REFERENCE_SPECS: Record<ReferenceModel, string> = {
  onnx: 'reference-v5/overmap-model.json',
  layers: 'reference/overmap-model.json',
  'layers-onnx': 'reference/overmap-model-onnx.json',
};

/**
 * Where a bundled reference model's spec lives in this checkout; by default the one the chosen
 * backend runs: the PyTorch-trained ONNX model where ONNX Runtime is the backend
 * (OVERMAP_BACKEND=onnx, or unset and installed), else the TF.js Layers model.
 */
export function referenceSpecUri(
  which: ReferenceModel = (currentBackend()?.onnx ?? prefersOnnx(undefined)) ? 'onnx' : 'layers',
): string {
  return path.resolve(__dirname, '../../../../models', REFERENCE_SPECS[which]);
}

async function fetchHttps(uri: string): Promise<Buffer> {
  const r = await fetch(uri);
  if (!r.ok) throw new ModelSpecError(`cannot fetch model spec ${uri}: HTTP ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

/** A read-only store over an https:// base (for specs and weights served over HTTP). */
function httpsStore(base: string): ObjectStore {
  // A file the spec names must lie under the spec's own location: "https://elsewhere/…", "//host/…"
  // or "../" would make the worker fetch whatever the spec's author chose (an internal address, say).
  const url = (key: string) => {
    const u = new URL(key, base).toString();
    if (!u.startsWith(base))
      throw new ModelSpecError(
        `the model spec at ${base} names "${key}", which is not under the spec's location: name its files relative to it, inside its folder`,
      );
    return u;
  };
  const unsupported = async (): Promise<never> => {
    throw new ModelSpecError('https model locations are read-only');
  };
  return {
    uri: base,
    get: (key) => fetchHttps(url(key)),
    getIfExists: async (key) => {
      const r = await fetch(url(key));
      return r.ok ? Buffer.from(await r.arrayBuffer()) : undefined;
    },
    put: unsupported,
    exists: async (key) => (await fetch(url(key), { method: 'HEAD' })).ok,
    listPage: unsupported,
    check: async () => undefined,
  };
}

/** Reads and validates a spec without touching the model files it names (for its class names, say). */
export async function readSpec(uri: string): Promise<ReadSpec> {
  let store: ObjectStore;
  let key: string;
  if (/^https?:\/\//i.test(uri)) {
    const u = new URL(uri);
    // Plain http only on this machine: elsewhere anyone on the path could swap the weights.
    if (u.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))
      throw new ModelSpecError(
        `--model ${uri}: a model over plain http can be altered on the way; serve it over https`,
      );
    key = posix.basename(u.pathname);
    store = httpsStore(new URL('.', u).toString());
  } else {
    ({ store, key } = openObject(uri, 'model spec URI'));
  }
  let raw: Buffer;
  try {
    raw = await store.get(key);
  } catch (e) {
    throw new ModelSpecError(`cannot read model spec ${uri} (${(e as Error).message}): check the --model URI`, {
      cause: e,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new ModelSpecError(`model spec ${uri} is not valid JSON (${(e as Error).message})`);
  }
  const r = ModelSpecSchema.safeParse(json);
  if (!r.success) {
    // A misspelt field usually also leaves a required one missing: name the misspelling first.
    const unknown = unknownFieldsMessage(ModelSpecSchema, r.error.issues, json, uri);
    if (unknown) throw new ModelSpecError(unknown);
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelSpecError(`model spec ${uri} is invalid: ${issues}`);
  }
  const spec = r.data;
  const segNorm =
    spec.segmenter.type === 'model' || spec.segmenter.type === 'detector'
      ? ([['segmenter.normalization', spec.segmenter.normalization]] as const)
      : [];
  for (const [name, n] of [['classifier.normalization', spec.classifier.normalization], ...segNorm] as const) {
    if (n.mean.length !== 3 || n.std.length !== 3)
      throw new ModelSpecError(`model spec ${uri}: ${name} needs 3 means and 3 stds`);
  }
  return { spec, uri, raw, store };
}

/**
 * Reads and validates a spec and hashes it with every model file it names. A local spec named by a
 * relative path is loaded, and named (`uri`: what run.json keeps), by its absolute path, so that
 * every worker resolves it alike whatever its working directory.
 */
export async function loadSpec(given: string): Promise<LoadedSpec> {
  const uri = isAbsoluteUri(given) ? given : path.resolve(given);
  const { spec, raw, store } = await readSpec(uri);
  const prefetched = new Map<string, Buffer>();
  const hash = createHash('sha256').update(raw);
  const seg = spec.segmenter;
  const files: [string, string][] = [
    [spec.classifier.model, spec.classifier.format],
    ...(seg.type === 'model'
      ? ([[seg.model, seg.format]] as [string, string][])
      : seg.type === 'detector'
        ? ([[seg.model, seg.format]] as [string, string][])
        : []),
  ];
  for (const [f, format] of files) {
    const mj = await store.getIfExists(f);
    if (!mj) throw new ModelSpecError(`model spec ${uri}: model file ${f} not found next to the spec`);
    hash.update(mj);
    prefetched.set(f, mj);
    // An ONNX file is the whole model (weights inside; external-data files are not supported).
    if (format === 'onnx') continue;
    let modelJson: { weightsManifest?: { paths: string[] }[] };
    try {
      modelJson = JSON.parse(mj.toString('utf8'));
    } catch (e) {
      throw new ModelSpecError(`model spec ${uri}: model file ${f} is not valid JSON (${(e as Error).message})`);
    }
    if (f === spec.classifier.model) checkClassifierTopology(spec, modelJson, f);
    const manifest = modelJson.weightsManifest ?? [];
    for (const g of manifest) {
      for (const p of g.paths) {
        const key = posix.normalize(posix.join(posix.dirname(f), p));
        const w = await store.getIfExists(key);
        if (!w) throw new ModelSpecError(`model spec ${uri}: weights file ${p} of ${f} not found`);
        hash.update(w);
        prefetched.set(key, w);
      }
    }
  }
  if (spec.segmenter.type === 'boxes' && !isAbsoluteUri(spec.segmenter.source)) {
    // Boxes are part of what decides the scores: a changed boxes file is a changed model.
    const b = await store.getIfExists(spec.segmenter.source);
    if (!b)
      throw new ModelSpecError(`model spec ${uri}: boxes file ${spec.segmenter.source} not found next to the spec`);
    hash.update(b);
    prefetched.set(spec.segmenter.source, b);
  }
  return { spec, uri, raw, hash: hash.digest('hex'), store: withPrefetched(store, prefetched) };
}
