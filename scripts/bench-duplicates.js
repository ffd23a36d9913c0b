#!/usr/bin/env node
/**
 * npm run bench:duplicates [-- --originals 600 --copies 60 --hashes 1000000] — the image checks
 * and near-duplicate groups against planted truth, through a whole `overmap run`:
 *  - originals: generated scenes (the varied test generator) enlarged to 256×256 JPEG (q90);
 *  - copies of some originals, one kind per folder: resized to half (JPEG q85), recompressed at
 *    q50, cropped 5% a side, shifted (4% off the left and top), brightened 25%, flipped;
 *  - bad images made from further originals (never in the set otherwise): dark, light, blurred,
 *    blurred strongly (σ 10 px) and mildly (σ 4 px), blank, greyscale, tiny or huge (odd size),
 *    stretched 4:1 (odd aspect).
 * It reports each copy kind's recall (grouped with its original) and the pair precision of the
 * groups at the run's distance and at others (re-grouping the records' hashes), each flag's
 * recall on its planted kind and its false flags on ordinary images, the measures' CPU cost
 * against the scoring's on the same decoded images, and grouping 10⁶ hashes in a child process
 * (time, peak RSS). One run, one machine.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const sharp = require('sharp');
const S = require('@overmap/shared');

const ROOT = path.join(__dirname, '..');
const { values: arg } = parseArgs({
  options: {
    originals: { type: 'string', default: '600' },
    copies: { type: 'string', default: '60' },
    hashes: { type: 'string', default: '1000000' },
    'child-group': { type: 'string' },
    keep: { type: 'string' },
  },
});
const COPY_KINDS = {
  resize_half: (img) => img.resize(128, 128).jpeg({ quality: 85 }),
  jpeg_q50: (img) => img.jpeg({ quality: 50 }),
  crop_5pct: (img) => img.extract({ left: 13, top: 13, width: 230, height: 230 }).jpeg({ quality: 90 }),
  shift_4pct: (img) => img.extract({ left: 10, top: 10, width: 246, height: 246 }).jpeg({ quality: 90 }),
  brighter_25pct: (img) => img.modulate({ brightness: 1.25 }).jpeg({ quality: 90 }),
  flip: (img) => img.flop().jpeg({ quality: 90 }),
};
const CLAIMED = ['resize_half', 'jpeg_q50', 'brighter_25pct'];
const BAD_KINDS = {
  dark: (img) => img.linear(0.15, 0),
  light: (img) => img.linear(0.3, 175),
  blurry: (img) => img.blur(10),
  blurry_mild: (img) => img.blur(4),
  // blank: one flat colour each (identical blanks are true copies of each other, so each gets its own colour)
  low_information: (img, i) =>
    sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 40 + 9 * i, g: 111, b: 92 } } }),
  grayscale: (img) => img.greyscale(),
  odd_size: (img, i) => (i % 2 ? img.resize(24, 24) : img.resize(2048, 2048)),
  odd_aspect: (img) => img.resize(512, 128, { fit: 'fill' }),
};
const PER_BAD = 20;

/** Writes the planted set; returns its truth: key -> { origin, kind }. */
async function plant(dir, n, copies) {
  const scenes = path.join(dir, 'scenes');
  const total = n + PER_BAD * Object.keys(BAD_KINDS).length;
  execFileSync(process.execPath, [
    path.join(ROOT, 'packages/reference/dist/make-scenes-cli.js'),
    scenes,
    '--split',
    'varied-test',
    '--count',
    String(total),
  ]);
  const files = fs
    .readdirSync(scenes, { recursive: true })
    .filter((f) => f.endsWith('.png'))
    .sort();
  const data = path.join(dir, 'data');
  const truth = new Map();
  const put = async (key, img, origin, kind) => {
    fs.mkdirSync(path.dirname(path.join(data, key)), { recursive: true });
    await img.toFile(path.join(data, key));
    truth.set(key, { origin, kind });
  };
  const big = (f) => sharp(path.join(scenes, f)).resize(256, 256, { kernel: 'cubic' });
  for (let i = 0; i < n; i++) {
    const id = `o${String(i).padStart(5, '0')}`;
    const orig = await big(files[i]).jpeg({ quality: 90 }).toBuffer();
    await put(`original/${id}.jpg`, sharp(orig), id, 'original');
    if (i < copies)
      for (const [kind, make] of Object.entries(COPY_KINDS))
        await put(`${kind}/${id}.jpg`, make(sharp(orig)), id, kind);
  }
  let j = n;
  for (const [kind, make] of Object.entries(BAD_KINDS))
    for (let i = 0; i < PER_BAD; i++, j++) {
      const id = `b${String(j).padStart(5, '0')}`;
      await put(`bad_${kind}/${id}.jpg`, make(big(files[j]), i).jpeg({ quality: 90 }), id, `bad_${kind}`);
    }
  return { data, truth };
}

/** Copy kinds' recall and pair precision of a grouping (key -> group or null). */
function groupQuality(records, truth, groupOf) {
  const byGroup = new Map();
  for (const r of records) {
    const g = groupOf(r);
    if (g !== null) byGroup.set(g, [...(byGroup.get(g) ?? []), r.key]);
  }
  let pairs = 0,
    truePairs = 0;
  for (const keys of byGroup.values())
    for (let a = 0; a < keys.length; a++)
      for (let b = a + 1; b < keys.length; b++) {
        pairs++;
        if (truth.get(keys[a]).origin === truth.get(keys[b]).origin) truePairs++;
      }
  const groupByKey = new Map(records.map((r) => [r.key, groupOf(r)]));
  const recall = {};
  for (const kind of Object.keys(COPY_KINDS)) {
    const copies = [...truth].filter(([, t]) => t.kind === kind);
    const hit = copies.filter(([k, t]) => {
      const g = groupByKey.get(k);
      return g !== null && g === groupByKey.get(`original/${t.origin}.jpg`);
    });
    recall[kind] = hit.length / copies.length;
  }
  const claimed = CLAIMED.reduce((s, k) => s + recall[k], 0) / CLAIMED.length;
  return { recall, claimed, precision: pairs ? truePairs / pairs : 1, pairs };
}

function regroup(records, k) {
  const hashed = records.filter((r) => r.image);
  const hi = new Uint32Array(hashed.length),
    lo = new Uint32Array(hashed.length);
  hashed.forEach((r, i) => ([hi[i], lo[i]] = S.groupingHash(r.image)));
  const g = S.groupNearDuplicates(hi, lo, k);
  const of = new Map(hashed.map((r, i) => [r.key, g.first[i] >= 0 ? g.first[i] : null]));
  return (r) => of.get(r.key) ?? null;
}

/** Each record's issues as the run decided them, or at another z (fences recomputed from the records' measures). */
function issuesAt(records, z) {
  if (z === undefined) return (r) => r.image_issues;
  const stats = new S.ImageStats();
  for (const r of records) if (r.image) stats.add(r.image);
  const f = stats.fences({ z, off: [] });
  return (r) => S.imageIssues(r.image, f);
}

function flagQuality(records, truth, issuesOf = issuesAt(records)) {
  const out = {};
  const ordinary = records.filter((r) => !truth.get(r.key).kind.startsWith('bad_'));
  for (const kind of Object.keys(BAD_KINDS)) {
    const flag = kind.replace(/_mild$/, '');
    const planted = records.filter((r) => truth.get(r.key).kind === `bad_${kind}`);
    const tp = planted.filter((r) => issuesOf(r).includes(flag)).length;
    const fp = ordinary.filter((r) => issuesOf(r).includes(flag)).length;
    out[kind] = {
      recall: tp / planted.length,
      false_flags: fp,
      ordinary: ordinary.length,
      precision: tp / (tp + fp || 1),
    };
  }
  return out;
}

/** The child: groups n random hashes (a tenth near copies, up to 4 bits flipped); time and peak RSS. */
function childGroup(n) {
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const hi = new Uint32Array(n),
    lo = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (i > 0 && rnd() < 0.1) {
      const src = Math.floor(rnd() * i);
      [hi[i], lo[i]] = [hi[src], lo[src]];
      for (let f = Math.floor(rnd() * 5); f > 0; f--) {
        const b = Math.floor(rnd() * 32);
        if (rnd() < 0.5) hi[i] = (hi[i] ^ (1 << b)) >>> 0;
        else lo[i] = (lo[i] ^ (1 << b)) >>> 0;
      }
    } else [hi[i], lo[i]] = [Math.floor(rnd() * 2 ** 32) >>> 0, Math.floor(rnd() * 2 ** 32) >>> 0];
  }
  const rssBefore = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const g = S.groupNearDuplicates(hi, lo, S.DEFAULT_NEAR_DUPLICATE_BITS);
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    JSON.stringify({
      n,
      seconds: (performance.now() - t0) / 1000,
      cpu_seconds: (cpu.user + cpu.system) / 1e6,
      groups: g.groups,
      tables: g.tables,
      comparisons: g.comparisons,
      rss_before_mib: rssBefore / 2 ** 20,
      peak_rss_mib: process.resourceUsage().maxRSS / 1024,
    }),
  );
}

/** CPU-ms per image of the measures and of the scoring, on the same decoded images (interleaved rounds). */
async function cost(data, keys) {
  const W = require('@overmap/engine');
  const config = S.loadConfig();
  await W.initBackend(config.OVERMAP_BACKEND, W.sessionSettingsOf(config));
  const scorer = await W.OverMapScorer.load(await W.loadSpec(W.referenceSpecUri()));
  const size = scorer.inputSize;
  const items = [];
  for (const k of keys.slice(0, 128)) {
    const bytes = fs.readFileSync(path.join(data, k));
    const d = await W.decodeImage(bytes, { size, segSize: scorer.segInputSize, maxInputPixels: 1e8, maxBytes: 1e9 });
    if (d.ok) items.push({ bytes, d });
  }
  const inputs = items.map(({ d }, i) => ({ rgb: d.rgb, segRgb: d.segRgb, key: String(i), label: null }));
  const ms = { measure: [], score: [] };
  for (let round = 0; round < 5; round++) {
    let c = process.cpuUsage();
    for (const { bytes, d } of items) W.measureImage(bytes, d.rgb, size);
    let u = process.cpuUsage(c);
    ms.measure.push((u.user + u.system) / 1000 / items.length);
    c = process.cpuUsage();
    for (let s = 0; s < inputs.length; s += 64) await scorer.scoreBatch(inputs.slice(s, s + 64));
    u = process.cpuUsage(c);
    ms.score.push((u.user + u.system) / 1000 / items.length);
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const b = W.currentBackend();
  return { measure: med(ms.measure), score: med(ms.score), backend: b ? (b.onnx ? 'onnx' : b.name) : '?', size };
}

const pct = (x) => `${(100 * x).toFixed(1)}%`;

async function main() {
  if (arg['child-group']) return childGroup(Number(arg['child-group']));
  const dir = arg.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'overmap-dups-'));
  try {
    const { data, truth } = await plant(dir, Number(arg.originals), Number(arg.copies));
    const out = path.join(dir, 'out');
    const t0 = performance.now();
    execFileSync(process.execPath, [path.join(ROOT, 'packages/cli/bin/overmap.js'), 'run', data, '--out', out], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const runSeconds = (performance.now() - t0) / 1000;
    const records = [];
    for await (const r of S.RunResults.open(out).records()) records.push(r);
    const run = groupQuality(records, truth, (r) => r.duplicate_group ?? null);
    console.log(`## planted set: ${records.length} images (overmap run ${runSeconds.toFixed(1)} s)\n`);
    console.log(
      `near copies at the run's ${S.DEFAULT_NEAR_DUPLICATE_BITS} bits: pair precision ${pct(run.precision)} (${run.pairs} pairs)`,
    );
    console.log('| copy kind | recall |\n| --- | --- |');
    for (const [k, v] of Object.entries(run.recall))
      console.log(`| ${k}${CLAIMED.includes(k) ? '' : ' (not claimed)'} | ${pct(v)} |`);
    console.log("\n| bits | claimed kinds' recall | pair precision | pairs |\n| --- | --- | --- | --- |");
    for (const k of [2, 4, 6, 8, 10, 12]) {
      const q = groupQuality(records, truth, regroup(records, k));
      console.log(`| ${k} | ${pct(q.claimed)} | ${pct(q.precision)} | ${q.pairs} |`);
    }
    console.log(
      '\n| flag | recall on its planted kind | false flags on ordinary images | precision |\n| --- | --- | --- | --- |',
    );
    for (const [f, q] of Object.entries(flagQuality(records, truth)))
      console.log(`| ${f} | ${pct(q.recall)} | ${q.false_flags} of ${q.ordinary} | ${pct(q.precision)} |`);
    console.log('\n| z | mean recall of the flags | false flags on ordinary images (all flags) |\n| --- | --- | --- |');
    for (const z of [2, 2.5, 3, 3.5, 4]) {
      const q = Object.values(flagQuality(records, truth, issuesAt(records, z)));
      const recall = q.reduce((s, x) => s + x.recall, 0) / q.length;
      console.log(`| ${z} | ${pct(recall)} | ${q.reduce((s, x) => s + x.false_flags, 0)} of ${q[0].ordinary} |`);
    }
    const c = await cost(data, [...truth.keys()]);
    console.log(
      `\nmeasures + hashes: ${c.measure.toFixed(3)} CPU-ms/image; scoring (${c.backend}, ${c.size.join('x')}): ${c.score.toFixed(3)} CPU-ms/image: ${pct(c.measure / c.score)} of it`,
    );
    const X = require('./lib/finalize-costs');
    const at224 = await X.measuresAt(data, [...truth.keys()], 224);
    console.log(`measures + hashes at 224x224: ${at224.toFixed(3)} CPU-ms/image`);
    console.log(`finalize's pass over the part files: ${(await X.partReadRate(100_000)).toFixed(0)} records/s`);
    const child = JSON.parse(
      execFileSync(process.execPath, [__filename, '--child-group', arg.hashes], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      }),
    );
    console.log(
      `\ngrouping ${child.n} hashes at ${S.DEFAULT_NEAR_DUPLICATE_BITS} bits: ${child.seconds.toFixed(1)} s (${child.cpu_seconds.toFixed(1)} CPU-s), ${child.tables} tables, ${child.comparisons} comparisons, ${child.groups} groups; peak RSS ${child.peak_rss_mib.toFixed(0)} MiB (${child.rss_before_mib.toFixed(0)} MiB with the hashes alone)`,
    );
  } finally {
    if (!arg.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
