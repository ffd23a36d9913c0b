/**
 * Checks a spec against the classifier's topology (its model.json) before any job runs:
 * the Grad-CAM and attention layers exist, the input size matches, the output units equal
 * the class count, a Conv2D attention layer has one filter. Read from JSON alone, so that
 * `overmap enqueue` refuses a wrong spec at once, without TensorFlow.js; the worker checks
 * the loaded graph again (classifier-graph.ts) for what only shapes can tell.
 */
import { ModelSpecError } from '@overmap/shared/core';
import type { ModelSpec } from './model-spec';

interface LayerJson {
  class_name: string;
  config: { name: string; units?: number; filters?: number; batch_input_shape?: (number | null)[] };
}
interface TopologyJson {
  class_name?: string;
  config?:
    | { layers?: LayerJson[]; output_layers?: [string, number, number][]; input_layers?: [string, number, number][] }
    | LayerJson[];
}

export function checkClassifierTopology(spec: ModelSpec, modelJson: unknown, where: string): void {
  const topology = (modelJson as { modelTopology?: TopologyJson }).modelTopology;
  const root = topology && ((topology as { model_config?: TopologyJson }).model_config ?? topology);
  const cfg = root?.config;
  const layers = Array.isArray(cfg) ? cfg : cfg?.layers;
  if (!layers || !Array.isArray(layers)) return; // not a Layers model.json: the loader will say so
  const byName = new Map(layers.map((l) => [l.config.name, l]));
  const names = layers.map((l) => l.config.name).join(', ');
  for (const [role, name] of [
    ['Grad-CAM', spec.gradcamLayer],
    ...spec.attentionLayers.map((a) => ['attention', a] as const),
  ] as const) {
    if (!byName.has(name))
      throw new ModelSpecError(
        `${role} layer "${name}" not found in the classifier; its layers are: ${names} (${where})`,
      );
  }
  for (const a of spec.attentionLayers) {
    const l = byName.get(a)!;
    if (l.class_name === 'Conv2D' && l.config.filters !== 1) {
      throw new ModelSpecError(
        `attention layer "${a}" is a Conv2D with ${l.config.filters} filters: it must be a spatial mask with one channel`,
      );
    }
  }
  const outName = Array.isArray(cfg) ? layers[layers.length - 1]!.config.name : cfg?.output_layers?.[0]?.[0];
  const out = outName ? byName.get(outName) : undefined;
  if (out?.class_name === 'Dense' && out.config.units !== spec.classes.length) {
    throw new ModelSpecError(
      `the classifier's output layer "${out.config.name}" has ${out.config.units} units but the spec lists ${spec.classes.length} classes: class count must equal the output units`,
    );
  }
  const inName = Array.isArray(cfg) ? layers[0]!.config.name : cfg?.input_layers?.[0]?.[0];
  const shape = (inName ? byName.get(inName) : layers[0])?.config.batch_input_shape;
  if (
    shape &&
    shape.length === 4 &&
    (shape[1] !== spec.classifier.inputSize[0] || shape[2] !== spec.classifier.inputSize[1] || shape[3] !== 3)
  ) {
    throw new ModelSpecError(
      `the classifier takes [${shape.slice(1).join(',')}] but the spec says inputSize ${spec.classifier.inputSize.join('x')} with 3 channels`,
    );
  }
}
