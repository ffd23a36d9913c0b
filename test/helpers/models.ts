/** Small real models for tests: the reference architectures with random weights, saved as TF.js files. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { buildCbamClassifier, buildSegmenter, saveModel } from '@overmap/reference';
import { CLASS_NAMES } from '@overmap/reference';

export async function makeDevModel(
  dir: string,
  o: { segmenter?: 'model' | 'saliency'; patch?: Record<string, unknown> } = {},
): Promise<string> {
  await saveModel(buildCbamClassifier(), path.join(dir, 'classifier'));
  if ((o.segmenter ?? 'model') === 'model') await saveModel(buildSegmenter(), path.join(dir, 'segmenter'));
  const spec = {
    name: 'dev',
    classes: [...CLASS_NAMES],
    classifier: { model: 'classifier/model.json', inputSize: [64, 64] },
    gradcamLayer: 'gradcam_conv',
    attentionLayers: ['spatial_attention'],
    segmenter:
      (o.segmenter ?? 'model') === 'model' ? { type: 'model', model: 'segmenter/model.json' } : { type: 'saliency' },
    ...o.patch,
  };
  const file = path.join(dir, 'spec.json');
  await fs.writeFile(file, JSON.stringify(spec));
  return file;
}
