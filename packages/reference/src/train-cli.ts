/**
 * `npm run train [-- --guidance λ]`: generates the scenes, trains both reference models on the
 * current backend (wasm here) and writes them, with their training logs, to models/reference/.
 * Options (environment): GENERATOR (varied, the default, or classic: `makeScene`), TRAIN_SCENES,
 * SEG_SCENES, VAL_SCENES, EPOCHS, SEG_EPOCHS, LR (peak; cosine decay to LR/20), WARMUP (the classifier's
 * linear warm-up, in steps of 64 images; default 0), SEED, LABEL_NOISE,
 * SEG_LR (the segmenter's peak, default 2e-3; cosine decay to SEG_LR/20), ONLY (classifier|segmenter), OUT, GUIDANCE (or `--guidance λ`: weight of the guided-attention
 * loss, 0 = unguided; default 0), CLASSIFIER_NAME (the classifier's folder and log name under OUT,
 * default `classifier`), INIT_FROM / SEG_INIT_FROM (a saved classifier / segmenter model.json whose
 * weights, layer by layer, start the training instead of a random initialisation), TRAIN_SKIP (a:b: the
 * training scenes [a, b) left out, for the two-fold models that score them out of sample). Each model keeps the weights of its best validation epoch (validation
 * scenes of the same generator). The classifier's log also records its accuracy on fixed slices
 * (500 scenes each) of the varied test split, the shifted split and the classic test split, and
 * its attention's mass inside the object mask (SLICES=0 skips these; scripts/record-reference-metrics.js
 * measures the same slices).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import seedrandom from 'seedrandom';
import { FsObjectStore } from '@overmap/shared';
import { initBackend, objectStoreIO, tf } from '@overmap/engine';
import { buildCbamClassifier, buildSegmenter, saveModel, trainModel } from './train';
import { type SceneGenerator, generateScenes } from './scene-sets';
import { classifierStats, segmenterIoU } from './model-metrics';
import { loadFashionMnist } from './fashion-scenes';

const env = (k: string, d: string) => process.env[k] ?? d;
/** Flags (the rest of the recipe is in environment variables, listed in the header). */
const { values: flags } = parseArgs({ options: { guidance: { type: 'string' } } });
const arg = (name: 'guidance'): string | undefined => flags[name];

/** Copies the weights of the saved model at `file` into `model`, layer by layer (same names and shapes). */
async function initFrom(model: tf.LayersModel, file: string): Promise<void> {
  const saved = await tf.loadLayersModel(
    objectStoreIO(new FsObjectStore(path.dirname(path.resolve(file))), path.basename(file)),
  );
  for (const layer of model.layers) {
    const w = saved.getLayer(layer.name).getWeights();
    if (w.length !== layer.getWeights().length)
      throw new Error(
        `INIT_FROM ${file}: layer ${layer.name} has ${w.length} weights, expected ${layer.getWeights().length}`,
      );
    if (w.length) layer.setWeights(w);
  }
  saved.dispose();
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const seed = env('SEED', 'overmap-reference-v1');
  const out = path.resolve(env('OUT', 'models/reference'));
  const only = process.env.ONLY;
  if (only && only !== 'classifier' && only !== 'segmenter')
    throw new Error(`ONLY=${only}: use ONLY=classifier or ONLY=segmenter, or leave it unset to train both`);
  const generator = env('GENERATOR', 'varied') as SceneGenerator;
  if (generator !== 'varied' && generator !== 'classic')
    throw new Error(`GENERATOR=${generator}: use varied or classic`);
  const guidance = Number(arg('guidance') ?? env('GUIDANCE', '0'));
  if (!(guidance >= 0)) throw new Error(`guidance ${guidance}: use a number ≥ 0`);
  const classifierName = env('CLASSIFIER_NAME', 'classifier');
  const noise = Number(env('LABEL_NOISE', '0.1'));
  const log = (msg: string, data?: Record<string, unknown>) => {
    console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...data }));
  };
  log('training reference models', { backend: backend.name, seed, out, generator, guidance });
  const bank = loadFashionMnist();
  const val = generateScenes(bank, seed, 'val', Number(env('VAL_SCENES', '1000')), 0, generator);
  const rng = seedrandom(`${seed}:shuffle`);
  const header = { seed, backend: backend.name, labelNoise: noise, generator };
  // One log per model (training-log-<classifier name>.json, training-log-segmenter.json), written
  // as soon as that model is saved: EVALUATION.md and the experiment read them.
  const writeLog = async (name: string, kind: 'classifier' | 'segmenter', entry: Record<string, unknown>) => {
    await fs.mkdir(out, { recursive: true });
    await fs.writeFile(
      path.join(out, `training-log-${name}.json`),
      JSON.stringify({ ...header, [kind]: entry }, null, 2),
    );
  };

  if (!only || only === 'classifier') {
    const n = Number(env('TRAIN_SCENES', '16000'));
    // TRAIN_SKIP=a:b leaves training scenes [a, b) out (the two-fold label-noise models, EXP_FOLD_SPECS).
    const skipText = process.env.TRAIN_SKIP;
    const skip = skipText ? (skipText.split(':').map(Number) as [number, number]) : undefined;
    if (skip && !(skip.length === 2 && skip.every((x) => Number.isInteger(x) && x >= 0) && skip[0] < skip[1]))
      throw new Error(`TRAIN_SKIP=${skipText}: give a:b, whole numbers, a < b`);
    const t0 = performance.now();
    const train = generateScenes(bank, seed, 'train', n, noise, generator, skip);
    const flippedCount = train.flipped.reduce((a, b) => a + b, 0);
    log('generated training scenes', {
      n,
      flipped: flippedCount,
      seconds: Math.round((performance.now() - t0) / 1000),
    });
    const model = buildCbamClassifier();
    if (process.env.INIT_FROM) await initFrom(model, process.env.INIT_FROM);
    const lr = Number(env('LR', '2e-3'));
    const warmupSteps = Number(env('WARMUP', '0'));
    if (!(Number.isInteger(warmupSteps) && warmupSteps >= 0))
      throw new Error(`WARMUP=${process.env.WARMUP}: give a whole number of steps (0 = no warm-up)`);
    const base = {
      trainScenes: train.n,
      ...(skip ? { skippedScenes: skip } : {}),
      flipped: flippedCount,
      guidance,
      initFrom: process.env.INIT_FROM ?? null,
      learningRate: lr,
      warmupSteps,
    };
    const { epochs, bestEpoch } = await trainModel(model, train, val, 'classifier', {
      epochs: Number(env('EPOCHS', '10')),
      batchSize: 64,
      learningRate: lr,
      finalLearningRate: lr / 20,
      warmupSteps,
      log,
      rng,
      guidance,
      // A checkpoint of the best epoch so far, and the log so far (`unfinished`), in case the run is cut short.
      onBest: async (e, stats) => {
        const sha256 = await saveModel(model, path.join(out, classifierName));
        await writeLog(classifierName, 'classifier', {
          ...base,
          unfinished: true,
          epochs: stats,
          bestEpoch: e,
          valAccuracy: stats[stats.length - 1]!.val,
          valAttentionMass: stats[stats.length - 1]!.valAttentionMass,
          sha256,
        });
      },
    });
    const hash = await saveModel(model, path.join(out, classifierName));
    const v = classifierStats(model, val);
    const slices: Record<string, unknown> = {};
    for (const [name, split, gen] of env('SLICES', '1') === '0'
      ? []
      : ([
          ['variedTest', 'test', 'varied'],
          ['shifted', 'shifted', 'varied'],
          ['classicTest', 'test', 'classic'],
        ] as const)) {
      const s = classifierStats(model, generateScenes(bank, 'overmap-reference-v1', split, 500, 0, gen));
      slices[name] = { seed: 'overmap-reference-v1', generator: gen, split, count: 500, ...s };
      log(`${classifierName}: ${name} slice`, slices[name] as Record<string, unknown>);
    }
    await writeLog(classifierName, 'classifier', {
      ...base,
      epochs,
      bestEpoch,
      valAccuracy: v.accuracy,
      valAttentionMass: v.attentionMass,
      valMaskFraction: v.maskFraction,
      slices,
      sha256: hash,
    });
  }
  if (!only || only === 'segmenter') {
    const n = Number(env('SEG_SCENES', '6000'));
    const train = generateScenes(bank, `${seed}:seg`, 'train', n, 0, generator);
    const model = buildSegmenter();
    if (process.env.SEG_INIT_FROM) await initFrom(model, process.env.SEG_INIT_FROM);
    const { epochs, bestEpoch } = await trainModel(model, train, val, 'segmenter', {
      epochs: Number(env('SEG_EPOCHS', '10')),
      batchSize: 32,
      learningRate: Number(env('SEG_LR', '2e-3')),
      finalLearningRate: Number(env('SEG_LR', '2e-3')) / 20,
      log,
      rng,
      onBest: async (e, stats) => {
        const sha256 = await saveModel(model, path.join(out, 'segmenter'));
        await writeLog('segmenter', 'segmenter', {
          unfinished: true,
          trainScenes: n,
          epochs: stats,
          bestEpoch: e,
          valIoU: stats[stats.length - 1]!.val,
          sha256,
        });
      },
    });
    const hash = await saveModel(model, path.join(out, 'segmenter'));
    const slices: Record<string, unknown> = {};
    for (const [name, split, gen] of env('SLICES', '1') === '0'
      ? []
      : ([
          ['variedTest', 'test', 'varied'],
          ['shifted', 'shifted', 'varied'],
          ['classicTest', 'test', 'classic'],
        ] as const)) {
      slices[name] = {
        seed: 'overmap-reference-v1',
        generator: gen,
        split,
        count: 500,
        iou: segmenterIoU(model, generateScenes(bank, 'overmap-reference-v1', split, 500, 0, gen)),
      };
    }
    log('segmenter slices', slices);
    await writeLog('segmenter', 'segmenter', {
      initFrom: process.env.SEG_INIT_FROM ?? null,
      trainScenes: n,
      learningRate: Number(env('SEG_LR', '2e-3')),
      epochs,
      bestEpoch,
      valIoU: segmenterIoU(model, val),
      slices,
      sha256: hash,
    });
  }
  log('done', { out });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
