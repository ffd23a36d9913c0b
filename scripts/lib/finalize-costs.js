'use strict';
/**
 * Two costs bench:duplicates reports beside the planted set: the image measures on larger decoded
 * images (a ResNet-scale model's 224×224 input), and how fast finalize's pass over the part files
 * reads records (the scan that feeds the fences and the grouping reads every record once).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** CPU-ms per image of the measures on the images decoded at size × size. */
async function measuresAt(data, keys, size) {
  const W = require('@overmap/engine');
  const items = [];
  for (const k of keys.slice(0, 128)) {
    const bytes = fs.readFileSync(path.join(data, k));
    const d = await W.decodeImage(bytes, { size: [size, size], maxInputPixels: 1e8, maxBytes: 1e9 });
    if (d.ok) items.push({ bytes, rgb: d.rgb });
  }
  for (const { bytes, rgb } of items) W.measureImage(bytes, rgb, [size, size]); // warm-up
  const c = process.cpuUsage();
  for (let r = 0; r < 3; r++) for (const { bytes, rgb } of items) W.measureImage(bytes, rgb, [size, size]);
  const u = process.cpuUsage(c);
  return (u.user + u.system) / 1000 / (3 * items.length);
}

/** Records per second read back from the part files of a synthetic run of n records. */
async function partReadRate(n) {
  const { writeSyntheticRun } = require('@overmap/report');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'overmap-scan-'));
  try {
    const results = await writeSyntheticRun({ results: dir, records: n, batchSize: 500, threshold: 0.3 });
    const t0 = performance.now();
    let seen = 0;
    for await (const _ of results.records()) seen++;
    return seen / ((performance.now() - t0) / 1000);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { measuresAt, partReadRate };
