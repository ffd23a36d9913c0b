/** Loading the TF.js models a spec names, from the spec's store, with errors that name the file. */
import { ModelSpecError } from '@overmap/shared/core';
import * as tf from '../backend/tf';
import './channel-pool-layer';
import type { LoadedSpec } from './model-spec';
import { objectStoreIO } from './object-store-io';

export async function loadLayersModel(loaded: LoadedSpec, file: string, role: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(objectStoreIO(loaded.store, file));
  } catch (e) {
    throw new ModelSpecError(`cannot load the ${role} ${file} named in ${loaded.uri}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

export async function loadGraphModel(loaded: LoadedSpec, file: string, role: string): Promise<tf.GraphModel> {
  try {
    return await tf.loadGraphModel(objectStoreIO(loaded.store, file));
  } catch (e) {
    throw new ModelSpecError(
      `cannot load the ${role} ${file} (tfjs-converter graph) named in ${loaded.uri}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** The classifier, checked against the spec's input size. */
export async function loadClassifier(loaded: LoadedSpec): Promise<tf.LayersModel> {
  const { spec } = loaded;
  const classifier = await loadLayersModel(loaded, spec.classifier.model, 'classifier');
  const inShape = classifier.inputs[0]!.shape;
  if (inShape[1] !== spec.classifier.inputSize[0] || inShape[2] !== spec.classifier.inputSize[1] || inShape[3] !== 3) {
    throw new ModelSpecError(
      `the classifier takes [${inShape.slice(1).join(',')}] but the spec says inputSize ${spec.classifier.inputSize.join('x')} with 3 channels`,
    );
  }
  return classifier;
}
