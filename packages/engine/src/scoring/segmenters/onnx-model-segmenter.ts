/**
 * A learned segmenter in ONNX (`segmenter.type: model`, `format: onnx`), run by ONNX Runtime
 * before the scorer's tidy scope; its probability map is binarised as the Layers one is.
 */
import { ModelSpecError } from '@overmap/shared/core';
import { type OrtModule, type OrtSession, createSession } from '../../backend/onnx-runtime';
import type { LoadedSpec, ModelSpec } from '../../model/model-spec';
import { outputOrError } from '../../model/onnx-graph';
import { onnxImageBatch } from '../../model/onnx-input';
import type { HostOutputs } from '../forward/classifier-forward';
import type { ScoreInput } from '../scorer';
import { readOnnxImageModel } from './onnx-image-model';
import type { Segmenter } from './segmenter';

type Spec = Extract<ModelSpec['segmenter'], { type: 'model' }>;

/**
 * The mask output's shape against the spec, wherever it is known: rank 4, and the channel the spec
 * reads (maskChannel; for softmax at least two channels and backgroundChannel) within its channel
 * count. A symbolic dim (null: the graph leaves it to the run) passes here and is checked on the
 * first real output, which the warm-up at load and at enqueue produces.
 */
type Shape = readonly (number | null)[] | null | undefined;

function checkMaskShape(name: string, shape: Shape, spec: Spec, where: string): void {
  if (!shape) return;
  const nchw = spec.layout === 'nchw';
  const c = shape.length === 4 ? shape[nchw ? 1 : 3] : undefined;
  const form = nchw ? '[N, C, h, w]' : '[N, h, w, C]';
  const dims = `[${shape.map((d) => d ?? 'N').join(',')}]`;
  if (shape.length !== 4) throw new ModelSpecError(`${where} outputs "${name}" of shape ${dims}: a mask is ${form}`);
  if (c === null || c === undefined) return;
  if (spec.output === 'softmax' && (c < 2 || spec.backgroundChannel >= c))
    throw new ModelSpecError(
      `${where} outputs "${name}" of shape ${dims}: segmenter.output softmax needs C ≥ 2 class channels and backgroundChannel ${spec.backgroundChannel} among them`,
    );
  if (spec.output !== 'softmax' && spec.maskChannel >= c)
    throw new ModelSpecError(
      `${where} outputs "${name}" of shape ${dims}: it has ${c} channel${c === 1 ? '' : 's'}, so segmenter.maskChannel ${spec.maskChannel} does not exist (for per-class logits, set segmenter.output to softmax)`,
    );
}

export class OnnxModelSegmenter implements Segmenter {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    private readonly spec: Spec,
    private readonly inputName: string,
    private readonly outputName: string,
    readonly inputSize: [number, number],
    private readonly where: string,
  ) {}

  static async load(loaded: LoadedSpec, spec: Spec): Promise<OnnxModelSegmenter> {
    const { ort, bytes, graph, where, input } = await readOnnxImageModel(loaded, spec.model, spec.layout, 'segmenter');
    const out = outputOrError(
      graph,
      spec.maskOutput ?? graph.outputs[0]?.name ?? '',
      'mask (segmenter.maskOutput)',
      loaded.uri,
    );
    checkMaskShape(out.name, out.shape, spec, where);
    const session = await createSession(bytes, spec.model, loaded.uri);
    return new OnnxModelSegmenter(ort, session, spec, input.name, out.name, input.size, where);
  }

  async run(inputs: ScoreInput[]): Promise<HostOutputs> {
    const images = inputs.map((x) => x.segRgb ?? x.rgb);
    const x = onnxImageBatch(images, this.inputSize, this.spec.normalization, this.spec.layout);
    const out = await this.session.run({ [this.inputName]: new this.ort.Tensor('float32', x.data, x.dims) }, [
      this.outputName,
    ]);
    const t = out[this.outputName]!;
    return { mask: { data: t.data as Float32Array, dims: t.dims } };
  }

  hostMasks(ran: HostOutputs): { data: Float32Array; h: number; w: number } {
    const m = ran.mask!;
    const nchw = this.spec.layout === 'nchw';
    const [n, d1, d2, d3] = m.dims as [number, number, number, number];
    const [c, h, w] = nchw ? [d1, d2, d3] : [d3, d1, d2];
    // the symbolic dims of the graph are known now: the channel the spec names must exist
    checkMaskShape('mask', [n, ...(nchw ? [c, h, w] : [h, w, c])], this.spec, this.where);
    const px = h * w;
    const at = nchw
      ? (b: number, k: number, i: number) => (b * c + k) * px + i
      : (b: number, k: number, i: number) => (b * px + i) * c + k;
    const t = this.spec.threshold;
    const out = new Float32Array(n * px);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < px; i++)
        out[b * px + i] = Math.fround(this.objectProbability(m.data as Float32Array, at, b, i, c)) >= t ? 1 : 0;
    return { data: out, h, w };
  }

  /** The object's probability at a pixel, by the spec's output kind (sigmoid as tf computes it). */
  private objectProbability(
    data: Float32Array,
    at: (b: number, k: number, i: number) => number,
    b: number,
    i: number,
    c: number,
  ): number {
    const { output, maskChannel, backgroundChannel } = this.spec;
    if (output === 'probability') return data[at(b, maskChannel, i)]!;
    if (output === 'logits') return 1 / (1 + Math.exp(-data[at(b, maskChannel, i)]!));
    let max = -Infinity;
    for (let k = 0; k < c; k++) max = Math.max(max, data[at(b, k, i)]!);
    let sum = 0;
    for (let k = 0; k < c; k++) sum += Math.exp(data[at(b, k, i)]! - max);
    return 1 - Math.exp(data[at(b, backgroundChannel, i)]! - max) / sum;
  }

  dispose(): void {
    this.session.release().catch(() => undefined);
  }
}
