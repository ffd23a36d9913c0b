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

export class OnnxModelSegmenter implements Segmenter {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    private readonly spec: Spec,
    private readonly inputName: string,
    private readonly outputName: string,
    readonly inputSize: [number, number],
  ) {}

  static async load(loaded: LoadedSpec, spec: Spec): Promise<OnnxModelSegmenter> {
    const { ort, bytes, graph, where, input } = await readOnnxImageModel(loaded, spec.model, spec.layout, 'segmenter');
    const nchw = spec.layout === 'nchw';
    const out = outputOrError(
      graph,
      spec.maskOutput ?? graph.outputs[0]?.name ?? '',
      'mask (segmenter.maskOutput)',
      loaded.uri,
    );
    const ch = out.shape ? (nchw ? out.shape[1] : out.shape[3]) : 1;
    if (out.shape && (out.shape.length !== 4 || ch !== 1)) {
      throw new ModelSpecError(
        `${where} outputs "${out.name}" of shape [${out.shape.map((d) => d ?? 'N').join(',')}]: it must output one mask channel (${nchw ? '[N, 1, h, w]' : '[N, h, w, 1]'})`,
      );
    }
    const session = await createSession(bytes, spec.model, loaded.uri);
    return new OnnxModelSegmenter(ort, session, spec, input.name, out.name, input.size);
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
    const [, d1, d2, d3] = m.dims as [number, number, number, number];
    const [h, w] = this.spec.layout === 'nchw' ? [d2, d3] : [d1, d2];
    const logits = this.spec.output === 'logits';
    const t = this.spec.threshold;
    const data = new Float32Array(m.data.length);
    // sigmoid(x) ≥ t as tf computes it: the probability first, then the comparison.
    for (let i = 0; i < data.length; i++) {
      const p = logits ? 1 / (1 + Math.exp(-m.data[i]!)) : m.data[i]!;
      data[i] = Math.fround(p) >= t ? 1 : 0;
    }
    return { data, h, w };
  }

  dispose(): void {
    this.session.release().catch(() => undefined);
  }
}
