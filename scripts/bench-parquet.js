#!/usr/bin/env node
/**
 * npm run bench:parquet — the Parquet writers for a shard of records, side by side: the
 * same N records of the project's shape (the report's synthetic records, with overlays on
 * some and every optional field null on others) written by @dsnp/parquetjs (the writer
 * finalize used before), hyparquet-writer, parquet-wasm with apache-arrow, DuckDB (appender
 * then COPY TO, where @duckdb/node-api is installed) and the project's writeRecordsParquet
 * (whatever it uses now). Each: rows/s (the best and the median of BENCH_PARQUET_REPEAT
 * runs, records in memory to a file on disk, the flattening included), bytes, and whether
 * hyparquet reads the file back row for row equal to flattenRecord of the input (every
 * column, nulls included), with the same physical types.
 *
 * Then the whole compaction of one shard as finalize does it (`compaction`): the same records
 * as part files of 1,000 in a local results directory, read and parsed one part at a time,
 * summarised, written to records.parquet; (a) as before #14 (parquetjs to a temporary file,
 * read back, put), (b) finalizeRun as it is now (streamed), and (c) the reading, parsing and
 * summary alone, so the writer's share is visible. Rows/s, best and median of the repeats.
 * Env: BENCH_PARQUET_ROWS (default 100000), BENCH_PARQUET_REPEAT (3),
 * BENCH_PARQUET_WRITERS (comma list, default all), BENCH_PARQUET_COMPACTION (0 skips it).
 * Prints JSON; asserts nothing, but a writer whose file does not read back equal has
 * `roundTrip: false` and the reason.
 */
'use strict';
process.env.LOG_LEVEL ??= 'warn'; // finalize's log lines would mix with the JSON
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const seedrandom = require('seedrandom');
const shared = require('@overmap/shared');
const { syntheticRecord } = require('@overmap/report');

const N = Number(process.env.BENCH_PARQUET_ROWS || 100_000);
const REPEAT = Number(process.env.BENCH_PARQUET_REPEAT || 3);
const only = process.env.BENCH_PARQUET_WRITERS ? process.env.BENCH_PARQUET_WRITERS.split(',') : undefined;
const COLUMNS = Object.entries(shared.RECORD_COLUMNS);

/** The records: synthetic scores and predictions; every 10th has an overlay, every 7th no label. */
function makeRecords(n) {
  const rand = seedrandom('bench-parquet');
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = syntheticRecord(i, rand, { labels: i % 7 !== 0, threshold: 0.3 });
    if (i % 10 === 0 && r.status === 'ok') r.overlay = `overlays/${r.key}.png`;
    if (i % 13 === 0) r.scores.mc_dropout = rand();
    out.push(r);
  }
  return out;
}

/** The columns of a set of rows: name -> array with null where the row has undefined. */
function toColumns(records) {
  const cols = Object.fromEntries(COLUMNS.map(([name]) => [name, new Array(records.length)]));
  records.forEach((r, i) => {
    const row = shared.flattenRecord(r);
    for (const [name] of COLUMNS) cols[name][i] = row[name] ?? null;
  });
  return cols;
}

const writers = {
  async parquetjs(records, file) {
    const parquet = require('@dsnp/parquetjs');
    const schema = new parquet.ParquetSchema(
      Object.fromEntries(COLUMNS.map(([name, type]) => [name, { type, optional: !shared.REQUIRED_COLUMNS.has(name) }])),
    );
    const w = await parquet.ParquetWriter.openFile(schema, file);
    for await (const r of records) await w.appendRow(shared.flattenRecord(r));
    await w.close();
  },

  async 'hyparquet-writer'(records, file) {
    const { parquetWriteFile } = await import('hyparquet-writer');
    const cols = toColumns(records);
    const basic = { UTF8: 'STRING', INT32: 'INT32', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN' };
    parquetWriteFile({
      filename: file,
      columnData: COLUMNS.map(([name, type]) => ({
        name,
        data: cols[name],
        type: basic[type],
        nullable: !shared.REQUIRED_COLUMNS.has(name),
      })),
    });
  },

  async 'parquet-wasm+arrow'(records, file) {
    const arrow = require('apache-arrow');
    const pw = require('parquet-wasm');
    const cols = toColumns(records);
    const types = {
      UTF8: () => new arrow.Utf8(),
      INT32: () => new arrow.Int32(),
      DOUBLE: () => new arrow.Float64(),
      BOOLEAN: () => new arrow.Bool(),
    };
    const fields = COLUMNS.map(
      ([name, type]) => new arrow.Field(name, types[type](), !shared.REQUIRED_COLUMNS.has(name)),
    );
    const vectors = Object.fromEntries(fields.map((f) => [f.name, arrow.vectorFromArray(cols[f.name], f.type)]));
    const table = new arrow.Table(new arrow.Schema(fields), vectors);
    const props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression.SNAPPY).build();
    const bytes = pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), props);
    fs.writeFileSync(file, bytes);
  },

  async duckdb(records, file) {
    const duck = require('@duckdb/node-api');
    const sqlType = { UTF8: 'VARCHAR', INT32: 'INTEGER', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN' };
    const inst = await duck.DuckDBInstance.create(':memory:');
    const c = await inst.connect();
    try {
      await c.run(
        `CREATE TABLE r (${COLUMNS.map(([n, t]) => `"${n}" ${sqlType[t]}${shared.REQUIRED_COLUMNS.has(n) ? ' NOT NULL' : ''}`).join(', ')})`,
      );
      const app = await c.createAppender('r');
      for (const r of records) {
        const row = shared.flattenRecord(r);
        for (const [n, t] of COLUMNS) {
          const v = row[n];
          if (v === undefined) app.appendNull();
          else if (t === 'UTF8') app.appendVarchar(v);
          else if (t === 'INT32') app.appendInteger(v);
          else if (t === 'DOUBLE') app.appendDouble(v);
          else app.appendBoolean(v);
        }
        app.endRow();
      }
      app.closeSync();
      await c.run(`COPY r TO '${file.replace(/'/g, "''")}' (FORMAT parquet, COMPRESSION snappy)`);
    } finally {
      c.closeSync();
      inst.closeSync?.();
    }
  },

  /** The project's writer (records-parquet.ts), whatever library it uses. */
  async writeRecordsParquet(records, file) {
    async function* it() {
      yield* records;
    }
    await shared.writeRecordsParquet(file, it());
  },
};

function available(name) {
  const need =
    {
      parquetjs: ['@dsnp/parquetjs'],
      'hyparquet-writer': ['hyparquet-writer'],
      'parquet-wasm+arrow': ['parquet-wasm', 'apache-arrow'],
      duckdb: ['@duckdb/node-api'],
    }[name] ?? [];
  for (const m of need) {
    try {
      require.resolve(m);
    } catch {
      return `${m} is not installed`;
    }
  }
  return undefined;
}

/** Reads the file with hyparquet and compares every row and column with the input. */
async function checkRoundTrip(file, records) {
  const { asyncBufferFromFile, parquetReadObjects, parquetMetadataAsync, parquetSchema } = await import('hyparquet');
  const buf = await asyncBufferFromFile(file);
  const meta = await parquetMetadataAsync(buf);
  const phys = Object.fromEntries(
    parquetSchema(meta).children.map((c) => [
      c.element.name,
      c.element.type +
        (c.element.converted_type === 'UTF8' || c.element.logical_type?.type === 'STRING' ? '/UTF8' : '') +
        (c.element.repetition_type === 'REQUIRED' ? ' required' : ''),
    ]),
  );
  const want = { UTF8: 'BYTE_ARRAY/UTF8', INT32: 'INT32', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN' };
  let schemaWhy;
  for (const [n, t] of COLUMNS) {
    const exp = want[t] + (shared.REQUIRED_COLUMNS.has(n) ? ' required' : '');
    if (phys[n] !== exp) {
      schemaWhy = `column ${n} is ${phys[n]}, expected ${exp}`;
      break;
    }
  }
  // The values are compared even where the schema differs, to tell the two failures apart.
  const rows = await parquetReadObjects({ file: buf });
  let valuesWhy = rows.length !== records.length ? `${rows.length} rows for ${records.length} records` : undefined;
  for (let i = 0; i < rows.length && !valuesWhy; i++) {
    const exp = shared.flattenRecord(records[i]);
    for (const [n] of COLUMNS) {
      let got = rows[i][n];
      if (typeof got === 'bigint') got = Number(got);
      const e = exp[n] ?? null;
      if (!(got === e || (got === undefined && e === null))) {
        valuesWhy = `row ${i} column ${n}: ${JSON.stringify(got)} != ${JSON.stringify(e)}`;
        break;
      }
    }
  }
  if (schemaWhy || valuesWhy)
    return { ok: false, why: [schemaWhy, valuesWhy ?? 'every value equal'].filter(Boolean).join('; ') };
  return { ok: true, rowGroups: meta.row_groups.length };
}

/** Part files of 1,000 records and a run.json, as a run leaves them before its finalize. */
async function writeRun(dir, records) {
  const results = shared.RunResults.open(dir);
  const per = 1000;
  await results.writeRun({
    run_id: 'bench-parquet',
    instance: 'benchpq1',
    dataset: 's3://bench/images/',
    results: results.uri,
    model: { uri: 'reference', hash: '0'.repeat(64) },
    classes: CLASSES,
    params: { batchSize: per, labels: 'folder', overlays: 'none', threshold: 0.3, shardParts: 1_000_000 },
    tool_version: 'bench',
    created: new Date().toISOString(),
    batches: Math.ceil(records.length / per),
    images: records.length,
    skipped_keys: 0,
  });
  for (let b = 0; b * per < records.length; b++) await results.writePart(b, records.slice(b * per, (b + 1) * per));
  return results;
}
const CLASSES = [...require('@overmap/reference').CLASS_NAMES];

/** The parts' records, parsed, through a summary (what every compaction does besides writing). */
async function* partRecords(results, batches, summary) {
  for (let b = 0; b < batches; b++)
    for (const r of await results.readPart(b)) {
      summary.add(r);
      yield r;
    }
}

async function benchCompaction(tmp, records) {
  const { finalizeRun } = require('@overmap/worker');
  const batches = Math.ceil(records.length / 1000);
  const stages = {
    async 'parse+summary only'(dir) {
      const results = shared.RunResults.open(dir);
      for await (const _ of partRecords(results, batches, new shared.RunSummary(CLASSES)));
    },
    async 'parquetjs, as before #14 (temporary file, read back, put)'(dir) {
      const results = shared.RunResults.open(dir);
      const file = path.join(tmp, 'compaction-tmp.parquet');
      await writers.parquetjs(partRecords(results, batches, new shared.RunSummary(CLASSES)), file);
      await results.putParquet(fs.readFileSync(file));
      fs.rmSync(file);
    },
    async 'finalizeRun now (streamed)'(dir) {
      fs.rmSync(path.join(dir, 'manifest.json'), { force: true });
      const r = await finalizeRun({ data: { runId: 'bench-parquet', instance: 'benchpq1', results: dir } }, 'bench');
      if (r.total !== records.length) throw new Error(`finalize wrote ${r.total} rows, not ${records.length}`);
    },
  };
  const dir = path.join(tmp, 'run');
  await writeRun(dir, records);
  const out = {};
  for (const [name, fn] of Object.entries(stages)) {
    const times = [];
    for (let k = 0; k < REPEAT; k++) {
      global.gc?.();
      const t = performance.now();
      await fn(dir);
      times.push((performance.now() - t) / 1000);
    }
    times.sort((a, b) => a - b);
    out[name] = {
      rowsPerSecondBest: Math.round(records.length / times[0]),
      rowsPerSecondMedian: Math.round(records.length / times[Math.floor(times.length / 2)]),
      seconds: times.map((x) => Number(x.toFixed(3))),
    };
    process.stderr.write(`compaction, ${name}: ${JSON.stringify(out[name])}\n`);
  }
  const rt = await checkRoundTrip(path.join(dir, 'records.parquet'), records);
  out['finalizeRun now (streamed)'].roundTrip = rt.ok;
  if (!rt.ok) out['finalizeRun now (streamed)'].why = rt.why;
  return out;
}

(async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'overmap-bench-parquet-'));
  const records = makeRecords(N);
  const out = {
    rows: N,
    repeat: REPEAT,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
    writers: {},
  };
  try {
    for (const [name, write] of Object.entries(writers)) {
      if (only && !only.includes(name)) continue;
      const missing = available(name);
      if (missing) {
        out.writers[name] = { skipped: missing };
        continue;
      }
      const times = [];
      const file = path.join(tmp, `${name.replace(/[^a-z0-9-]/gi, '_')}.parquet`);
      let error;
      for (let k = 0; k < REPEAT; k++) {
        fs.rmSync(file, { force: true });
        global.gc?.();
        const t = performance.now();
        try {
          await write(records, file);
        } catch (e) {
          error = String(e?.stack ?? e)
            .split('\n')
            .slice(0, 3)
            .join(' | ');
          break;
        }
        times.push((performance.now() - t) / 1000);
      }
      if (error) {
        out.writers[name] = { error };
        continue;
      }
      times.sort((a, b) => a - b);
      const rt = await checkRoundTrip(file, records);
      out.writers[name] = {
        rowsPerSecondBest: Math.round(N / times[0]),
        rowsPerSecondMedian: Math.round(N / times[Math.floor(times.length / 2)]),
        seconds: times.map((s) => Number(s.toFixed(3))),
        bytes: fs.statSync(file).size,
        roundTrip: rt.ok,
        ...(rt.ok ? { rowGroups: rt.rowGroups } : { why: rt.why }),
      };
      process.stderr.write(`${name}: ${JSON.stringify(out.writers[name])}\n`);
    }
    const base = out.writers.parquetjs?.rowsPerSecondMedian;
    if (base)
      for (const w of Object.values(out.writers))
        if (w.rowsPerSecondMedian) w.speedupVsParquetjs = Number((w.rowsPerSecondMedian / base).toFixed(1));
    if (process.env.BENCH_PARQUET_COMPACTION !== '0') out.compaction = await benchCompaction(tmp, records);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
