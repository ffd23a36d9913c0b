#!/usr/bin/env node
/**
 * `node scripts/record-reference-metrics.js [dir]` records what the reference models in dir
 * (default models/reference, the shipped ones) reach on fixed slices of generated scenes, and their
 * file hashes, into dir/reference-metrics.json; test/models checks the shipped models against it.
 * Slices (seed overmap-reference-v1, indices 0..499 each):
 * - classicTest: the first generator's test split (`makeScene`), the slice of earlier figures;
 * - variedTest: the varied generator's test split (in distribution for the models trained on it);
 * - shifted: the varied generator's shifted split (a background family and item scales no training
 *   scene uses; never used for a choice).
 * Per classifier (the guided one in classifier/, the unguided one in classifier-unguided/ when
 * present): Top-1 on each slice and its spatial attention's mass inside the object mask; for the
 * segmenter, mask IoU on each slice. Also the validation figures from the training logs.
 */
'use strict';
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const W = require('@overmap/engine');
const tf = require('@overmap/engine').tf;
const R = require('@overmap/reference');
const { objectStoreIO } = require('@overmap/engine');
const { FsObjectStore } = require('@overmap/shared');

const DIR = path.resolve(process.argv[2] || path.join(__dirname, '../models/reference'));
if (!['classifier', 'classifier-unguided', 'segmenter'].some((m) => fs.existsSync(path.join(DIR, m, 'model.json')))) {
  console.error(
    `${DIR}: no classifier/, classifier-unguided/ or segmenter/ model.json there; give a folder of reference models (default models/reference)`,
  );
  process.exit(2);
}
const SEED = 'overmap-reference-v1';
const COUNT = 500;
const SLICES = [
  ['classicTest', 'test', 'classic'],
  ['variedTest', 'test', 'varied'],
  ['shifted', 'shifted', 'varied'],
];
const sha = (f) =>
  createHash('sha256')
    .update(fs.readFileSync(path.join(DIR, f)))
    .digest('hex');
const readLog = (name) => {
  const f = path.join(DIR, `training-log-${name}.json`);
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : undefined;
};

(async () => {
  await W.initBackend('wasm');
  const store = new FsObjectStore(DIR);
  const bank = R.loadFashionMnist();
  const sets = Object.fromEntries(
    SLICES.map(([name, split, generator]) => [name, R.generateScenes(bank, SEED, split, COUNT, 0, generator)]),
  );
  const classifiers = ['classifier', 'classifier-unguided'].filter((c) =>
    fs.existsSync(path.join(DIR, c, 'model.json')),
  );
  const out = {
    // The earlier keys, kept: the guided classifier and the segmenter on the classic test slice.
    slice: { seed: SEED, split: 'test', count: COUNT },
    classifierAccuracy: null,
    segmenterIoU: null,
    slices: Object.fromEntries(
      SLICES.map(([name, split, generator]) => [name, { seed: SEED, generator, split, count: COUNT }]),
    ),
    classifiers: {},
    segmenter: {},
    files: {},
  };
  for (const c of classifiers) {
    const model = await tf.loadLayersModel(objectStoreIO(store, `${c}/model.json`));
    const log = readLog(c)?.classifier;
    const entry = {
      guidance: log?.guidance ?? null,
      valAccuracy: log?.valAccuracy ?? null,
      valAttentionMass: log?.valAttentionMass ?? null,
      valMaskFraction: log?.valMaskFraction ?? null,
    };
    for (const [name] of SLICES) {
      const s = R.classifierStats(model, sets[name]);
      entry[name] = { accuracy: s.accuracy, attentionMass: s.attentionMass, maskFraction: s.maskFraction };
    }
    out.classifiers[c] = entry;
    model.dispose();
  }
  const hasSegmenter = fs.existsSync(path.join(DIR, 'segmenter/model.json'));
  if (hasSegmenter) {
    const seg = await tf.loadLayersModel(objectStoreIO(store, 'segmenter/model.json'));
    out.segmenter.valIoU = readLog('segmenter')?.segmenter?.valIoU ?? null;
    for (const [name] of SLICES) out.segmenter[name] = { iou: R.segmenterIoU(seg, sets[name]) };
  }
  out.classifierAccuracy = out.classifiers.classifier?.classicTest.accuracy ?? null;
  out.segmenterIoU = out.segmenter.classicTest?.iou ?? null;
  for (const c of [...classifiers, ...(hasSegmenter ? ['segmenter'] : [])])
    for (const f of ['model.json', 'weights.bin']) out.files[`${c}/${f}`] = sha(`${c}/${f}`);
  fs.writeFileSync(path.join(DIR, 'reference-metrics.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(JSON.stringify(out, null, 2));
})();
