/**
 * The model checks that the graph alone cannot settle, made before a run's first job: the
 * spec's models are loaded exactly as a worker loads them (OverMapScorer.load: outputs, shapes,
 * class count, layout, the Grad-CAM head, attention outputs, the segmenter's mask, then two blank
 * images scored, which a graph fixed to a batch of one or with external-data weights fails). A
 * spec that fails is a ModelSpecError naming the spec: input to fix, never a job to retry.
 */
import type { LoadedSpec } from '../model/model-spec';
import { OverMapScorer } from './overmap-scorer';

export async function dryRunSpec(loaded: LoadedSpec): Promise<void> {
  (await OverMapScorer.load(loaded)).dispose();
}
