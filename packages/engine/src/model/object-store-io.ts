/**
 * A TF.js IOHandler over the project's ObjectStore, so that Layers models load from and
 * save to S3 and the local filesystem alike (tfjs-node's file:// handler is not
 * available on the wasm backend). Format: the standard model.json + one weights file.
 */
import * as path from 'node:path/posix';
import type { ObjectStore } from '@overmap/shared/core';
import * as tf from '../backend/tf';

export function objectStoreIO(store: ObjectStore, modelJsonKey: string): tf.io.IOHandler {
  const dir = path.dirname(modelJsonKey) === '.' ? '' : `${path.dirname(modelJsonKey)}/`;
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const modelJSON = JSON.parse((await store.get(modelJsonKey)).toString('utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const b = await store.get(path.normalize(dir + p));
            buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
          }
        }
        return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
      });
    },
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightsFile = 'weights.bin';
      const weightData = artifacts.weightData
        ? tf.io.CompositeArrayBuffer.join(artifacts.weightData)
        : new ArrayBuffer(0);
      const manifest: tf.io.WeightsManifestConfig = [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }];
      const modelJSON: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: manifest,
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      // Weights first, then model.json: a reader never finds a model.json without its weights.
      await store.put(dir + weightsFile, Buffer.from(weightData));
      await store.put(modelJsonKey, JSON.stringify(modelJSON));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}
