#!/usr/bin/env node
/**
 * npm run bench:reference — the scoring cost per image of each bundled reference pipeline on ONNX
 * Runtime (one thread, as a worker per core runs it): the whole scoreBatch (classifier with
 * Grad-CAM and attention, segmenter, overlaps, decision), batch 64, on the 300 sample scenes
 * decoded once. Pipelines: the v1 Layers model's ONNX conversion (`layers-onnx`, the default
 * until v5), the v4 and v5 PyTorch models (v5 is the default `onnx`), and v5 with the detector
 * as its segmentation source. Interleaved in rounds (this machine is shared); the ratio to v1 is
 * taken within each round, median and range over rounds; CPU-ms per image (process CPU time)
 * beside wall-clock images/s. Env: ROUNDS (5), PASSES per measurement (3 passes over the 300).
 * JSON on stdout; each round on stderr as it ends.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');

process.env.OVERMAP_ONNX_THREADS = process.env.OVERMAP_ONNX_THREADS || '1';
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const PASSES = Number(process.env.PASSES ?? 3);
const BATCH = 64;
const ROOT = path.resolve(__dirname, '..');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r3 = (v) => Math.round(v * 1000) / 1000;

/** The sample scenes as 64×64 RGB, each with a label given (its folder's index: only the cost counts here). */
async function sampleInputs() {
  const dir = path.join(ROOT, 'samples/fashion-scenes');
  const folders = fs.readdirSync(dir).sort();
  const inputs = [];
  for (const [k, folder] of folders.entries())
    for (const f of fs.readdirSync(path.join(dir, folder)).sort()) {
      const rgb = await sharp(path.join(dir, folder, f))
        .removeAlpha()
        .resize(64, 64)
        .raw()
        .toBuffer();
      inputs.push({ rgb: new Uint8Array(rgb), label: k });
    }
  return inputs;
}

async function main() {
  const W = require('@overmap/engine');
  await W.initBackend('onnx', W.sessionSettingsOf(require('@overmap/shared').loadConfig()));
  const specs = {
    'v1 (layers-onnx)': W.referenceSpecUri('layers-onnx'),
    v4: path.join(ROOT, 'models/reference-v4/overmap-model.json'),
    'v5 (default)': W.referenceSpecUri('onnx'),
    'v5 + detector': path.join(ROOT, 'models/reference-v5/overmap-model-detector.json'),
  };
  const scorers = {};
  for (const [name, uri] of Object.entries(specs)) scorers[name] = await W.OverMapScorer.load(await W.loadSpec(uri));
  const inputs = await sampleInputs();
  const run = async (scorer) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let images = 0;
    for (let p = 0; p < PASSES; p++)
      for (let i = 0; i < inputs.length; i += BATCH) {
        const batch = inputs.slice(i, i + BATCH);
        await scorer.scoreBatch(batch);
        images += batch.length;
      }
    const c = process.cpuUsage(c0);
    return { cpuMsPerImage: (c.user + c.system) / 1000 / images, ips: images / ((performance.now() - t0) / 1000) };
  };
  for (const s of Object.values(scorers)) await run(s); // warm-up
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const row = {};
    for (const [name, s] of Object.entries(scorers)) row[name] = await run(s);
    rounds.push(row);
    process.stderr.write(
      `round ${r + 1}: ${Object.entries(row)
        .map(([k, v]) => `${k} ${v.cpuMsPerImage.toFixed(3)} CPU-ms/img`)
        .join(', ')}\n`,
    );
  }
  const base = 'v1 (layers-onnx)';
  const out = { images: inputs.length, passes: PASSES, rounds: ROUNDS, batch: BATCH, pipelines: {} };
  for (const name of Object.keys(specs)) {
    const ratios = rounds.map((row) => row[name].cpuMsPerImage / row[base].cpuMsPerImage);
    out.pipelines[name] = {
      cpuMsPerImage: r3(median(rounds.map((row) => row[name].cpuMsPerImage))),
      imagesPerSecond: Math.round(median(rounds.map((row) => row[name].ips))),
      cpuRatioToV1: { median: r3(median(ratios)), min: r3(Math.min(...ratios)), max: r3(Math.max(...ratios)) },
    };
  }
  console.log(JSON.stringify(out, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
