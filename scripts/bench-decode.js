#!/usr/bin/env node
/**
 * npm run bench:decode — CPU-ms per image to the model's input through the engine's
 * decodeImage (sharp/libvips, one call in flight, one libvips thread as in the worker), by
 * source size (0.3, 1, 3 and 12 MP photos from scripts/make-photos.js), for 64×64 (the
 * reference models) and 224×224 (ResNet-scale) inputs, and for baseline, progressive and
 * EXIF-rotated (orientation 6) files. The column "no shrink-on-load" decodes the whole JPEG
 * first and resizes after (two pipelines, what a decoder without libjpeg's DCT scaling does):
 * the ratio of the two is what shrink-on-load saves. Target (#23): 12 MP ≤ 4× 1 MP. Each
 * row also gives the file's size in MiB: with DCT scaling the entropy decoding of every
 * coefficient remains, so the cost follows the compressed bytes rather than the pixels.
 * Options (environment): BENCH_DECODE_SECONDS per cell (1). JSON on stdout, table on stderr.
 */
'use strict';
const seedrandom = require('seedrandom');
const sharp = require('sharp');
const { jpegOf, grainTable } = require('./make-photos');

const SIZES = [
  [640, 480],
  [1152, 864],
  [2048, 1536],
  [4000, 3000],
];
const SECONDS = Number(process.env.BENCH_DECODE_SECONDS ?? 1);

/** A photo of the set's kind at one canvas size, with the given JPEG settings. */
async function photo(ref, bank, grain, [w, h], { progressive = false, orientation = 1 } = {}) {
  const o = { w, h, quality: 85, progressive, orientation };
  return (await jpegOf(ref, bank, grain, 'overmap-photos-v1', 7, o)).jpeg;
}

/** CPU-ms per call of f(), calls one after another for at least SECONDS (and 3 calls). */
async function cpuMsPer(f) {
  await f();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let n = 0;
  while (n < 3 || performance.now() - t0 < SECONDS * 1000) {
    await f();
    n++;
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

async function noShrink(bytes, [h, w]) {
  const { data, info } = await sharp(bytes).rotate().raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: info }).resize(w, h, { fit: 'fill' }).raw().toBuffer();
}

async function main() {
  const { decodeImage } = require('@overmap/engine');
  const ref = require('@overmap/reference');
  const bank = ref.loadFashionMnist();
  const grain = grainTable(seedrandom('overmap-photos-v1:grain'));
  const rows = [];
  for (const input of [64, 224]) {
    const o = { size: [input, input], maxInputPixels: 100e6, maxBytes: 256 * 2 ** 20 };
    for (const wh of SIZES) {
      const kinds = { baseline: {}, progressive: { progressive: true }, orientation6: { orientation: 6 } };
      const row = { input, source: `${wh[0]}x${wh[1]}`, mp: Math.round((wh[0] * wh[1]) / 1e5) / 10 };
      for (const [kind, opts] of Object.entries(kinds)) {
        const bytes = await photo(ref, bank, grain, wh, opts);
        const d = await decodeImage(bytes, o);
        if (!d.ok) throw new Error(`bench:decode: ${row.source} ${kind}: ${d.error}`);
        row[kind] = await cpuMsPer(() => decodeImage(bytes, o));
        row[`${kind}MB`] = bytes.length / 2 ** 20;
        if (kind === 'baseline') row.noShrink = await cpuMsPer(() => noShrink(bytes, o.size));
      }
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row, (k, v) => (typeof v === 'number' ? +v.toFixed(2) : v))}\n`);
    }
  }
  const at = (input, mp) => rows.find((r) => r.input === input && r.mp === mp);
  const ratio = (input) => at(input, 12).baseline / at(input, 1).baseline;
  const out = {
    machine: { cores: require('node:os').availableParallelism(), sharp: sharp.versions },
    cpuMsPerImage: rows,
    ratio12mpTo1mp: { input64: ratio(64), input224: ratio(224), target: '<= 4' },
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

if (require.main === module)
  main().catch((e) => {
    process.stderr.write(`bench-decode: ${e.message}\n`);
    process.exit(2);
  });
