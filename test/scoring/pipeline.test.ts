import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { tf } from '@overmap/engine';
import { type ImageScore, OverMapScorer, initBackend, loadSpec, referenceSpecUri } from '@overmap/engine';
import { ModelSpecError } from '@overmap/shared';
import { makeDevModel } from '../helpers/models';
import { layersToOnnx, saveModel } from '@overmap/reference';
import { tmpDir } from '../helpers/services';
import { type Decision, decisionScore, localisationScores } from '@overmap/engine/testing';

let dir: string;
let scorer: OverMapScorer;
const N = 32;
const px = 64 * 64 * 3;
let images: Uint8Array[];

beforeAll(async () => {
  await initBackend('wasm');
  dir = await tmpDir();
  scorer = await OverMapScorer.load(await loadSpec(await makeDevModel(path.join(dir, 'model'))));
  let seed = 1;
  const rnd = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  images = Array.from({ length: N }, () => Uint8Array.from({ length: px }, () => Math.floor(rnd() * 256)));
});
afterAll(async () => {
  scorer.dispose();
  await fs.rm(dir, { recursive: true, force: true });
});

const strip = (s: ImageScore) => ({ ...s, maps: undefined });

describe('OverMapScorer', () => {
  it('scores each image the same alone and inside a batch of 32', async () => {
    const batch = await scorer.scoreBatch(images.map((rgb) => ({ rgb })));
    expect(batch).toHaveLength(N);
    for (const i of [0, 7, 31]) {
      const alone = (await scorer.scoreBatch([{ rgb: images[i]! }]))[0]!;
      expect(alone.index).toBe(batch[i]!.index);
      for (const k of [
        'confidence',
        'overmap',
        'gradcam_seg',
        'attention_seg',
        'gradcam_attention',
        'msp',
        'entropy',
        'margin',
      ] as const) {
        expect(Math.abs(alone.scores[k]! - batch[i]!.scores[k]!)).toBeLessThan(1e-5);
      }
      expect(Math.abs(alone.maskFraction - batch[i]!.maskFraction)).toBeLessThan(1e-5);
    }
  });

  it('gives bit-identical scores across two runs and leaks no tensors over 100 batches', async () => {
    const inputs = images.slice(0, 4).map((rgb) => ({ rgb }));
    const first = (await scorer.scoreBatch(inputs)).map(strip);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) await scorer.scoreBatch(inputs);
    expect(tf.memory().numTensors).toBe(before);
    expect((await scorer.scoreBatch(inputs)).map(strip)).toEqual(first);
  });

  it('keeps every score in range and top-3 probabilities sorted', async () => {
    for (const s of await scorer.scoreBatch(images.slice(0, 8).map((rgb) => ({ rgb, label: 3 })))) {
      for (const v of [
        s.scores.overmap,
        s.scores.gradcam_seg,
        s.scores.attention_seg,
        s.scores.gradcam_attention,
        s.scores.msp,
        s.scores.margin,
      ]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1 + 1e-6);
      }
      expect(s.top).toHaveLength(3);
      expect(s.top[0]!.p).toBeGreaterThanOrEqual(s.top[1]!.p);
      expect(s.scores.label_gradcam_seg).not.toBeNull();
    }
  });
});

describe('threshold-free measures, the runner-up contrast and the decision score in the scorer', () => {
  it('records the Grad-CAM/mask measures of the very maps it returns, and contrast = gradcam_seg − runner_up_seg', async () => {
    for (const s of await scorer.scoreBatch(
      images.slice(0, 6).map((rgb) => ({ rgb })),
      { keepMaps: true },
    )) {
      if (s.noMask) continue;
      const loc = localisationScores(s.maps!.gradcam, s.maps!.mask);
      expect(s.scores.gradcam_seg_rank).toBeCloseTo(loc.rank, 6);
      expect(s.scores.gradcam_seg_auc).toBeCloseTo(loc.auc, 6);
      expect(s.scores.gradcam_seg_pointing).toBe(loc.pointing);
      expect(s.scores.gradcam_seg_localisation).toBeCloseTo(loc.localisation, 6);
      expect(s.scores.runner_up_seg).toBeGreaterThanOrEqual(0);
      expect(s.scores.runner_up_seg).toBeLessThanOrEqual(1 + 1e-6);
      expect(s.scores.gradcam_contrast).toBeCloseTo(s.scores.gradcam_seg! - s.scores.runner_up_seg!, 6);
      expect(s.scores.confidence).toBe(s.scores.overmap); // no `decision` in the spec: today's behaviour
    }
  });

  it('a map-side overlap measure (auc) gives gradcam_seg = gradcam_seg_auc; a sirc decision builds confidence from msp', async () => {
    const decision = { rule: 'sirc', primary: 'msp', secondary: 'gradcam_seg', a: 0.6, b: 10 };
    const s = await OverMapScorer.load(
      await loadSpec(
        await makeDevModel(path.join(dir, 'auc'), { patch: { overlap: { measure: 'auc', binarize: 0.5 }, decision } }),
      ),
    );
    try {
      for (const r of await s.scoreBatch(images.slice(0, 6).map((rgb) => ({ rgb, label: 2 })))) {
        if (r.noMask) continue;
        expect(r.scores.gradcam_seg).toBeCloseTo(r.scores.gradcam_seg_auc!, 12);
        expect(r.scores.label_gradcam_seg).toBeGreaterThanOrEqual(0);
        expect(r.scores.confidence).toBeCloseTo(decisionScore(r.scores, decision as Decision)!, 12);
        expect(r.scores.confidence!).toBeLessThanOrEqual(r.scores.msp!);
      }
    } finally {
      s.dispose();
    }
  });
});

describe('no_mask: "estimation not available"', () => {
  it('a uniform image has no salient object: no_mask, overmap 0', async () => {
    const s = await OverMapScorer.load(
      await loadSpec(await makeDevModel(path.join(dir, 'saliency'), { segmenter: 'saliency' })),
    );
    try {
      const flat = new Uint8Array(px).fill(128);
      const [r] = await s.scoreBatch([{ rgb: flat }]);
      expect(r!.noMask).toBe(true);
      expect(r!.maskFraction).toBe(0);
      expect(r!.scores.overmap).toBe(0);
      expect(r!.scores.gradcam_seg).toBe(0);
      expect(r!.scores.attention_seg).toBe(0);
      // a bright square on a dark ground is an object
      const sq = new Uint8Array(px);
      for (let y = 20; y < 44; y++)
        for (let x = 20; x < 44; x++) for (let c = 0; c < 3; c++) sq[(y * 64 + x) * 3 + c] = 250;
      expect((await s.scoreBatch([{ rgb: sq }]))[0]!.noMask).toBe(false);
    } finally {
      s.dispose();
    }
  });
});

describe('a classifier without an attention module', () => {
  it('scores with Grad-CAM and the mask alone; attention components are 0', async () => {
    const s = await OverMapScorer.load(
      await loadSpec(await makeDevModel(path.join(dir, 'noatt'), { patch: { attentionLayers: [] } })),
    );
    try {
      const [r] = await s.scoreBatch([{ rgb: images[0]! }]);
      expect(r!.scores.attention_seg).toBe(0);
      expect(r!.scores.gradcam_attention).toBe(0);
      expect(r!.scores.gradcam_seg).toBeGreaterThanOrEqual(0);
      expect(r!.scores.overmap).toBe(r!.noMask ? 0 : r!.scores.gradcam_seg);
    } finally {
      s.dispose();
    }
  });
});

describe('detector boxes as the segmenter', () => {
  it('binarises the boxes into the mask; an image without boxes is no_mask', async () => {
    const d = path.join(dir, 'boxes');
    const spec = await makeDevModel(d, {
      segmenter: 'saliency',
      patch: { segmenter: { type: 'boxes', source: 'boxes.jsonl', minScore: 0.5 } },
    });
    await fs.writeFile(
      path.join(d, 'boxes.jsonl'),
      [
        JSON.stringify({
          key: 'a.png',
          boxes: [
            [0, 0, 0.5, 0.5, 0.9],
            [0.5, 0.5, 1, 1, 0.1],
          ],
        }),
        JSON.stringify({ key: 'b.png', boxes: [[0.25, 0.25, 0.75, 0.75]] }),
      ].join('\n'),
    );
    const s = await OverMapScorer.load(await loadSpec(spec));
    try {
      const [a, b, c] = await s.scoreBatch([
        { rgb: images[0]!, key: 'a.png' },
        { rgb: images[1]!, key: 'b.png' },
        { rgb: images[2]!, key: 'c.png' },
      ]);
      expect(a!.maskFraction).toBeCloseTo(0.25, 6); // the low-score box is dropped
      expect(b!.maskFraction).toBeCloseTo(0.25, 6);
      expect(c!.noMask).toBe(true);
      expect(c!.scores.overmap).toBe(0);
    } finally {
      s.dispose();
    }
  });
});

describe('a TF.js detector as the segmenter', () => {
  // Boxes (yxyx, normalised) and scores the detector always outputs: a model whose dense
  // layers have zero kernels and these biases, so the expected mask is known exactly.
  const BOXES = [
    [0, 0, 0.5, 0.5],
    [0.5, 0.5, 1, 1],
    [0.25, 0.5, 0.75, 1],
  ];
  const SCORES = [0.9, 0.1, 0.8];
  async function detectorSpec(name: string, segmenter: Record<string, unknown>): Promise<string> {
    const d = path.join(dir, name);
    const input = tf.input({ shape: [32, 32, 3] });
    const pooled = tf.layers.globalAveragePooling2d({}).apply(input) as tf.SymbolicTensor;
    const constant = (values: number[], shape: number[]) => {
      const dense = tf.layers.dense({
        units: values.length,
        kernelInitializer: 'zeros',
        biasInitializer: tf.initializers.constant({ value: 0 }),
      });
      const out = tf.layers.reshape({ targetShape: shape }).apply(dense.apply(pooled)) as tf.SymbolicTensor;
      return { dense, out };
    };
    const b = constant(BOXES.flat(), [3, 4]),
      sc = constant(SCORES, [3]);
    const det = tf.model({ inputs: input, outputs: [b.out, sc.out] });
    b.dense.setWeights([tf.zeros([3, 12]), tf.tensor1d(BOXES.flat())]);
    sc.dense.setWeights([tf.zeros([3, 3]), tf.tensor1d(SCORES)]);
    await saveModel(det, path.join(d, 'detector'));
    return makeDevModel(d, {
      segmenter: 'saliency',
      patch: { segmenter: { type: 'detector', model: 'detector/model.json', ...segmenter } },
    });
  }
  const seg = () => Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 7) % 256);

  /** The same detector converted to ONNX (the project's converter): outputs boxes, then scores. */
  async function onnxDetectorSpec(name: string, segmenter: Record<string, unknown> = {}): Promise<string> {
    const d = path.join(dir, name);
    const input = tf.input({ shape: [32, 32, 3] });
    const pooled = tf.layers.globalAveragePooling2d({}).apply(input) as tf.SymbolicTensor;
    const bd = tf.layers.dense({ units: 12 }),
      sd = tf.layers.dense({ units: 3 });
    const boxes = tf.layers.reshape({ targetShape: [3, 4] }).apply(bd.apply(pooled)) as tf.SymbolicTensor;
    const scores = tf.layers
      .reshape({ targetShape: [3], name: 'det_scores' })
      .apply(sd.apply(pooled)) as tf.SymbolicTensor;
    const det = tf.model({ inputs: input, outputs: [boxes, scores] });
    bd.setWeights([tf.zeros([3, 12]), tf.tensor1d(BOXES.flat())]);
    sd.setWeights([tf.zeros([3, 3]), tf.tensor1d(SCORES)]);
    await fs.mkdir(path.join(d, 'detector'), { recursive: true });
    await fs.writeFile(path.join(d, 'detector', 'detector.onnx'), layersToOnnx(det));
    return makeDevModel(d, {
      segmenter: 'saliency',
      patch: {
        segmenter: { type: 'detector', format: 'onnx', model: 'detector/detector.onnx', minScore: 0.5, ...segmenter },
      },
    });
  }

  /** The detector's box covers the top half: half the mask, 1 above and 0 below. */
  const expectTopHalfMask = async (scorer: OverMapScorer) => {
    const [r] = await scorer.scoreBatch([{ rgb: images[0]!, segRgb: seg() }], { keepMaps: true });
    expect(r!.maskFraction).toBeCloseTo(0.5, 6);
    const at = (px: number, py: number) => r!.maps!.mask[py * 64 + px];
    expect([at(10, 10), at(60, 20), at(60, 60), at(20, 60)]).toEqual([1, 1, 0, 0]);
  };

  it('an ONNX detector (format onnx) gives the same mask as the TF.js one, with the TF.js and with the ONNX classifier', async () => {
    const s = await OverMapScorer.load(await loadSpec(await onnxDetectorSpec('det-onnx')));
    try {
      expect(s.segInputSize).toEqual([32, 32]);
      await expectTopHalfMask(s);
    } finally {
      s.dispose();
    }
    // The ONNX reference classifier (its host path: no tensor) with the ONNX detector as its segmenter.
    const ref = JSON.parse(await fs.readFile(referenceSpecUri('layers-onnx'), 'utf8'));
    const d = path.join(dir, 'det-onnx');
    await fs.cp(path.join(path.dirname(referenceSpecUri('layers-onnx')), 'onnx'), path.join(d, 'onnx'), {
      recursive: true,
    });
    const specPath = path.join(d, 'ref-with-detector.json');
    await fs.writeFile(
      specPath,
      JSON.stringify({
        ...ref,
        segmenter: { type: 'detector', format: 'onnx', model: 'detector/detector.onnx', minScore: 0.5 },
      }),
    );
    const o = await OverMapScorer.load(await loadSpec(specPath));
    try {
      await expectTopHalfMask(o);
    } finally {
      o.dispose();
    }
  });

  it('an ONNX detector output the spec names but the graph lacks is a spec error naming the outputs', async () => {
    const err = await loadSpec(await onnxDetectorSpec('det-onnx-bad', { scoresOutput: 2 }))
      .then((l) => OverMapScorer.load(l))
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ModelSpecError);
    expect((err as Error).message).toMatch(
      /the ONNX detector detector\/detector.onnx .* has 2 output\(s\) \(.*det_scores.*\): the spec's scoresOutput 2 does not exist/,
    );
  });

  it('binarises the boxes above minScore into the mask, at the right place', async () => {
    const s = await OverMapScorer.load(await loadSpec(await detectorSpec('det', { minScore: 0.5 })));
    try {
      expect(s.segInputSize).toEqual([32, 32]); // the detector's own input size
      const [a] = await s.scoreBatch([{ rgb: images[0]!, segRgb: seg() }], { keepMaps: true });
      expect(a!.noMask).toBe(false);
      expect(a!.maskFraction).toBeCloseTo(0.5, 6); // boxes 0 and 2, a quarter each, disjoint
      const m = a!.maps!.mask,
        at = (x: number, y: number) => m[y * 64 + x];
      expect([at(10, 10), at(60, 20), at(60, 60), at(20, 60)]).toEqual([1, 1, 0, 0]); // yxyx read as y, x
    } finally {
      s.dispose();
    }
  });

  it('no box above minScore is no_mask; xyxy reads the same numbers as x, y', async () => {
    const none = await OverMapScorer.load(await loadSpec(await detectorSpec('det-none', { minScore: 0.95 })));
    const xyxy = await OverMapScorer.load(
      await loadSpec(await detectorSpec('det-xyxy', { boxFormat: 'xyxy', minScore: 0.5 })),
    );
    try {
      const [n] = await none.scoreBatch([{ rgb: images[0]!, segRgb: seg() }]);
      expect(n!.noMask).toBe(true);
      expect(n!.scores.overmap).toBe(0);
      const [x] = await xyxy.scoreBatch([{ rgb: images[0]!, segRgb: seg() }], { keepMaps: true });
      const at = (px: number, py: number) => x!.maps!.mask[py * 64 + px];
      expect([at(10, 10), at(60, 20), at(40, 60)]).toEqual([1, 0, 1]);
    } finally {
      none.dispose();
      xyxy.dispose();
    }
  });

  /** A hand-written GraphDef, as tfjs-converter writes one: boxes = 0·mean(image) + const, scores likewise. */
  async function graphDetectorSpec(name: string, extraNodes: Record<string, unknown>[] = []): Promise<string> {
    const d = path.join(dir, name);
    await fs.mkdir(path.join(d, 'detector'), { recursive: true });
    const f32 = (name: string, dims: number[]) => ({
      name,
      op: 'Const',
      attr: {
        value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: dims.map((n) => ({ size: String(n) })) } } },
        dtype: { type: 'DT_FLOAT' },
      },
    });
    const i32 = (name: string, dims: number[]) => ({
      name,
      op: 'Const',
      attr: {
        value: { tensor: { dtype: 'DT_INT32', tensorShape: { dim: dims.map((n) => ({ size: String(n) })) } } },
        dtype: { type: 'DT_INT32' },
      },
    });
    const op = (name: string, o: string, input: string[], attr: Record<string, unknown> = {}) => ({
      name,
      op: o,
      input,
      attr: { T: { type: 'DT_FLOAT' }, ...attr },
    });
    const node = [
      {
        name: 'image',
        op: 'Placeholder',
        attr: {
          shape: { shape: { dim: [-1, 32, 32, 3].map((n) => ({ size: String(n) })) } },
          dtype: { type: 'DT_FLOAT' },
        },
      },
      i32('axes', [3]),
      f32('zero', []),
      i32('shape_b', [3]),
      i32('shape_s', [2]),
      f32('boxes_c', [1, 3, 4]),
      f32('scores_c', [1, 3]),
      op('mean', 'Mean', ['image', 'axes'], { keep_dims: { b: false }, Tidx: { type: 'DT_INT32' } }),
      op('zeroed', 'Mul', ['mean', 'zero']),
      op('rb', 'Reshape', ['zeroed', 'shape_b']),
      op('rs', 'Reshape', ['zeroed', 'shape_s']),
      op('boxes', 'AddV2', ['rb', 'boxes_c']),
      op('scores', 'AddV2', ['rs', 'scores_c']),
      ...extraNodes,
    ];
    const weights = [
      { name: 'axes', shape: [3], dtype: 'int32', data: new Int32Array([1, 2, 3]) },
      { name: 'zero', shape: [], dtype: 'float32', data: new Float32Array([0]) },
      { name: 'shape_b', shape: [3], dtype: 'int32', data: new Int32Array([-1, 1, 1]) },
      { name: 'shape_s', shape: [2], dtype: 'int32', data: new Int32Array([-1, 1]) },
      { name: 'boxes_c', shape: [1, 3, 4], dtype: 'float32', data: new Float32Array(BOXES.flat()) },
      { name: 'scores_c', shape: [1, 3], dtype: 'float32', data: new Float32Array(SCORES) },
    ];
    await fs.writeFile(
      path.join(d, 'detector', 'model.json'),
      JSON.stringify({
        format: 'graph-model',
        generatedBy: 'hand-written test graph',
        convertedBy: null,
        modelTopology: { node, library: {}, versions: { producer: 1 } },
        weightsManifest: [
          { paths: ['weights.bin'], weights: weights.map(({ name, shape, dtype }) => ({ name, shape, dtype })) },
        ],
      }),
    );
    await fs.writeFile(
      path.join(d, 'detector', 'weights.bin'),
      Buffer.concat(weights.map((w) => Buffer.from(w.data.buffer))),
    );
    return makeDevModel(d, {
      segmenter: 'saliency',
      patch: { segmenter: { type: 'detector', format: 'graph', model: 'detector/model.json', minScore: 0.5 } },
    });
  }

  it('loads a tfjs-converter graph model (format graph) and reads its boxes the same way', async () => {
    const spec = await graphDetectorSpec('det-graph');
    const s = await OverMapScorer.load(await loadSpec(spec));
    try {
      expect(s.segInputSize).toEqual([32, 32]);
      const [a, b] = await s.scoreBatch(
        [
          { rgb: images[0]!, segRgb: seg() },
          { rgb: images[1]!, segRgb: seg() },
        ],
        { keepMaps: true },
      );
      for (const x of [a!, b!]) {
        expect(x.maskFraction).toBeCloseTo(0.5, 6);
        const at = (px: number, py: number) => x.maps!.mask[py * 64 + px];
        expect([at(10, 10), at(60, 20), at(60, 60), at(20, 60)]).toEqual([1, 1, 0, 0]);
      }
    } finally {
      s.dispose();
    }
  });

  it('a graph that needs executeAsync (dynamic ops such as NMS) is a spec error that says how to export it', async () => {
    const spec = await graphDetectorSpec('det-dynamic', [
      { name: 'kept', op: 'Where', input: ['scores'], attr: { T: { type: 'DT_FLOAT' } } },
    ]);
    const err = await loadSpec(spec)
      .then((l) => OverMapScorer.load(l))
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ModelSpecError);
    expect((err as Error).message).toMatch(/needs executeAsync .*export it without NMS/);
  });

  it('an output index the detector does not have is a spec error', async () => {
    const err = await loadSpec(await detectorSpec('det-bad', { scoresOutput: 4 }))
      .then((l) => OverMapScorer.load(l))
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ModelSpecError);
    expect((err as Error).message).toMatch(/the detector has 2 output\(s\): .*scoresOutput 4 do not exist/);
  });
});

describe('loadSpec', () => {
  it('loads the very bytes it hashed: the model files are read once', async () => {
    const d = path.join(dir, 'read-once');
    const loaded = await loadSpec(await makeDevModel(d));
    expect(loaded.store.uri).toContain(d);
    expect(await loaded.store.exists('classifier/model.json')).toBe(true);
    // Change the weights on disk after hashing: the scorer must still load what was hashed.
    await fs.writeFile(path.join(d, 'classifier', 'weights.bin'), Buffer.alloc(8));
    await fs.rm(path.join(d, 'segmenter'), { recursive: true });
    const s = await OverMapScorer.load(loaded);
    try {
      expect(s.hash).toBe(loaded.hash);
      expect(await s.scoreBatch([{ rgb: images[0]! }])).toHaveLength(1);
    } finally {
      s.dispose();
    }
    // A second load reads the files again, and finds them changed.
    await expect(loadSpec(path.join(d, 'spec.json'))).rejects.toThrow(/segmenter\/model.json not found/);
  });
});

describe('bad model specs name the problem', () => {
  // The last field: whether the spec alone (the model's JSON topology, no TF.js) tells,
  // so that overmap enqueue refuses it before the first job.
  const cases: [string, Record<string, unknown>, RegExp, boolean][] = [
    [
      'a missing Grad-CAM layer',
      { gradcamLayer: 'nope' },
      /Grad-CAM layer "nope" not found in the classifier; its layers are: .*gradcam_conv/,
      true,
    ],
    [
      'a missing attention layer',
      { attentionLayers: ['nope'] },
      /attention layer "nope" not found in the classifier/,
      true,
    ],
    [
      'a wrong class count',
      { classes: ['a', 'b', 'c'] },
      /spec lists 3 classes: class count must equal the output units/,
      true,
    ],
    [
      'an attention layer that is not a mask',
      { attentionLayers: ['conv3_relu'] },
      /attention layer "conv3_relu" outputs .*must be a spatial mask/,
      false,
    ],
    [
      'an attention convolution with many filters',
      { attentionLayers: ['conv3'] },
      /attention layer "conv3" is a Conv2D with \d+ filters: it must be a spatial mask/,
      true,
    ],
    [
      'a wrong input size',
      { classifier: { model: 'classifier/model.json', inputSize: [32, 32] } },
      /takes \[64,64,3\] but the spec says inputSize 32x32/,
      true,
    ],
    [
      'a missing model file',
      { classifier: { model: 'gone/model.json', inputSize: [64, 64] } },
      /model file gone\/model.json not found/,
      true,
    ],
    ['a bad field', { threshold: 2 }, /threshold: .*(less than or equal|<=)/i, true],
  ];
  it.each(cases)('%s', async (_name, patch, msg, fromSpecAlone) => {
    const d = path.join(dir, `bad-${Object.keys(patch).join('-')}-${Math.random().toString(36).slice(2, 6)}`);
    const spec = await makeDevModel(d, { patch });
    const atLoadSpec = await loadSpec(spec).then(
      () => null,
      (e: unknown) => e,
    );
    expect(atLoadSpec !== null).toBe(fromSpecAlone);
    const err =
      atLoadSpec ??
      (await loadSpec(spec)
        .then((l) => OverMapScorer.load(l))
        .then(
          () => null,
          (e: unknown) => e,
        ));
    expect(err).toBeInstanceOf(ModelSpecError);
    expect((err as Error).message).toMatch(msg);
  });
  it('invalid JSON', async () => {
    const f = path.join(dir, 'broken.json');
    await fs.writeFile(f, '{"classes": [');
    await expect(loadSpec(f)).rejects.toThrow(/is not valid JSON/);
  });
});
