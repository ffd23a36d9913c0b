/**
 * A run of many shards: compaction jobs on two worker processes write records/part-*.parquet
 * and per-shard summaries; the finalization merges them. One Parquet row per key across the
 * shards (read by an independent reader), exact counts, quantiles within one bin.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { BINS, type ImageRecord, RECORD_COLUMNS, RunResults, classIndexer } from '@overmap/shared';
import { CLASS_NAMES } from '@overmap/reference';
import { makeDevModel } from '../helpers/models';
import { cliEnv, expectOneRecordPerKey, makeImages, readParquet, readParts, runCli } from '../helpers/fleet';
import { testRedis, tmpDir } from '../helpers/services';

let dir: string, out: string, keys: string[], records: ImageRecord[];

beforeAll(async () => {
  dir = await tmpDir();
  const spec = await makeDevModel(path.join(dir, 'model'), { segmenter: 'saliency' });
  const data = path.join(dir, 'data');
  keys = await makeImages(data, 40);
  out = path.join(dir, 'results');
  const env = cliEnv((await testRedis()).url, `t${Date.now().toString(36)}shard`, { OVERMAP_SHARD_PARTS: '2' });
  const r = await runCli(
    ['run', data, '--out', out, '--workers', '2', '--batch-size', '4', '--labels', 'folder', '--model', spec],
    env,
  );
  if (r.code !== 0) throw new Error(`overmap run failed (${r.code}): ${r.stderr}`);
  records = (await readParts(out)).records;
});
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('sharded finalize (10 batches, 2 parts per shard)', () => {
  it('writes five shards with one row per image key in all, and a manifest that names them and the parts list', async () => {
    const m = (await RunResults.open(out).readManifest())!;
    expect(m.shards).toEqual([0, 1, 2, 3, 4].map((s) => `records/part-0000${s}.parquet`));
    expect(m.parquet).toBe('records/*.parquet');
    expect(m.parts).toEqual({ list: 'parts.txt', count: 10 });
    expect((await fs.readFile(path.join(out, 'parts.txt'), 'utf8')).trim().split('\n')).toHaveLength(10);
    const rows = (await Promise.all(m.shards!.map((s) => readParquet(path.join(out, s))))).flat();
    expect(rows.map((r) => r.key as string).sort()).toEqual([...keys].sort());
    expectOneRecordPerKey(records, keys);
  });

  it('reads in DuckDB as one table over records/*.parquet: one row per image key, the counts of the manifest, the record columns', async () => {
    const m = (await RunResults.open(out).readManifest())!;
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    try {
      const glob = path.join(out, m.parquet).replace(/'/g, "''");
      const rows = async (sql: string) => (await c.runAndReadAll(sql)).getRowObjectsJS();
      expect(
        await rows(
          `SELECT count(*) AS n, count(DISTINCT key) AS d, count(*) FILTER (WHERE accepted) AS a FROM '${glob}'`,
        ),
      ).toEqual([{ n: BigInt(keys.length), d: BigInt(keys.length), a: BigInt(m.counts.accepted) }]);
      expect((await rows(`SELECT key FROM '${glob}' ORDER BY key`)).map((r) => r.key)).toEqual([...keys].sort());
      expect(
        Object.fromEntries(
          (await rows(`SELECT status, count(*) AS n FROM '${glob}' GROUP BY status`)).map((r) => [
            r.status,
            Number(r.n),
          ]),
        ),
      ).toEqual(m.counts.by_status);
      const sqlType = { UTF8: 'VARCHAR', INT32: 'INTEGER', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN' };
      expect((await rows(`DESCRIBE SELECT * FROM '${glob}'`)).map((r) => [r.column_name, r.column_type])).toEqual(
        Object.entries(RECORD_COLUMNS).map(([name, t]) => [name, sqlType[t]]),
      );
    } finally {
      c.closeSync();
      db.closeSync();
    }
  });

  it('merges the shard summaries into exact counts and accuracy, and quantiles within one bin', async () => {
    const m = (await RunResults.open(out).readManifest())!;
    const classOf = classIndexer([...CLASS_NAMES]);
    expect(m.counts.total).toBe(records.length);
    expect(m.counts.accepted).toBe(records.filter((r) => r.accepted === true).length);
    const labelled = records.filter((r) => r.prediction && classOf(r.label) !== null);
    expect(m.summary.labelled).toBe(labelled.length);
    expect(m.summary.accuracy).toBeCloseTo(
      labelled.filter((r) => r.prediction!.index === classOf(r.label)).length / labelled.length,
      12,
    );
    const msp = records.map((r) => r.scores.msp!).sort((a, b) => a - b);
    for (const q of [0.05, 0.5, 0.95]) {
      const exact = msp[Math.max(1, Math.ceil(q * msp.length)) - 1]!;
      expect(
        Math.abs((m.summary.score_quantiles.msp![`p${Math.round(q * 100)}`] as number) - exact),
      ).toBeLessThanOrEqual(1 / BINS);
    }
  });
});
