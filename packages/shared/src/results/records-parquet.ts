/** records.parquet: every record flattened (record-columns.ts), one row per image. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
import parquet = require('@dsnp/parquetjs');
import type { ImageRecord } from '../schemas';
import { RECORD_COLUMNS, REQUIRED_COLUMNS, flattenRecord } from './record-columns';

export const PARQUET_SCHEMA = new parquet.ParquetSchema(Object.fromEntries(
  Object.entries(RECORD_COLUMNS).map(([name, type]) => [name, { type, optional: !REQUIRED_COLUMNS.has(name) }]),
));

/** Writes records to a local Parquet file, one row group at a time (the writer's own buffering). */
export async function writeRecordsParquet(file: string, records: AsyncIterable<ImageRecord>): Promise<number> {
  const writer = await parquet.ParquetWriter.openFile(PARQUET_SCHEMA, file);
  let n = 0;
  try {
    for await (const r of records) {
      await writer.appendRow(flattenRecord(r));
      n++;
    }
  } finally {
    await writer.close();
  }
  return n;
}
