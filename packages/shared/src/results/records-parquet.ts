/**
 * records.parquet: every record flattened (record-columns.ts), one row per image, written
 * column by column with hyparquet-writer (pure JS, the companion of the hyparquet reader;
 * ~3x the rows/s of the row-by-row @dsnp/parquetjs it replaced: npm run bench:parquet).
 *
 * The file is produced as a stream of byte chunks, one row group at a time: one row group's
 * columns and encoded bytes are in memory, whatever the shard's size, and the
 * consumer (a file, or a multipart S3 upload) pulls the next row group only when it has
 * taken the last. Columns and types are the ones parquetjs wrote: UTF8 strings
 * (BYTE_ARRAY/UTF8), INT32, DOUBLE, BOOLEAN; key and status required, the rest optional.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ColumnSource, SchemaElement } from 'hyparquet-writer' with { 'resolution-mode': 'import' };
import type { ImageRecord } from '../schemas';
import { COLUMN_GETTERS, type ColumnType, type ColumnValue, RECORD_COLUMNS, REQUIRED_COLUMNS } from './record-columns';

// hyparquet-writer is an ES module: Node >= 20.19 loads it with require() (the engines field);
// jest transforms it (test/helpers/esm-to-cjs.js).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hw = require('hyparquet-writer') as typeof import('hyparquet-writer', { with: { 'resolution-mode': 'import' } });

const BASIC_TYPE = { UTF8: 'STRING', INT32: 'INT32', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN' } as const satisfies Record<ColumnType, string>;
const NAMES = Object.keys(RECORD_COLUMNS);

/** The Parquet schema of the records (root + one element per column). */
export const PARQUET_SCHEMA: SchemaElement[] = hw.schemaFromColumnData({
  columnData: NAMES.map((name) => ({
    name, data: [], type: BASIC_TYPE[RECORD_COLUMNS[name]!], nullable: !REQUIRED_COLUMNS.has(name),
  })),
});

export interface RecordsParquetOptions {
  /**
   * rows per row group (default 8,192): the most rows whose columns are held at once. The
   * encoder's transient memory grows with it: compacting 256,000 records peaked at ~270 MiB
   * RSS with 8,192 (~480 MiB with 65,536; parquetjs, 4,096-row groups and the whole file read
   * back, ~340 MiB), at the same speed and file size.
   */
  rowGroupRows?: number;
  /** called once at the end with the number of rows written */
  onRows?: (n: number) => void;
}

/**
 * The Parquet file of `records`, as chunks of bytes (one per row group, then the footer).
 * An error from `records` ends the stream with that error: no complete file is produced.
 */
export async function* recordsParquetChunks(
  records: AsyncIterable<ImageRecord>,
  o: RecordsParquetOptions = {},
): AsyncGenerator<Buffer> {
  const groupRows = o.rowGroupRows ?? 8192;
  if (!(Number.isInteger(groupRows) && groupRows > 0)) throw new Error(`rowGroupRows must be a positive integer, not ${groupRows}`);
  const bytes = new hw.ByteWriter(1 << 20);
  const writer = new hw.ParquetWriter({ writer: bytes, schema: PARQUET_SCHEMA, codec: 'SNAPPY', createdBy: 'overmap (hyparquet-writer)' });
  /** The bytes written since the last take, copied out (the writer reuses its buffer). */
  const take = (): Buffer => {
    const out = Buffer.from(bytes.getBytes());
    bytes.index = 0;
    return out;
  };
  const columns: (ColumnValue | null)[][] = NAMES.map(() => []);
  let rows = 0, total = 0;
  const flushGroup = (): Buffer => {
    const columnData: ColumnSource[] = NAMES.map((name, j) => ({
      name,
      data: columns[j]!.slice(0, rows),
      type: BASIC_TYPE[RECORD_COLUMNS[name]!],
      nullable: !REQUIRED_COLUMNS.has(name),
    }));
    // No flush() on the writer: write() is synchronous, one row group per call.
    void writer.write({ columnData, rowGroupSize: rows });
    total += rows;
    rows = 0;
    return take();
  };
  for await (const r of records) {
    for (let j = 0; j < COLUMN_GETTERS.length; j++) columns[j]![rows] = COLUMN_GETTERS[j]!(r) ?? null;
    if (++rows === groupRows) yield flushGroup();
  }
  if (rows > 0) yield flushGroup();
  void writer.finish();
  yield take();
  o.onRows?.(total);
}

/** The Parquet file of `records` as a readable stream (for ObjectStore.put): pulled one row group at a time. */
export function recordsParquetStream(records: AsyncIterable<ImageRecord>, o: RecordsParquetOptions = {}): Readable {
  return Readable.from(recordsParquetChunks(records, o), { objectMode: false });
}

/** Writes records to a local Parquet file; returns the number of rows. */
export async function writeRecordsParquet(
  file: string,
  records: AsyncIterable<ImageRecord>,
  o: RecordsParquetOptions = {},
): Promise<number> {
  let n = 0;
  const onRows = (k: number) => { n = k; o.onRows?.(k); };
  await pipeline(recordsParquetStream(records, { ...o, onRows }), createWriteStream(file));
  return n;
}
