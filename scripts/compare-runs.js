#!/usr/bin/env node
/**
 * node scripts/compare-runs.js <results-a> <results-b>: whether two runs over the same images
 * wrote the same records (a refactor must not change them). Prints, as JSON, the records of
 * each, how many are byte-identical, any key, field, status, label, prediction or acceptance
 * that differs, and the largest difference of any score; exit 1 when anything but score float
 * noise (< 1e-6) differs. Local results folders only (it reads parts/*.jsonl).
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function read(dir) {
  const m = new Map();
  for (const f of fs.readdirSync(path.join(dir, 'parts')).sort())
    for (const line of fs
      .readFileSync(path.join(dir, 'parts', f), 'utf8')
      .split('\n')
      .filter(Boolean)) {
      const r = JSON.parse(line);
      m.set(r.key, r);
    }
  return m;
}

function compare(a, b) {
  const out = { records: [a.size, b.size], byteIdentical: 0, differences: [], maxScoreDiff: 0 };
  for (const [k, ra] of a) {
    const rb = b.get(k);
    if (!rb) {
      out.differences.push(`${k}: only in the first`);
      continue;
    }
    if (JSON.stringify(ra) === JSON.stringify(rb)) out.byteIdentical++;
    if (Object.keys(ra).join() !== Object.keys(rb).join()) out.differences.push(`${k}: fields`);
    for (const f of ['status', 'label', 'accepted', 'error']) if (ra[f] !== rb[f]) out.differences.push(`${k}: ${f}`);
    if (ra.prediction?.class !== rb.prediction?.class) out.differences.push(`${k}: prediction`);
    for (const [s, v] of Object.entries(ra.scores)) {
      const w = rb.scores[s];
      if (v === null || w === null || v === undefined || w === undefined) {
        if (v !== w) out.differences.push(`${k}: scores.${s}`);
      } else out.maxScoreDiff = Math.max(out.maxScoreDiff, Math.abs(v - w));
    }
  }
  for (const k of b.keys()) if (!a.has(k)) out.differences.push(`${k}: only in the second`);
  return out;
}

const [x, y] = process.argv.slice(2);
if (!x || !y) {
  process.stderr.write('usage: node scripts/compare-runs.js <results-a> <results-b>\n');
  process.exit(2);
}
const r = compare(read(x), read(y));
process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
process.exit(r.differences.length === 0 && r.maxScoreDiff < 1e-6 ? 0 : 1);
