/**
 * A detector in ONNX (`segmenter.type: detector`, `format: onnx`), run by ONNX Runtime before
 * the scorer's tidy scope: its boxes scoring at least `minScore` are binarised into the mask at
 * the classifier's input size, as the TF.js detector's are. Export it without NMS (raw boxes
 * and scores as outputs, `boxesOutput` / `scoresOutput` index the graph's outputs); the boxes
 * are normalised corners, `boxFormat` says their order.
 */
import { ModelSpecError } from '@overmap/shared/core';
import { type OrtModule, type OrtSession, createSession } from '../../backend/onnx-runtime';
import type { LoadedSpec, ModelSpec } from '../../model/model-spec';
import { onnxImageBatch } from '../../model/onnx-input';
import type { HostOutputs } from '../forward/classifier-forward';
import type { ScoreInput } from '../scorer';
import { boxMasks } from './box-masks';
import { detectorBoxes } from './detector-segmenter';
import { readOnnxImageModel } from './onnx-image-model';
import type { Segmenter } from './segmenter';

type Spec = Extract<ModelSpec['segmenter'], { type: 'detector' }>;
const shapeText = (s: readonly (number | null)[]) => `[${s.map((d) => d ?? 'N').join(',')}]`;

export class OnnxDetectorSegmenter implements Segmenter {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    private readonly spec: Spec,
    private readonly inputName: string,
    private readonly outputs: { boxes: string; scores: string },
    readonly inputSize: [number, number],
    /** the mask's size: the classifier's input */
    private readonly maskSize: [number, number],
    private readonly where: string,
  ) {}

  static async load(loaded: LoadedSpec, spec: Spec): Promise<OnnxDetectorSegmenter> {
    const { ort, bytes, graph, where, input } = await readOnnxImageModel(loaded, spec.model, spec.layout, 'detector');
    const names = graph.outputs.map((o) => o.name);
    const pick = (index: number, field: string) => {
      const o = graph.outputs[index];
      if (!o)
        throw new ModelSpecError(
          `${where} has ${names.length} output(s) (${names.join(', ')}): the spec's ${field} ${index} does not exist`,
        );
      return o;
    };
    const boxes = pick(spec.boxesOutput, 'boxesOutput'),
      scores = pick(spec.scoresOutput, 'scoresOutput');
    if (boxes.shape && (boxes.shape.length !== 3 || (boxes.shape[2] != null && boxes.shape[2] !== 4))) {
      throw new ModelSpecError(
        `${where}: output ${spec.boxesOutput} ("${boxes.name}") is ${shapeText(boxes.shape)}: boxes must be [batch, K, 4]`,
      );
    }
    if (scores.shape && !(scores.shape.length === 2 || (scores.shape.length === 3 && scores.shape[2] === 1))) {
      throw new ModelSpecError(
        `${where}: output ${spec.scoresOutput} ("${scores.name}") is ${shapeText(scores.shape)}: scores must be [batch, K] or [batch, K, 1]`,
      );
    }
    const session = await createSession(bytes, spec.model, loaded.uri);
    return new OnnxDetectorSegmenter(
      ort,
      session,
      spec,
      input.name,
      { boxes: boxes.name, scores: scores.name },
      input.size,
      loaded.spec.classifier.inputSize,
      where,
    );
  }

  async run(inputs: ScoreInput[]): Promise<HostOutputs> {
    const x = onnxImageBatch(
      inputs.map((i) => i.segRgb ?? i.rgb),
      this.inputSize,
      this.spec.normalization,
      this.spec.layout,
    );
    const out = await this.session.run({ [this.inputName]: new this.ort.Tensor('float32', x.data, x.dims) }, [
      this.outputs.boxes,
      this.outputs.scores,
    ]);
    const host = (name: string) => ({ data: out[name]!.data as Float32Array, dims: out[name]!.dims });
    return { boxes: host(this.outputs.boxes), scores: host(this.outputs.scores) };
  }

  hostMasks(ran: HostOutputs): { data: Float32Array; h: number; w: number } {
    const boxes = ran.boxes!,
      scores = ran.scores!;
    const [b, k] = boxes.dims as [number, number, number];
    if (boxes.dims.length !== 3 || boxes.dims[2] !== 4)
      throw new ModelSpecError(
        `${this.where}: its boxes came out ${shapeText(boxes.dims)}: they must be [batch, K, 4]`,
      );
    if (scores.dims[0] !== b || scores.dims[1] !== k || scores.data.length !== b * k) {
      throw new ModelSpecError(
        `${this.where}: its scores came out ${shapeText(scores.dims)}: they must be [${b}, ${k}] (one per box)`,
      );
    }
    const [h, w] = this.maskSize;
    return {
      data: boxMasks(detectorBoxes(boxes.data, scores.data, b, k, this.spec.boxFormat, this.spec.minScore), h, w),
      h,
      w,
    };
  }

  dispose(): void {
    this.session.release().catch(() => undefined);
  }
}
