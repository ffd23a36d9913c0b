#!/usr/bin/env node
/**
 * npm run make:photos -- <out-dir> [--count 1200] [--seed overmap-photos-v1]
 *
 * A realistic benchmark set: camera-size JPEGs made from the project's varied scene generator
 * (the one the reference-v4 models train on, split varied-test). Each 64×64 scene is enlarged
 * (bicubic) to 80–100% of the canvas's short side, the rest of the canvas filled by mirroring
 * its edges, and a seeded grain added so that the JPEG carries sensor-like detail (a smooth
 * upscale would compress and decode unrealistically fast). Canvases 640×480 (0.3 MP), 1152×864
 * (1 MP), 1600×1200, 2048×1536 (3 MP), 3264×2448 (8 MP) and 4000×3000 (12 MP); JPEG quality
 * 75–95, a third progressive, a quarter stored sideways or upside down with the EXIF
 * orientation (3, 6 or 8) that shows them upright. Folder per class (`--labels folder`).
 * The file name says how it was made: <class>/<index>_<w>x<h>_q<quality>[_prog][_o<orientation>].jpg
 * (w×h as viewed). Deterministic in (seed, index).
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const seedrandom = require('seedrandom');
const sharp = require('sharp');

const CANVASES = [
  [640, 480, 3],
  [1152, 864, 3],
  [1600, 1200, 2],
  [2048, 1536, 3],
  [3264, 2448, 2],
  [4000, 3000, 3],
]; // [w, h, weight]
const USAGE = 'usage: npm run make:photos -- <out-dir> [--count N] [--seed S]';

/** Stored pixels and tag for a photo meant to be seen upright: orientation 1, 3, 6 or 8. */
const STORE_ROTATION = { 1: 0, 3: 180, 6: 270, 8: 90 };

function pickCanvas(rng) {
  const total = CANVASES.reduce((a, c) => a + c[2], 0);
  let r = rng() * total;
  for (const c of CANVASES) if ((r -= c[2]) < 0) return c;
  return CANVASES[CANVASES.length - 1];
}

/** A table of grain values (±12 grey levels), read cyclically with a per-row offset: no visible tiling. */
function grainTable(rng) {
  const t = new Int8Array(1 << 20);
  for (let i = 0; i < t.length; i++) t[i] = Math.round((rng() - 0.5) * 24);
  return t;
}

function addGrain(raw, w, grain) {
  const mask = grain.length - 1;
  for (let i = 0, row = 0; i < raw.length; i += 3) {
    if (i % (w * 3) === 0) row = Math.imul(i / (w * 3) + 1, 40503) & mask;
    const g = grain[(row + i / 3) & mask];
    for (let c = 0; c < 3; c++) raw[i + c] = Math.max(0, Math.min(255, raw[i + c] + g));
  }
  return raw;
}

/** The JPEG of scene `i` on a w×h canvas (as viewed) with the given settings. */
async function jpegOf(
  ref,
  bank,
  grain,
  seed,
  i,
  { w, h, quality, progressive, orientation },
  rng = seedrandom(`${seed}:${i}`),
) {
  const scene = ref.makeVariedScene(bank, { seed, split: 'test' }, i);
  const side = Math.round(Math.min(w, h) * (0.8 + 0.2 * rng()));
  const left = Math.floor((w - side) * rng());
  const top = Math.floor((h - side) * rng());
  const S = ref.SCENE_SIZE;
  const enlarged = await sharp(Buffer.from(scene.image), { raw: { width: S, height: S, channels: 3 } })
    .resize(side, side, { kernel: 'cubic' })
    .extend({ top, left, bottom: h - side - top, right: w - side - left, extendWith: 'mirror' })
    .raw()
    .toBuffer();
  let img = sharp(addGrain(enlarged, w, grain), { raw: { width: w, height: h, channels: 3 } });
  if (orientation !== 1) {
    // Stored turned the other way, with the tag that turns it back (two pipelines: the tag must
    // not be applied to the rotation itself).
    const { data, info } = await img.rotate(STORE_ROTATION[orientation]).raw().toBuffer({ resolveWithObject: true });
    img = sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).withMetadata({ orientation });
  }
  const jpeg = await img.jpeg({ quality, progressive, mozjpeg: false }).toBuffer();
  return { jpeg, label: scene.label };
}

async function makePhoto(ref, bank, grain, seed, i) {
  const rng = seedrandom(`${seed}:photo:${i}`);
  const [w, h] = pickCanvas(rng);
  const quality = 75 + Math.floor(rng() * 21);
  const progressive = rng() < 1 / 3;
  const orientation = rng() < 0.25 ? [3, 6, 8][Math.floor(rng() * 3)] : 1;
  const { jpeg, label } = await jpegOf(ref, bank, grain, seed, i, { w, h, quality, progressive, orientation }, rng);
  const name = `${String(i).padStart(5, '0')}_${w}x${h}_q${quality}${progressive ? '_prog' : ''}${
    orientation !== 1 ? `_o${orientation}` : ''
  }.jpg`;
  return { folder: ref.CLASS_FOLDERS[label], name, jpeg };
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { count: { type: 'string', default: '1200' }, seed: { type: 'string', default: 'overmap-photos-v1' } },
  });
  const out = positionals[0];
  if (!out || positionals.length > 1) throw new Error(USAGE);
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count ${values.count}: use a whole number ≥ 1`);
  const ref = require('@overmap/reference');
  const bank = ref.loadFashionMnist();
  const grain = grainTable(seedrandom(`${values.seed}:grain`));
  sharp.concurrency(1);
  let bytes = 0;
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    const p = await makePhoto(ref, bank, grain, values.seed, i);
    fs.mkdirSync(path.join(out, p.folder), { recursive: true });
    fs.writeFileSync(path.join(out, p.folder, p.name), p.jpeg);
    bytes += p.jpeg.length;
    if ((i + 1) % 200 === 0) process.stderr.write(`${i + 1}/${count}\n`);
  }
  process.stdout.write(
    `wrote ${count} photos (${(bytes / 2 ** 20).toFixed(0)} MiB) to ${out} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
  );
}

if (require.main === module)
  main().catch((e) => {
    process.stderr.write(`make-photos: ${e.message}\n`);
    process.exit(2);
  });

module.exports = { makePhoto, jpegOf, grainTable, CANVASES };
