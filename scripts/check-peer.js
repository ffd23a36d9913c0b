#!/usr/bin/env node
/**
 * npm run check:peer -- <photo-folder> [--count 300] [--spec models/reference-v4/overmap-model.json]
 *
 * Do scripts/peer-pytorch.py and `overmap run` give the same scores on the same images?
 * Agreement is measured on identical input pixels: each photo (the first --count, in key order)
 * is decoded once by the engine's decodeImage to the model's input size and written as a
 * lossless PNG of exactly that size, in the same class folders; both then score those PNGs.
 * Neither resizes them: libvips' resize to the size it already has is checked here to give the
 * same bytes back, and PIL's resize to the image's own size is a copy. (On the photos
 * themselves the two decoders differ, sharp's shrink-on-load + its resampling against PIL's
 * bilinear resize, and so do the scores: bench:photos reports that separately.)
 * Compared per image: the predicted class, msp, Over-MAP, attention/mask, Grad-CAM/attention
 * and the decision score; exit 1 if any differs by more than 1e-3. JSON on stdout.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const sharp = require('sharp');
const { pythonWithTorch } = require('./lib/python-torch');

const ROOT = path.resolve(__dirname, '..');
const SCORES = ['msp', 'overmap', 'attention_seg', 'gradcam_attention', 'confidence'];
const TOL = 1e-3;

function listImages(dir) {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new Error(`${dir}: not a folder; make one with npm run make:photos -- ${dir}`);
  const keys = fs
    .readdirSync(dir, { recursive: true })
    .map((k) => k.split(path.sep).join('/'))
    .filter((k) => /\.(jpe?g|png)$/i.test(k))
    .sort();
  if (keys.length === 0)
    throw new Error(`${dir}: no JPEG or PNG under it; make them with npm run make:photos -- ${dir}`);
  return keys;
}

/** The engine's decode of each photo as a PNG of the model's input size; checks sharp reads it back unchanged. */
async function writeInputPixels(src, keys, dst, size) {
  const { decodeImage } = require('@overmap/engine');
  const o = { size, maxInputPixels: 100e6, maxBytes: 256 * 2 ** 20 };
  for (const key of keys) {
    const d = await decodeImage(fs.readFileSync(path.join(src, key)), o);
    if (!d.ok) throw new Error(`${key}: ${d.error}`);
    const png = await sharp(Buffer.from(d.rgb), { raw: { width: size[1], height: size[0], channels: 3 } })
      .png()
      .toBuffer();
    const again = await decodeImage(png, o);
    if (!again.ok || Buffer.compare(Buffer.from(again.rgb), Buffer.from(d.rgb)) !== 0)
      throw new Error(`${key}: the PNG of its decoded pixels does not decode to the same pixels`);
    const out = path.join(dst, key.replace(/\.\w+$/, '.png'));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, png);
  }
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

function fleetRecords(out) {
  const dir = path.join(out, 'parts');
  const rec = new Map();
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')))
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line);
      rec.set(r.key, r);
    }
  return rec;
}

/** Per score: the largest difference, where it is, and how many images differ by more than TOL. */
function compare(fleet, peerLines) {
  const diff = Object.fromEntries(SCORES.map((s) => [s, { maxAbs: 0, at: null, over: 0 }]));
  let predictionsDiffer = 0;
  for (const p of peerLines) {
    const f = fleet.get(p.key);
    if (!f || f.status !== 'ok') throw new Error(`${p.key}: no ok record in the fleet's run`);
    if (f.prediction.index !== p.pred) predictionsDiffer++;
    for (const s of SCORES) {
      const d = Math.abs(f.scores[s] - p[s]);
      if (d > diff[s].maxAbs) Object.assign(diff[s], { maxAbs: d, at: p.key });
      if (d > TOL) diff[s].over++;
    }
  }
  return { images: peerLines.length, predictionsDiffer, tolerance: TOL, diff };
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      count: { type: 'string', default: '300' },
      spec: { type: 'string', default: path.join(ROOT, 'models/reference-v4/overmap-model.json') },
    },
  });
  if (positionals.length !== 1) throw new Error('usage: npm run check:peer -- <photo-folder> [--count N] [--spec S]');
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count ${values.count}: use a whole number ≥ 1`);
  const py = pythonWithTorch();
  if (!py) throw new Error('no Python with torch and torchvision: apt-get install python3-torch python3-torchvision');
  const spec = JSON.parse(fs.readFileSync(values.spec, 'utf8'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'check-peer-'));
  try {
    const keys = listImages(positionals[0]).slice(0, count);
    const pixels = path.join(tmp, 'pixels');
    await writeInputPixels(positionals[0], keys, pixels, spec.classifier.inputSize);
    const out = path.join(tmp, 'run');
    const cli = path.join(ROOT, 'packages/cli/bin/overmap.js');
    run(process.execPath, [cli, 'run', pixels, '--labels', 'folder', '--model', values.spec, '--out', out]);
    const jsonl = path.join(tmp, 'peer.jsonl');
    run(py, ['scripts/peer-pytorch.py', pixels, '--spec', values.spec, '--out', jsonl]);
    const peer = fs.readFileSync(jsonl, 'utf8').split('\n').filter(Boolean).map(JSON.parse);
    const r = compare(fleetRecords(out), peer);
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    const bad = SCORES.filter((s) => r.diff[s].over > 0);
    if (bad.length || r.predictionsDiffer)
      throw new Error(`scores differ by more than ${TOL}: ${bad.join(', ')}; predictions ${r.predictionsDiffer}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module)
  main().catch((e) => {
    process.stderr.write(`check-peer: ${e.message}\n`);
    process.exit(e.message.startsWith('scores differ') ? 1 : 2);
  });

module.exports = { listImages, fleetRecords, compare, writeInputPixels };
