/**
 * The rows of an inventory data file, parsed as a stream: CSV (gzipped or not, no header,
 * columns as the manifest's fileSchema names them, keys URL-encoded) or Parquet
 * (@dsnp/parquetjs, one row group at a time).
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import parquet = require('@dsnp/parquetjs');
import { parse as parseCsv } from 'csv-parse';
import { InputError } from '@overmap/shared';
import type { Inventory } from './inventory-manifest';

export interface Row {
  key: string;
  bucket?: string;
  latest?: boolean;
  deleteMarker?: boolean;
  badEncoding?: boolean;
}

const truthy = (v: unknown) => v === true || (typeof v === 'string' && v.toLowerCase() === 'true');

/** A CSV row (no header, columns as fileSchema names them) to a Row; keys URL-encoded (a space may be '+'). */
function csvRow(r: string[], c: { k: number; b: number; l: number; d: number }): Row {
  const encoded = r[c.k] ?? '';
  let key: string,
    badEncoding = false;
  try {
    key = decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch {
    key = encoded;
    badEncoding = true;
  }
  return {
    key,
    bucket: c.b >= 0 ? r[c.b] : undefined,
    latest: c.l >= 0 ? truthy(r[c.l]) : undefined,
    deleteMarker: c.d >= 0 ? truthy(r[c.d]) : undefined,
    badEncoding,
  };
}

/** CSV rows, parsed as a stream from the (gunzipped) body: one row in memory at a time, not the file's. */
async function* csvRows(body: Buffer, columns: string[], where: string): AsyncGenerator<Row> {
  const at = (name: string) => columns.findIndex((c) => c.toLowerCase() === name.toLowerCase());
  const c = { k: at('Key'), b: at('Bucket'), l: at('IsLatest'), d: at('IsDeleteMarker') };
  const gz = body[0] === 0x1f && body[1] === 0x8b;
  const text = gz ? Readable.from([body]).pipe(createGunzip()) : Readable.from([body]);
  const parser = text.pipe(parseCsv({ relax_column_count: true, skip_empty_lines: true }));
  // A gunzip error is emitted on the gunzip stream, not the parser: carry it over.
  text.once('error', (e) => parser.destroy(e));
  try {
    for await (const r of parser as AsyncIterable<string[]>) yield csvRow(r, c);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? '';
    if (((e as NodeJS.ErrnoException).code ?? '').startsWith('Z_'))
      throw new InputError(
        `inventory data file ${where} is not valid gzip (${msg}): give a manifest whose files are intact`,
      );
    throw new InputError(
      `inventory data file ${where} is not valid CSV (${msg}): give a manifest whose files are intact`,
    );
  }
}

/** Parquet rows, one row group at a time (columns bucket, key, is_latest, is_delete_marker; keys not encoded). */
async function* parquetRows(body: Buffer, where: string): AsyncGenerator<Row> {
  let reader: Awaited<ReturnType<typeof parquet.ParquetReader.openBuffer>>;
  try {
    reader = await parquet.ParquetReader.openBuffer(body);
  } catch (e) {
    throw new InputError(
      `inventory data file ${where} is not Parquet (${(e as Error).message.split('\n')[0]}): the manifest says Parquet; give a manifest whose files match it`,
    );
  }
  try {
    const names = Object.keys(reader.getSchema().fields);
    if (!names.includes('key'))
      throw new InputError(
        `inventory data file ${where} has no key column: give the manifest of an inventory that lists keys`,
      );
    const columns = ['key', 'bucket', 'is_latest', 'is_delete_marker'].filter((c) => names.includes(c));
    const cursor = reader.getCursor(columns.map((c) => [c]));
    const opt = (v: unknown) => (v === undefined || v === null ? undefined : truthy(v));
    const next = async () => {
      try {
        return (await cursor.next()) as Record<string, unknown> | null;
      } catch (e) {
        throw new InputError(
          `inventory data file ${where} has a page that cannot be read (${(e as Error).message.split('\n')[0]}): give a manifest whose files are intact`,
        );
      }
    };
    for (let r = await next(); r; r = await next()) {
      yield {
        key: String(r.key ?? ''),
        bucket: r.bucket === undefined || r.bucket === null ? undefined : String(r.bucket),
        latest: opt(r.is_latest),
        deleteMarker: opt(r.is_delete_marker),
      };
    }
  } finally {
    await reader.close();
  }
}

/** The rows of a downloaded data file, in the manifest's format. */
export const rowsOf = (inv: Inventory, d: { body: Buffer; where: string }): AsyncGenerator<Row> =>
  inv.format === 'Parquet' ? parquetRows(d.body, d.where) : csvRows(d.body, inv.columns, d.where);
