/**
 * The forward pass of an ONNX classifier in ONNX Runtime. The model is exported with the
 * Grad-CAM layer's activations and the attention maps as extra outputs (spec: gradcamLayer,
 * attentionLayers name outputs); the head is read from the graph (onnx-head.ts) and rebuilt
 * in TF.js for the class scores and Grad-CAM's gradient, so nothing after the forward pass
 * differs from the Layers path. Validated at load: outputs present, shapes, class count,
 * input size.
 */
import { ModelSpecError } from '@overmap/shared/core';
import type { OrtModule, OrtSession } from '../../backend/onnx-runtime';
import { createSession, requireOnnxRuntime } from '../../backend/onnx-runtime';
import * as tf from '../../backend/tf';
import type { LoadedSpec, ModelSpec } from '../../model/model-spec';
import { onnxImageBatch } from '../../model/onnx-input';
import { type OnnxGraph, outputOrError, readOnnxGraph } from '../../model/onnx-graph';
import type { HostFeatures } from '../dense-head';
import type { ScoreInput } from '../scorer';
import type { ClassifierForward, ForwardTensors, HostOutputs } from './classifier-forward';
import { type DenseHead, readDenseHead } from './onnx-head';

export class OnnxForward implements ClassifierForward {
  private readonly weight: tf.Tensor2D;
  private readonly bias: tf.Tensor1D;

  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    private readonly spec: ModelSpec,
    private readonly inputName: string,
    private readonly dense: DenseHead,
  ) {
    this.weight = tf.tensor2d(dense.weight, [dense.channels, dense.classes]);
    this.bias = tf.tensor1d(dense.bias);
  }

  get numClasses(): number {
    return this.dense.classes;
  }
  get attentionCount(): number {
    return this.spec.attentionLayers.length;
  }

  static async load(loaded: LoadedSpec): Promise<OnnxForward> {
    const { spec, uri } = loaded;
    const c = spec.classifier;
    const ort = requireOnnxRuntime(`the classifier ${c.model}`);
    const bytes = await loaded.store.get(c.model);
    const graph = readOnnxGraph(bytes, c.model, uri);
    const { inputName, logitsName, dense } = validate(graph, spec, uri);
    const session = await createSession(bytes, c.model, uri);
    const forward = new OnnxForward(ort, session, spec, inputName, dense);
    await forward.checkHead(logitsName);
    return forward;
  }

  /**
   * The head read from the graph must give the model's own class scores: on a fixed
   * pseudo-random image, ONNX Runtime's logits against the TF.js head on its activations.
   */
  private async checkHead(logitsName: string): Promise<void> {
    const [h, w] = this.spec.classifier.inputSize;
    let seed = 12345;
    const rgb = Uint8Array.from({ length: h * w * 3 }, () => {
      seed = (seed * 16807) % 2147483647;
      return seed % 256;
    });
    const ran = await this.run([{ rgb }], [logitsName]);
    const worst = tf.tidy(() => {
      const mine = this.head(this.features(tf.zeros([1, h, w, 3]), ran).acts);
      const theirs = tf.tensor2d(ran[logitsName]!.data, [1, this.dense.classes]);
      return tf.max(tf.div(tf.abs(tf.sub(mine, theirs)), tf.add(tf.max(tf.abs(theirs)), 1e-6))).dataSync()[0]!;
    });
    if (!(worst < 1e-3)) {
      throw new ModelSpecError(
        `the ONNX classifier ${this.spec.classifier.model}: the head read from its graph (pooling → dense) does not reproduce its output "${logitsName}" (largest difference ${worst.toExponential(2)} of the largest score): the head has steps the reader did not see. See docs/models.md (Grad-CAM layer and head)`,
      );
    }
  }

  async run(inputs: ScoreInput[], extra: string[] = []): Promise<HostOutputs> {
    const c = this.spec.classifier;
    const x = onnxImageBatch(
      inputs.map((i) => i.rgb),
      c.inputSize,
      c.normalization,
      c.layout,
    );
    const feeds = { [this.inputName]: new this.ort.Tensor('float32', x.data, x.dims) };
    const out = await this.session.run(feeds, [this.spec.gradcamLayer, ...this.spec.attentionLayers, ...extra]);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { data: t.data as Float32Array, dims: t.dims }]));
  }

  /** The outputs as host arrays and the head's weights: the scorer's plain-JS path (dense-head.ts). */
  get host(): NonNullable<ClassifierForward['host']> {
    return { head: this.dense, features: (ran) => this.hostFeatures(ran) };
  }

  private hostFeatures(ran: HostOutputs): HostFeatures {
    const nchw = this.spec.classifier.layout === 'nchw';
    const a = ran[this.spec.gradcamLayer]!;
    const [b, d1, d2, d3] = a.dims as [number, number, number, number];
    const [c, h, w] = nchw ? [d1, d2, d3] : [d3, d1, d2];
    // [B, 1, h, w] and [B, h, w, 1] hold the same numbers as [B, h, w].
    const attention = this.spec.attentionLayers.map((name) => {
      const m = ran[name]!;
      return { data: m.data, h: nchw ? m.dims[2]! : m.dims[1]!, w: nchw ? m.dims[3]! : m.dims[2]! };
    });
    return { acts: a.data, layout: nchw ? 'nchw' : 'nhwc', b, h, w, c, attention };
  }

  features(_raw: tf.Tensor4D, ran: HostOutputs | null): ForwardTensors {
    if (!ran) throw new Error('OnnxForward.features before run()');
    const nchw = this.spec.classifier.layout === 'nchw';
    const t4 = (name: string) => {
      const o = ran[name]!;
      return tf.tensor4d(o.data, o.dims as [number, number, number, number]);
    };
    const a = t4(this.spec.gradcamLayer);
    const acts = (nchw ? tf.transpose(a, [0, 2, 3, 1]) : a) as tf.Tensor4D;
    // [B, 1, h, w] and [B, h, w, 1] hold the same numbers: a reshape, no transpose.
    const attention = this.spec.attentionLayers.map((n) => {
      const m = t4(n);
      return (nchw ? tf.reshape(m, [m.shape[0], m.shape[2], m.shape[3], 1]) : m) as tf.Tensor4D;
    });
    return { acts, attention };
  }

  head(acts: tf.Tensor4D, mcDropout = false): tf.Tensor2D {
    return tf.tidy(() => {
      let pooled: tf.Tensor2D = tf.mean(acts, [1, 2]);
      if (mcDropout && this.dense.dropout) pooled = tf.dropout(pooled, this.dense.dropout) as tf.Tensor2D;
      const y = tf.add(tf.matMul(pooled, this.weight), this.bias) as tf.Tensor2D;
      return this.dense.softmax ? tf.softmax(y) : y;
    });
  }

  dispose(): void {
    this.session.release().catch(() => undefined);
    this.weight.dispose();
    this.bias.dispose();
  }
}

/** The spec against the graph: the input, the outputs it names, their shapes, the class count, the head. */
function validate(
  graph: OnnxGraph,
  spec: ModelSpec,
  uri: string,
): { inputName: string; logitsName: string; dense: DenseHead } {
  const c = spec.classifier;
  const where = `the ONNX classifier ${c.model} (${uri})`;
  if (graph.inputs.length !== 1)
    throw new ModelSpecError(`${where} has ${graph.inputs.length} inputs: it needs exactly one (the image)`);
  const input = graph.inputs[0]!;
  const nchw = c.layout === 'nchw';
  if (input.shape) {
    const [ch, h, w] = nchw
      ? [input.shape[1], input.shape[2], input.shape[3]]
      : [input.shape[3], input.shape[1], input.shape[2]];
    const want = nchw ? `[N,3,${c.inputSize.join(',')}]` : `[N,${c.inputSize.join(',')},3]`;
    if (
      input.shape.length !== 4 ||
      (ch != null && ch !== 3) ||
      (h != null && h !== c.inputSize[0]) ||
      (w != null && w !== c.inputSize[1])
    ) {
      throw new ModelSpecError(
        `${where} takes input "${input.name}" of shape [${input.shape.map((d) => d ?? 'N').join(',')}] but the spec says inputSize ${c.inputSize.join('x')} with 3 channels, layout ${c.layout} (${want})`,
      );
    }
  }
  const logitsName = c.logitsOutput ?? graph.outputs[0]?.name ?? '';
  const logits = outputOrError(graph, logitsName, 'class-score (classifier.logitsOutput)', uri);
  const units = logits.shape?.[logits.shape.length - 1];
  if (logits.shape && (logits.shape.length !== 2 || (units != null && units !== spec.classes.length))) {
    throw new ModelSpecError(
      `${where} outputs "${logitsName}" of shape [${logits.shape.map((d) => d ?? 'N').join(',')}] but the spec lists ${spec.classes.length} classes: class count must equal the output units`,
    );
  }
  const gc = outputOrError(graph, spec.gradcamLayer, 'Grad-CAM (gradcamLayer)', uri);
  if (gc.shape && gc.shape.length !== 4) {
    throw new ModelSpecError(
      `${where}: Grad-CAM output "${gc.name}" has shape [${gc.shape.map((d) => d ?? 'N').join(',')}]: it must be a convolutional feature map (${nchw ? '[N, C, h, w]' : '[N, h, w, C]'})`,
    );
  }
  for (const name of spec.attentionLayers) {
    const a = outputOrError(graph, name, 'attention (attentionLayers)', uri);
    const ch = a.shape ? (nchw ? a.shape[1] : a.shape[3]) : 1;
    if (a.shape && (a.shape.length !== 4 || ch !== 1)) {
      throw new ModelSpecError(
        `${where}: attention output "${name}" has shape [${a.shape.map((d) => d ?? 'N').join(',')}]: it must be a spatial mask (${nchw ? '[N, 1, h, w]' : '[N, h, w, 1]'})`,
      );
    }
  }
  const dense = readDenseHead(graph, spec.gradcamLayer, logitsName, c.layout, uri);
  if (dense.classes !== spec.classes.length)
    throw new ModelSpecError(
      `${where}: its dense head has ${dense.classes} outputs but the spec lists ${spec.classes.length} classes`,
    );
  const gcChannels = gc.shape ? (nchw ? gc.shape[1] : gc.shape[3]) : null;
  if (gcChannels != null && gcChannels !== dense.channels)
    throw new ModelSpecError(
      `${where}: Grad-CAM output "${gc.name}" has ${gcChannels} channels but the dense head reads ${dense.channels}`,
    );
  if (spec.mcDropoutSamples > 0 && !dense.dropout)
    throw new ModelSpecError(
      `${where}: mcDropoutSamples is ${spec.mcDropoutSamples} but the head has no Dropout node to sample`,
    );
  if ((c.output === 'probabilities') !== dense.softmax) {
    throw new ModelSpecError(
      `${where}: classifier.output is "${c.output}" but the head ${dense.softmax ? 'ends in' : 'has no'} Softmax`,
    );
  }
  return { inputName: input.name, logitsName, dense };
}
