#!/usr/bin/env node
/**
 * Records what the committed reference models reach on a fixed slice of generated test
 * scenes (test split, indices 0..N-1) and their file hashes, into
 * models/reference/reference-metrics.json. test/models checks the committed models against it.
 */
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const W = require('@overmap/worker');
const tf = require('@overmap/worker').tf;
const T = require('@overmap/reference');
const F = require('@overmap/reference');
const { objectStoreIO } = require('@overmap/worker');
require('@overmap/worker');
const { FsObjectStore } = require('@overmap/shared');

const DIR = path.resolve(__dirname, '../models/reference');
const SLICE = 500;
const sha = (f) => crypto.createHash('sha256').update(fs.readFileSync(path.join(DIR, f))).digest('hex');

(async () => {
  await W.initBackend('wasm');
  const store = new FsObjectStore(DIR);
  const cls = await tf.loadLayersModel(objectStoreIO(store, 'classifier/model.json'));
  const seg = await tf.loadLayersModel(objectStoreIO(store, 'segmenter/model.json'));
  const set = T.generateScenes(F.loadFashionMnist(), 'overmap-reference-v1', 'test', SLICE);
  const out = {
    slice: { seed: 'overmap-reference-v1', split: 'test', count: SLICE },
    classifierAccuracy: T.classifierAccuracy(cls, set),
    segmenterIoU: T.segmenterIoU(seg, set),
    files: Object.fromEntries(['classifier/model.json', 'classifier/weights.bin', 'segmenter/model.json', 'segmenter/weights.bin'].map((f) => [f, sha(f)])),
  };
  fs.writeFileSync(path.join(DIR, 'reference-metrics.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(JSON.stringify(out, null, 2));
})();
