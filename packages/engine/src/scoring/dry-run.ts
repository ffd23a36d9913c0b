/**
 * The model checks that the graph alone cannot settle, made before a run's first job: the
 * spec's models are loaded as a worker loads them (outputs, shapes, class count, layout, the
 * Grad-CAM head, attention outputs, the segmenter's mask) and two blank images are scored (a
 * graph exported for a batch of one, or with weights in external-data files, fails here). A
 * spec that fails is a ModelSpecError naming the spec: input to fix, never a job to retry.
 */
import { ModelSpecError } from '@overmap/shared/core';
import type { LoadedSpec } from '../model/model-spec';
import { OverMapScorer, blankInput } from './overmap-scorer';

export async function dryRunSpec(loaded: LoadedSpec): Promise<void> {
  const scorer = await OverMapScorer.load(loaded);
  try {
    await scorer.scoreBatch([blankInput(scorer), blankInput(scorer)]);
  } catch (e) {
    if (e instanceof ModelSpecError) throw e;
    throw new ModelSpecError(
      `model spec ${loaded.uri}: scoring a batch of two blank images failed (${(e as Error).message}); ` +
        'export the models with a dynamic batch axis (dynamic_axes={"image": {0: "N"}, …}) and their weights inside the file',
      { cause: e },
    );
  } finally {
    scorer.dispose();
  }
}
