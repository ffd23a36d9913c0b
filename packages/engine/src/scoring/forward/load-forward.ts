/** The classifier's forward pass for a spec: a TF.js Layers model or an ONNX model (classifier.format). */
import { loadClassifier } from '../../model/load-models';
import type { LoadedSpec } from '../../model/model-spec';
import type { ClassifierForward } from './classifier-forward';
import { LayersForward } from './layers-forward';
import { OnnxForward } from './onnx-forward';

export async function loadClassifierForward(loaded: LoadedSpec): Promise<ClassifierForward> {
  if (loaded.spec.classifier.format === 'onnx') return OnnxForward.load(loaded);
  return new LayersForward(await loadClassifier(loaded), loaded.spec);
}
