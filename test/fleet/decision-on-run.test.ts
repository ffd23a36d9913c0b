/**
 * A decision calibrated on the run (the spec's decision.calibrate "run"): SIRC's a and b are taken
 * at finalize from the secondary's mean and standard deviation over every scored image of the run,
 * and every record's confidence, accepted and issue follow from them. Checked against the records'
 * own components (an identity), for a run of one shard and of many.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { type ImageRecord, type Manifest, RunResults, sirc } from '@overmap/shared';
import { makeDevModel } from '../helpers/models';
import { makeImages, readParquet, readParts, runOneShardAndMany } from '../helpers/fleet';
import { testRedis, tmpDir } from '../helpers/services';

const PROVISIONAL = { rule: 'sirc', primary: 'msp', secondary: 'attention_seg', a: 0.9, b: 3 };
let dir: string;
const runs: Record<string, { records: ImageRecord[]; manifest: Manifest; out: string }> = {};

beforeAll(async () => {
  dir = await tmpDir();
  const spec = await makeDevModel(path.join(dir, 'model'), {
    segmenter: 'saliency',
    patch: { threshold: 0.3, decision: { ...PROVISIONAL, calibrate: 'run', k: 1, c: 2 } },
  });
  const data = path.join(dir, 'data');
  await makeImages(data, 30);
  // the spec named relative to the working directory: run.json must keep it absolute
  const model = path.relative(process.cwd(), spec);
  const done = await runOneShardAndMany((await testRedis()).url, dir, data, [
    '--workers',
    '2',
    '--batch-size',
    '8',
    '--labels',
    'folder',
    '--model',
    model,
  ]);
  for (const [name, { out }] of Object.entries(done))
    runs[name] = {
      out,
      records: (await readParts(out)).records,
      manifest: (await RunResults.open(out).readManifest())!,
    };
});
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('a decision calibrated on the run', () => {
  it('keeps a spec named by a relative path as an absolute one in run.json (every worker resolves it alike)', async () => {
    const run = await RunResults.open(runs.one!.out).requireRun();
    expect(path.isAbsolute(run.model.uri)).toBe(true);
    expect(run.model.uri).toBe(path.join(dir, 'model', 'spec.json'));
  });

  it("takes SIRC's a and b from the pool: a = mean - k*std, b = c/std of attention_seg over the scored images", () => {
    const { records, manifest } = runs.one!;
    const v = records.filter((r) => r.prediction).map((r) => r.scores.attention_seg!);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    const d = (manifest as Manifest & { decision: { a: number; b: number; pool: { n: number } } }).decision;
    expect(d.pool.n).toBe(v.length);
    expect(d.a).toBeCloseTo(mean - 1 * std, 3);
    expect(d.b).toBeCloseTo(2 / std, 2);
    expect(d.a).not.toBe(PROVISIONAL.a);
  });

  it('rescores every record with them: confidence, accepted and the counts agree (parts and manifest)', () => {
    const { records, manifest } = runs.one!;
    const { a, b } = (manifest as Manifest & { decision: { a: number; b: number } }).decision;
    for (const r of records.filter((x) => x.prediction)) {
      expect(r.scores.confidence).toBeCloseTo(sirc(r.scores.msp!, r.scores.attention_seg!, a, b), 12);
      expect(r.accepted).toBe(r.scores.confidence! >= 0.3);
    }
    expect(manifest.counts.accepted).toBe(records.filter((r) => r.accepted === true).length);
    expect(manifest.counts.rejected).toBe(records.filter((r) => r.accepted === false).length);
  });

  it('gives the same decision and records with many shards (group job, then compactions), in parts and Parquet', async () => {
    const one = runs.one!,
      many = runs.many!;
    expect(many.manifest.shards!.length).toBeGreaterThan(1);
    const dOf = (m: Manifest) => (m as Manifest & { decision: unknown }).decision;
    expect(dOf(many.manifest)).toEqual(dOf(one.manifest));
    const conf = (rs: ImageRecord[]) => Object.fromEntries(rs.map((r) => [r.key, [r.scores.confidence, r.accepted]]));
    expect(conf(many.records)).toEqual(conf(one.records));
    const rows = (await Promise.all(many.manifest.shards!.map((s) => readParquet(path.join(many.out, s))))).flat();
    for (const row of rows)
      expect([row.confidence ?? null, row.accepted ?? null]).toEqual(conf(many.records)[row.key as string]);
  });
});
