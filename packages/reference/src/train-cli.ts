/**
 * `npm run train`: generates the scenes, trains both reference models on the current
 * backend (wasm here) and writes them, with their training log, to models/reference/.
 * Options (environment): TRAIN_SCENES, SEG_SCENES, VAL_SCENES, EPOCHS, SEG_EPOCHS, LR (peak; cosine
 * decay to LR/20), SEED, LABEL_NOISE, ONLY (classifier|segmenter), OUT. Each model keeps the weights
 * of its best validation epoch.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import { initBackend } from '@overmap/worker';
import { buildCbamClassifier, buildSegmenter, classifierAccuracy, generateScenes, saveModel, segmenterIoU, trainModel } from './train';
import { loadFashionMnist } from './fashion-scenes';

const env = (k: string, d: string) => process.env[k] ?? d;

async function main(): Promise<void> {
  const backend = await initBackend();
  const seed = env('SEED', 'overmap-reference-v1');
  const out = path.resolve(env('OUT', 'models/reference'));
  const only = process.env.ONLY;
  if (only && only !== 'classifier' && only !== 'segmenter') throw new Error(`ONLY=${only}: use ONLY=classifier or ONLY=segmenter, or leave it unset to train both`);
  const noise = Number(env('LABEL_NOISE', '0.1'));
  const log = (msg: string, data?: Record<string, unknown>) => {
    console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...data }));
  };
  log('training reference models', { backend: backend.name, seed, out });
  const bank = loadFashionMnist();
  const val = generateScenes(bank, seed, 'val', Number(env('VAL_SCENES', '1000')));
  const rng = seedrandom(`${seed}:shuffle`);
  const header = { seed, backend: backend.name, labelNoise: noise };
  // One log per model (training-log-classifier.json, training-log-segmenter.json), written as
  // soon as that model is saved: EVALUATION.md and the experiment read them.
  const writeLog = async (kind: 'classifier' | 'segmenter', entry: Record<string, unknown>) => {
    await fs.mkdir(out, { recursive: true });
    await fs.writeFile(path.join(out, `training-log-${kind}.json`), JSON.stringify({ ...header, [kind]: entry }, null, 2));
  };

  if (!only || only === 'classifier') {
    const n = Number(env('TRAIN_SCENES', '16000'));
    const train = generateScenes(bank, seed, 'train', n, noise);
    const flippedCount = train.flipped.reduce((a, b) => a + b, 0);
    log('generated training scenes', { n, flipped: flippedCount });
    const model = buildCbamClassifier();
    const lr = Number(env('LR', '2e-3'));
    const { epochs, bestEpoch } = trainModel(model, train, val, 'classifier', {
      epochs: Number(env('EPOCHS', '10')), batchSize: 64, learningRate: lr, finalLearningRate: lr / 20, log, rng,
    });
    const hash = await saveModel(model, path.join(out, 'classifier'));
    await writeLog('classifier', { trainScenes: n, flipped: flippedCount, epochs, bestEpoch, valAccuracy: classifierAccuracy(model, val), sha256: hash });
  }
  if (!only || only === 'segmenter') {
    const n = Number(env('SEG_SCENES', '6000'));
    const train = generateScenes(bank, `${seed}:seg`, 'train', n);
    const model = buildSegmenter();
    const { epochs, bestEpoch } = trainModel(model, train, val, 'segmenter', {
      epochs: Number(env('SEG_EPOCHS', '10')), batchSize: 32, learningRate: 2e-3, finalLearningRate: 1e-4, log, rng,
    });
    const hash = await saveModel(model, path.join(out, 'segmenter'));
    await writeLog('segmenter', { trainScenes: n, epochs, bestEpoch, valIoU: segmenterIoU(model, val), sha256: hash });
  }
  log('done', { out });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
