/**
 * Splits a Layers classifier at the Grad-CAM layer: a feature model that yields, in one
 * forward pass, the Grad-CAM layer's activations and the attention maps; and the head
 * (the chain of layers from the Grad-CAM layer to the output), applied to activations.
 * Grad-CAM then needs gradients through the head only, never through the convolutions
 * before it.
 */
import { ModelSpecError } from '@overmap/shared/core';
import * as tf from '../backend/tf';

export interface ClassifierGraph {
  features: tf.LayersModel;
  head: tf.layers.Layer[];
  numClasses: number;
  attentionCount: number;
}

function layerOrError(model: tf.LayersModel, name: string, role: string): tf.layers.Layer {
  try {
    return model.getLayer(name);
  } catch {
    const names = model.layers.map((l) => l.name);
    throw new ModelSpecError(
      `${role} layer "${name}" not found in the classifier; its layers are: ${names.join(', ')}`,
    );
  }
}

export function buildClassifierGraph(
  model: tf.LayersModel,
  gradcamLayer: string,
  attentionLayers: string[],
  numClasses: number,
): ClassifierGraph {
  if (model.outputs.length !== 1)
    throw new ModelSpecError(
      `the classifier has ${model.outputs.length} outputs: it needs exactly one (the class scores)`,
    );
  const units = model.outputs[0]!.shape[model.outputs[0]!.shape.length - 1];
  if (model.outputs[0]!.shape.length !== 2 || units !== numClasses) {
    throw new ModelSpecError(
      `the classifier outputs shape [${model.outputs[0]!.shape.join(',')}] but the spec lists ${numClasses} classes: class count must equal the output units`,
    );
  }
  const gc = layerOrError(model, gradcamLayer, 'Grad-CAM');
  const gcShape = gc.outputShape as tf.Shape;
  if (!Array.isArray(gcShape) || gcShape.length !== 4) {
    throw new ModelSpecError(
      `Grad-CAM layer "${gradcamLayer}" outputs [${String(gcShape)}]: it must be a convolutional feature map [batch, h, w, channels]`,
    );
  }
  const attention = attentionLayers.map((name) => {
    const l = layerOrError(model, name, 'attention');
    const s = l.outputShape as tf.Shape;
    if (!Array.isArray(s) || s.length !== 4 || s[3] !== 1) {
      throw new ModelSpecError(
        `attention layer "${name}" outputs [${String(s)}]: it must be a spatial mask [batch, h, w, 1]`,
      );
    }
    return l;
  });

  // Walk the single chain from the Grad-CAM layer to the output layer.
  const outputLayer = model.outputLayers[0]!;
  const head: tf.layers.Layer[] = [];
  let current = gc;
  while (current !== outputLayer) {
    const next = current.outboundNodes
      .map((n) => n.outboundLayer)
      .filter((l): l is tf.layers.Layer => !!l && model.layers.includes(l));
    if (next.length !== 1) {
      throw new ModelSpecError(
        `the layers after Grad-CAM layer "${gradcamLayer}" must form a single chain to the output; "${current.name}" feeds ${next.length} layers`,
      );
    }
    current = next[0]!;
    if (current.inboundNodes.some((n) => n.inboundLayers.length !== 1)) {
      throw new ModelSpecError(
        `layer "${current.name}" after Grad-CAM layer "${gradcamLayer}" has several inputs: the head must be a chain`,
      );
    }
    head.push(current);
  }
  const features = tf.model({
    inputs: model.inputs,
    outputs: [gc.output as tf.SymbolicTensor, ...attention.map((l) => l.output as tf.SymbolicTensor)],
  });
  return { features, head, numClasses, attentionCount: attention.length };
}

/** Applies the head in inference mode; with `mcDropout`, its Dropout layers drop (MC dropout). */
export function applyHead(graph: ClassifierGraph, activations: tf.Tensor, mcDropout = false): tf.Tensor2D {
  let x = activations;
  for (const layer of graph.head) {
    if (mcDropout && layer.getClassName() === 'Dropout') {
      x = tf.dropout(x, (layer.getConfig() as { rate: number }).rate);
    } else {
      x = layer.apply(x) as tf.Tensor;
    }
  }
  return x as tf.Tensor2D;
}
