#!/usr/bin/env node
/**
 * npm run check:duckdb — does DuckDB read a sharded run's Parquet as one table, one row per
 * image? Runs `overmap run` on the bundled samples (300 images, reference model, 2 workers)
 * with batches of 8 and 8 part files per shard (so ~5 shards in records/), then, through
 * @duckdb/node-api (its linux-x64 binary ships in the npm tarball):
 *   SELECT count(*) FROM '<out>/records/*.parquet'        = images in the dataset
 *   count(DISTINCT key), and the keys                      = the dataset's image keys
 *   status counts, accepted count                          = manifest.json's counts
 *   DESCRIBE                                               = RECORD_COLUMNS, same types
 * Local files only: DuckDB reads s3:// through its httpfs extension, which it downloads.
 * Env: CHECK_DUCKDB_DATASET (default samples/fashion-scenes). Prints JSON; exits 1 if a check fails.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const duck = require('@duckdb/node-api');
const { RECORD_COLUMNS } = require('@overmap/shared');

const ROOT = path.resolve(__dirname, '..');
const dataset = path.resolve(ROOT, process.env.CHECK_DUCKDB_DATASET || 'samples/fashion-scenes');
const IMAGE = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;

function listImages(dir, rel = '') {
  const out = [];
  for (const d of fs
    .readdirSync(path.join(dir, rel), { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const k = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...listImages(dir, k));
    else if (IMAGE.test(d.name)) out.push(k);
  }
  return out;
}

(async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'overmap-duckdb-'));
  const out = path.join(tmp, 'results');
  const report = { duckdb: undefined, dataset, checks: {} };
  try {
    const env = {
      ...process.env,
      OVERMAP_SHARD_PARTS: '8',
      OVERMAP_QUEUE_PREFIX: `duckcheck${Date.now().toString(36)}`,
      LOG_LEVEL: 'warn',
    };
    const t = performance.now();
    const run = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'packages/cli/bin/overmap.js'),
        'run',
        dataset,
        '--out',
        out,
        '--workers',
        '2',
        '--batch-size',
        '8',
        '--labels',
        'folder',
      ],
      { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    report.runSeconds = Number(((performance.now() - t) / 1000).toFixed(1));
    if (run.status !== 0)
      throw new Error(
        `overmap run failed (${run.status}): ${
          run.stderr
            .split('\n')
            .filter((l) => l.startsWith('overmap'))
            .join(' ') || run.stderr.slice(-2000)
        }`,
      );
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    report.shards = manifest.shards ?? [];
    report.parquet = manifest.parquet;

    const inst = await duck.DuckDBInstance.create(':memory:');
    const c = await inst.connect();
    const rows = async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJS();
    report.duckdb = (await rows('SELECT version() AS v'))[0].v;
    const glob = path.join(out, manifest.parquet).replace(/'/g, "''");
    const keys = listImages(dataset);

    const [{ n }] = await rows(`SELECT count(*) AS n FROM '${glob}'`);
    report.checks.countStar = { got: Number(n), want: keys.length, ok: Number(n) === keys.length };
    const [{ d }] = await rows(`SELECT count(DISTINCT key) AS d FROM '${glob}'`);
    report.checks.distinctKeys = { got: Number(d), want: keys.length, ok: Number(d) === keys.length };
    const got = (await rows(`SELECT key FROM '${glob}' ORDER BY key`)).map((r) => r.key);
    const sorted = [...keys].sort();
    report.checks.sameKeys = {
      ok: JSON.stringify(got) === JSON.stringify(sorted),
      firstMissing: sorted.find((k) => !got.includes(k)) ?? null,
    };
    const byStatus = Object.fromEntries(
      (await rows(`SELECT status, count(*) AS n FROM '${glob}' GROUP BY status ORDER BY status`)).map((r) => [
        r.status,
        Number(r.n),
      ]),
    );
    report.checks.byStatus = {
      got: byStatus,
      want: manifest.counts.by_status,
      ok:
        JSON.stringify(byStatus) ===
        JSON.stringify(Object.fromEntries(Object.entries(manifest.counts.by_status).sort())),
    };
    const [{ a }] = await rows(`SELECT count(*) FILTER (WHERE accepted) AS a FROM '${glob}'`);
    report.checks.accepted = {
      got: Number(a),
      want: manifest.counts.accepted,
      ok: Number(a) === manifest.counts.accepted,
    };
    const files = (await rows(`SELECT count(DISTINCT filename) AS f FROM read_parquet('${glob}', filename = true)`))[0]
      .f;
    report.checks.filesRead = {
      got: Number(files),
      want: report.shards.length,
      ok: Number(files) === report.shards.length,
    };
    const sqlType = { UTF8: 'VARCHAR', INT32: 'INTEGER', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN' };
    const described = (await rows(`DESCRIBE SELECT * FROM '${glob}'`)).map((r) => `${r.column_name} ${r.column_type}`);
    const expected = Object.entries(RECORD_COLUMNS).map(([name, t]) => `${name} ${sqlType[t]}`);
    report.checks.columns = {
      ok: JSON.stringify(described) === JSON.stringify(expected),
      ...(JSON.stringify(described) === JSON.stringify(expected) ? {} : { got: described, want: expected }),
    };
    c.closeSync();
    report.ok = Object.values(report.checks).every((x) => x.ok);
  } catch (e) {
    report.ok = false;
    report.error = String(e?.message ?? e);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  process.exit(report.ok ? 0 : 1);
})();
