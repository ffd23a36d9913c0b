/**
 * One Over-MAP value pinned end to end: a hand-built classifier whose Grad-CAM, attention and
 * softmax can be computed by hand, and boxes as the segmenter, through `overmap run` (real
 * Redis, worker processes, PNG files). Also the features that only this kind of run shows:
 * overlays, MC dropout, and refusing a model whose files changed after enqueue.
 *
 * The model (8×8 RGB in [0, 1]):
 *   att = sigmoid(20·R − 10)                                   layer spatial_attention
 *   A   = [R·att, G·att]                                        layer gradcam_conv (1×1, no bias)
 *   logits = [mean A₀, mean A₁, 0]                              GAP → dropout → dense
 * The image: a red 4×4 square top-left, a green 4×4 square bottom-right, black elsewhere.
 * So att is σ(10) on red and σ(−10) elsewhere; Grad-CAM of class 0 is exactly 1 on the red
 * square and 0 elsewhere (GAP → dense: Grad-CAM = CAM, α = W[:, c] / 64); the box covers
 * columns 0–1 of rows 0–3, half of the red square.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { BATCH_QUEUE, type ImageRecord, RunResults } from '@overmap/shared';
import { tf } from '@overmap/engine';
import { saveModel } from '@overmap/reference';
import { cliEnv, readParts, runCli, startWorkerProcess } from '../helpers/fleet';
import { testRedis, tmpDir, waitFor } from '../helpers/services';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const S_HI = sigmoid(10),
  S_LO = sigmoid(-10);
// attention normalised to max 1: 1 on red, S_LO / S_HI on the other 48 pixels
const E = S_LO / S_HI;
const G0 = (16 * S_HI) / 64,
  G1 = (16 * S_LO) / 64;
const softmax = (z: number[]) => {
  const e = z.map(Math.exp);
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const P = softmax([G0, G1, 0]);

const expected = {
  gradcam_seg: 8 / 16,
  attention_seg: 8 / (16 + 48 * E),
  gradcam_attention: 1,
  msp: P[0]!,
};
const overmapMean = (expected.gradcam_seg + expected.attention_seg + expected.gradcam_attention) / 3;

let dir: string, data: string, spec: string, specMc: string, redisUrl: string;

function buildModel(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const att = tf.layers
    .conv2d({
      filters: 1,
      kernelSize: 1,
      activation: 'sigmoid',
      name: 'spatial_attention',
      weights: [tf.tensor4d([20, 0, 0], [1, 1, 3, 1]), tf.tensor1d([-10])],
    })
    .apply(input) as tf.SymbolicTensor;
  const gated = tf.layers.multiply({ name: 'gate' }).apply([input, att]) as tf.SymbolicTensor;
  const feats = tf.layers
    .conv2d({
      filters: 2,
      kernelSize: 1,
      useBias: false,
      name: 'gradcam_conv',
      weights: [tf.tensor4d([1, 0, 0, 1, 0, 0], [1, 1, 3, 2])],
    })
    .apply(gated) as tf.SymbolicTensor;
  let x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(feats) as tf.SymbolicTensor;
  x = tf.layers.dropout({ rate: 0.5, name: 'head_dropout' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({
      units: 3,
      name: 'logits',
      weights: [
        tf.tensor2d([
          [1, 0, 0],
          [0, 1, 0],
        ]),
        tf.zeros([3]),
      ],
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

async function writeImage(file: string): Promise<void> {
  const raw = Buffer.alloc(8 * 8 * 3);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      if (y < 4 && x < 4) raw[(y * 8 + x) * 3] = 255;
      if (y >= 4 && x >= 4) raw[(y * 8 + x) * 3 + 1] = 255;
    }
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } })
    .png()
    .toFile(file);
}

beforeAll(async () => {
  dir = await tmpDir();
  data = path.join(dir, 'data');
  // red/a.png: labelled right; green/b.png: the same picture labelled green; red/none.png: no box
  for (const k of ['red/a.png', 'green/b.png', 'red/none.png']) await writeImage(path.join(data, k));
  const model = path.join(dir, 'model');
  await saveModel(buildModel(), path.join(model, 'classifier'));
  const box = [0, 0, 0.25, 0.5];
  await fs.writeFile(
    path.join(model, 'boxes.jsonl'),
    ['red/a.png', 'green/b.png'].map((key) => JSON.stringify({ key, boxes: [box] })).join('\n'),
  );
  const base = {
    name: 'golden',
    classes: ['red', 'green', 'blue'],
    classifier: { model: 'classifier/model.json', inputSize: [8, 8] },
    gradcamLayer: 'gradcam_conv',
    attentionLayers: ['spatial_attention'],
    segmenter: { type: 'boxes', source: 'boxes.jsonl' },
    overlap: { measure: 'mass', binarize: 0.5 },
    combine: { rule: 'mean' },
    threshold: 0.5,
  };
  spec = path.join(model, 'spec.json');
  specMc = path.join(model, 'spec-mc.json');
  await fs.writeFile(spec, JSON.stringify(base));
  await fs.writeFile(specMc, JSON.stringify({ ...base, mcDropoutSamples: 20 }));
  redisUrl = (await testRedis()).url;
});
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function run(out: string, args: string[]): Promise<Map<string, ImageRecord>> {
  const r = await runCli(
    ['run', data, '--out', out, '--workers', '1', '--labels', 'folder', ...args],
    cliEnv(redisUrl, `t${Date.now().toString(36)}gold`),
  );
  if (r.code !== 0) throw new Error(`overmap run failed (${r.code}): ${r.stderr}`);
  return new Map((await readParts(out)).records.map((x) => [x.key, x]));
}

describe('a hand-computed Over-MAP through overmap run', () => {
  let records: Map<string, ImageRecord>;
  beforeAll(async () => {
    records = await run(path.join(dir, 'golden'), ['--model', spec, '--overlays', 'all']);
  });

  it('gives the hand-computed components, their mean, and the softmax', () => {
    for (const key of ['red/a.png', 'green/b.png']) {
      const r = records.get(key)!;
      expect(r.status).toBe('ok');
      expect(r.prediction!.class).toBe('red');
      expect(r.mask_fraction).toBeCloseTo(8 / 64, 6);
      for (const [k, v] of Object.entries(expected)) expect(r.scores[k as keyof typeof expected]).toBeCloseTo(v, 5);
      expect(r.scores.overmap).toBeCloseTo(overmapMean, 5);
      expect(r.scores.confidence).toBeCloseTo(overmapMean, 5);
      expect(r.accepted).toBe(true);
      expect(r.prediction!.top.map((t) => t.p)).toEqual(P.map((p) => expect.closeTo(p, 5)));
    }
  });

  it("scores the label's own Grad-CAM: on the box for red, off it for green", () => {
    expect(records.get('red/a.png')!.scores.label_gradcam_seg).toBeCloseTo(0.5, 5);
    expect(records.get('green/b.png')!.scores.label_gradcam_seg).toBeCloseTo(0, 6);
  });

  it('an image with no box is no_mask: Over-MAP 0, rejected', () => {
    const r = records.get('red/none.png')!;
    expect(r.status).toBe('no_mask');
    expect(r.scores.overmap).toBe(0);
    expect(r.scores.gradcam_seg).toBe(0);
    expect(r.accepted).toBe(false);
  });

  it('the manifest counts all three labels, two of them right', async () => {
    const m = (await RunResults.open(path.join(dir, 'golden')).readManifest())!;
    expect(m.counts).toEqual({ total: 3, by_status: { ok: 2, no_mask: 1 }, accepted: 2, rejected: 1 });
    expect(m.summary.labelled).toBe(3);
    expect(m.summary.accuracy).toBeCloseTo(2 / 3, 10);
    expect(m.summary.accuracy_accepted).toBeCloseTo(1 / 2, 10);
  });

  it('writes an overlay per image: four panels side by side, scaled 4×', async () => {
    for (const r of records.values()) {
      expect(r.overlay).toBe(`overlays/${r.key}.png`);
      const meta = await sharp(path.join(dir, 'golden', r.overlay!)).metadata();
      expect([meta.width, meta.height]).toEqual([8 * 4 * 4, 8 * 4]);
    }
  });
});

describe('MC dropout over the head', () => {
  it('lies between the probabilities of its extreme dropout masks', async () => {
    const records = await run(path.join(dir, 'mc'), ['--model', specMc]);
    // Inverted dropout at 0.5: each GAP feature is kept ×2 or dropped. The predicted class's
    // probability is lowest with feature 0 dropped and feature 1 kept, highest the other way.
    const lo = softmax([0, 2 * G1, 0])[0]!,
      hi = softmax([2 * G0, 0, 0])[0]!;
    const r = records.get('red/a.png')!;
    expect(r.scores.mc_dropout).toBeGreaterThanOrEqual(lo - 1e-6);
    expect(r.scores.mc_dropout).toBeLessThanOrEqual(hi + 1e-6);
    expect(records.get('red/none.png')!.scores.mc_dropout).toBeDefined();
  });
});

describe('a model whose files change after enqueue', () => {
  it('is refused by the workers: the batch fails without retries, naming the change', async () => {
    const prefix = `t${Date.now().toString(36)}chg`;
    const env = cliEnv(redisUrl, prefix);
    const out = path.join(dir, 'changed');
    const e = await runCli(['enqueue', data, '--out', out, '--model', spec], env);
    expect(e.code).toBe(0);
    const weights = path.join(dir, 'model', 'classifier', 'weights.bin');
    const original = await fs.readFile(weights);
    const changed = Buffer.from(original);
    changed[0] = changed[0]! ^ 0xff;
    await fs.writeFile(weights, changed);
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(BATCH_QUEUE, { connection: redis, prefix });
    try {
      const w = startWorkerProcess(env, ['--exit-when-idle']);
      const failed = await waitFor(async () => {
        const f = await queue.getFailed();
        return f.length > 0 && f;
      }, 'the batch to fail');
      expect(failed[0]!.failedReason).toMatch(/has changed since run .* was enqueued/);
      expect(failed[0]!.attemptsMade).toBeLessThanOrEqual(1); // failed for good at once, not retried
      await new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)));
    } finally {
      await fs.writeFile(weights, original);
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      redis.disconnect();
    }
  });
});
