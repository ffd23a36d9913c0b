#!/usr/bin/env node
/**
 * npm run bench:report — `overmap report`'s wall time and peak RSS, one run on one machine;
 * prints JSON, asserts nothing.
 *  1. synthetic runs (records written through RunResults.writePart with a run.json and a
 *     manifest; no model, no images: --images none) of BENCH_REPORT_SIZES records
 *     (default 10000,100000): the report streams the records, so peak RSS should not grow
 *     with the run
 *  2. the demo: samples/fashion-scenes through `overmap run --labels folder`, then the report
 *     with its pictures (thumbnails, and the maps recomputed by the scorer)
 * Each report runs in its own process; its peak RSS is that process's maxRSS
 * (process.resourceUsage(), read at exit by a preloaded hook).
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeSyntheticRun } = require('@overmap/report');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'packages/cli/bin/overmap.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'overmap-bench-report-'));
const hook = path.join(tmp, 'max-rss.js');
fs.writeFileSync(
  hook,
  "process.on('exit', () => require('node:fs').writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS * 1024)));\n",
);

function timed(args, env = {}) {
  const rssFile = path.join(tmp, `rss-${Date.now()}`);
  const t0 = performance.now();
  const stdout = execFileSync(process.execPath, ['--require', hook, CLI, ...args], {
    env: { ...process.env, BENCH_RSS_FILE: rssFile, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 64 << 20,
  }).toString();
  const seconds = (performance.now() - t0) / 1000;
  return {
    seconds: +seconds.toFixed(2),
    peakRssMiB: +(Number(fs.readFileSync(rssFile, 'utf8')) / 2 ** 20).toFixed(0),
    stdout,
  };
}

(async () => {
  const out = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    synthetic: [],
    demo: null,
  };
  const sizes = (process.env.BENCH_REPORT_SIZES || '10000,100000').split(',').map(Number);
  for (const n of sizes) {
    const dir = path.join(tmp, `synthetic-${n}`);
    const t0 = performance.now();
    await writeSyntheticRun({ results: dir, records: n, batchSize: 1000 });
    const written = (performance.now() - t0) / 1000;
    const partsMiB =
      fs.readdirSync(path.join(dir, 'parts')).reduce((a, f) => a + fs.statSync(path.join(dir, 'parts', f)).size, 0) /
      2 ** 20;
    const r = timed(['report', dir, '--images', 'none']);
    const reportMiB =
      Number(
        execFileSync('du', ['-sk', path.join(dir, 'report')])
          .toString()
          .split('\t')[0],
      ) / 1024;
    out.synthetic.push({
      records: n,
      partsMiB: +partsMiB.toFixed(1),
      writeSeconds: +written.toFixed(1),
      reportSeconds: r.seconds,
      recordsPerSecond: Math.round(n / r.seconds),
      peakRssMiB: r.peakRssMiB,
      reportMiB: +reportMiB.toFixed(1),
    });
    process.stderr.write(`${n} records: ${r.seconds} s, peak RSS ${r.peakRssMiB} MiB\n`);
  }
  if (process.env.BENCH_REPORT_DEMO !== '0') {
    const results = path.join(tmp, 'demo');
    execFileSync(
      process.execPath,
      [CLI, 'run', path.join(ROOT, 'samples/fashion-scenes'), '--labels', 'folder', '--out', results],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } },
    );
    const maps = timed(['report', results]);
    const thumbs = timed(['report', results, '--images', 'thumbs']);
    const none = timed(['report', results, '--images', 'none']);
    const data = JSON.parse(fs.readFileSync(path.join(results, 'report', 'report-data.json'), 'utf8'));
    const cards = new Set(data.queues.flatMap((q) => q.cards.map((c) => c.key))).size;
    out.demo = {
      records: data.aggregates.total,
      imagesWithPictures: cards,
      backend: process.env.OVERMAP_BACKEND || 'default',
      maps: { seconds: maps.seconds, peakRssMiB: maps.peakRssMiB },
      thumbs: { seconds: thumbs.seconds, peakRssMiB: thumbs.peakRssMiB },
      none: { seconds: none.seconds, peakRssMiB: none.peakRssMiB },
      mapsSecondsPerImage: +((maps.seconds - thumbs.seconds) / cards).toFixed(4),
    };
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  fs.rmSync(tmp, { recursive: true, force: true });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
