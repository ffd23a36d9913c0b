/**
 * `--inventory <manifest.json URI>`: the keys of a bucket from an S3 Inventory report instead
 * of ListObjectsV2, which takes thousands of sequential pages per prefix at a hundred million
 * keys. The manifest names the source bucket, the data files' format and schema, and the data
 * files (keys in the inventory's destination bucket, with their MD5). CSV (gzipped, keys
 * URL-encoded) and Parquet (@dsnp/parquetjs) are read; ORC is refused. Data files are downloaded a
 * few at a time, parsed as streams, and their keys handed on in manifest order, so the resume token (the number of rows consumed) is
 * stable across reruns of the same manifest. Keys are untrusted: enqueue keeps only image keys
 * that pass isSafeKey, as for a listing.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import parquet = require('@dsnp/parquetjs');
import { parse as parseCsv } from 'csv-parse';
import pLimit from 'p-limit';
import { z } from 'zod';
import { InputError, type ObjectStore, canonicalUri, openObject, openStore, parseUri } from '@overmap/shared';

/** Data files downloaded at once by default: each one's bytes wait in memory until their turn (rows are parsed as a stream). */
export const INVENTORY_CONCURRENCY = 4;

const ManifestSchema = z.object({
  sourceBucket: z.string().min(3),
  fileFormat: z.string(),
  fileSchema: z.string(),
  files: z
    .array(z.object({ key: z.string().min(1), size: z.number().optional(), MD5checksum: z.string().optional() }))
    .min(1),
});

export interface InventoryFile {
  key: string;
  size?: number;
  md5?: string;
}

export interface Inventory {
  /** the manifest's URI, as given */
  uri: string;
  sourceBucket: string;
  /** the run's dataset: s3://<sourceBucket>/<prefix>/ (canonical) */
  dataset: string;
  /** only keys under this prefix of the source bucket are kept, made relative to it */
  prefix: string;
  format: 'CSV' | 'Parquet';
  /** CSV: the column names of fileSchema, in order */
  columns: string[];
  /** where the data files' keys resolve (the destination bucket, or its local copy) */
  files: InventoryFile[];
  store: ObjectStore;
}

const missingFile = (where: string, manifest: string) =>
  `inventory data file ${where} (listed in ${manifest}) is missing: give the manifest.json of a complete inventory (a newer one), or restore the file`;

const exists = (store: ObjectStore, key: string) => store.exists(key).catch(() => false);

/**
 * Reads and checks the manifest. `dataset`, where given, must lie in the source bucket
 * (s3://<sourceBucket>/<prefix>/): the run then covers the keys under that prefix only.
 */
export async function readInventory(uri: string, dataset?: string): Promise<Inventory> {
  const { store: dir, key: name } = openObject(uri, '--inventory');
  const raw = await dir.getIfExists(name).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EISDIR') return undefined;
    throw e;
  });
  const hint =
    'give the URI of an S3 Inventory manifest.json (s3://<destination-bucket>/<prefix>/<source-bucket>/<config-id>/<date>/manifest.json)';
  if (!raw) throw new InputError(`--inventory ${uri} not found: ${hint}`);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new InputError(`--inventory ${uri} is not JSON: ${hint}`);
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new InputError(
      `--inventory ${uri} is not an S3 Inventory manifest (${i.path.join('.') || 'manifest'}: ${i.message}): ${hint}`,
    );
  }
  const m = parsed.data;
  const fmt = m.fileFormat.toUpperCase();
  if (fmt === 'ORC') {
    throw new InputError(
      `--inventory ${uri} is an ORC inventory, which overmap does not read: set the inventory configuration's output format to CSV or Parquet and give its next manifest.json`,
    );
  }
  if (fmt !== 'CSV' && fmt !== 'PARQUET')
    throw new InputError(
      `--inventory ${uri} has fileFormat ${JSON.stringify(m.fileFormat)}: overmap reads CSV and Parquet inventories; give one of those`,
    );
  const columns = m.fileSchema.split(',').map((c) => c.trim());
  if (fmt === 'CSV' && !columns.some((c) => c.toLowerCase() === 'key')) {
    throw new InputError(
      `--inventory ${uri}: its fileSchema ${JSON.stringify(m.fileSchema)} has no Key column: give the manifest of an inventory that lists keys`,
    );
  }

  let prefix = '';
  if (dataset !== undefined) {
    const d = parseUri(dataset, 'dataset URI');
    if (d.kind !== 's3' || d.bucket !== m.sourceBucket) {
      throw new InputError(
        `dataset ${dataset} is not in the inventory's source bucket ${m.sourceBucket}: give s3://${m.sourceBucket}/<prefix>/ or leave the dataset out (the whole bucket)`,
      );
    }
    prefix = d.prefix;
  }

  // The data files' keys are keys of the destination bucket: the manifest's own bucket, or,
  // for a local copy of it, the nearest folder above the manifest that holds the first one.
  const loc = parseUri(uri, '--inventory');
  let store: ObjectStore;
  const first = m.files[0]!.key;
  if (loc.kind === 's3') {
    store = openStore(`s3://${loc.bucket}/`);
  } else {
    let root: string | undefined;
    for (let d = path.dirname(loc.root); ; d = path.dirname(d)) {
      if (await exists(openStore(d), first)) {
        root = d;
        break;
      }
      if (path.dirname(d) === d) break;
    }
    if (!root)
      throw new InputError(
        `inventory data file ${first} (listed in ${uri}) is missing: copy the inventory's data files beside it, keeping their keys, or give the manifest's s3:// URI`,
      );
    store = openStore(root);
  }
  // Every data file, before anything is written: a partial inventory would enqueue part of the bucket.
  const present = pLimit(16);
  const missing = (
    await Promise.all(m.files.map((f) => present(async () => ((await exists(store, f.key)) ? null : f.key))))
  ).find((k) => k !== null);
  if (missing) throw new InputError(missingFile(`${store.uri}${missing}`, uri));
  return {
    uri,
    sourceBucket: m.sourceBucket,
    dataset: canonicalUri(`s3://${m.sourceBucket}/${prefix}`),
    prefix,
    format: fmt === 'CSV' ? 'CSV' : 'Parquet',
    columns,
    files: m.files.map((f) => ({ key: f.key, size: f.size, md5: f.MD5checksum })),
    store,
  };
}

interface Row {
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

/** A data file's bytes, checked against the manifest's MD5 (the download; parsing is rowsOf). */
async function fetchDataFile(inv: Inventory, f: InventoryFile): Promise<{ body: Buffer; where: string }> {
  const where = `${inv.store.uri}${f.key}`;
  const body = await inv.store.getIfExists(f.key);
  if (!body) throw new InputError(missingFile(where, inv.uri));
  if (f.md5 && createHash('md5').update(body).digest('hex') !== f.md5.toLowerCase()) {
    throw new InputError(
      `inventory data file ${where} does not match its MD5checksum in ${inv.uri}: it is corrupt or was replaced; give the manifest.json that lists it as it is`,
    );
  }
  return { body, where };
}

const rowsOf = (inv: Inventory, d: { body: Buffer; where: string }): AsyncGenerator<Row> =>
  inv.format === 'Parquet' ? parquetRows(d.body, d.where) : csvRows(d.body, inv.columns, d.where);

export interface InventoryKey {
  /** relative to the dataset prefix */
  key: string;
  /** resume token: rows of the inventory consumed up to and including this one */
  after: string;
  /** a key whose URL encoding is malformed: not to be read */
  unsafe?: boolean;
}

/**
 * The inventory's current objects under the dataset prefix, in manifest order, data files read
 * `concurrency` at a time. Rows of other buckets, older versions and delete markers are left
 * out. `resumeAfter` (a token from an earlier pass over the same manifest) skips the rows
 * already consumed.
 */
export async function* inventoryKeys(
  inv: Inventory,
  o: { resumeAfter?: string; concurrency?: number } = {},
): AsyncGenerator<InventoryKey> {
  const skip = o.resumeAfter === undefined ? 0 : Number(o.resumeAfter);
  if (!Number.isInteger(skip) || skip < 0)
    throw new InputError(
      `the saved cursor ${JSON.stringify(o.resumeAfter)} is not an inventory position: this run was started from a listing; rerun without --inventory, or use another --out`,
    );
  const width = Math.max(1, o.concurrency ?? INVENTORY_CONCURRENCY);
  // A window of data files downloading, consumed in manifest order: at most `width` files'
  // bytes (compressed) in memory, the one being parsed included; each is parsed as a stream.
  const window: Promise<{ body: Buffer; where: string }>[] = [];
  let next = 0;
  const fill = () => {
    while (next < inv.files.length && window.length < width) {
      const p = fetchDataFile(inv, inv.files[next++]!);
      p.catch(() => undefined); // awaited in turn below; a read failing early must not be an unhandled rejection
      window.push(p);
    }
  };
  let row = 0;
  fill();
  while (window.length) {
    const file = await window.shift()!;
    for await (const r of rowsOf(inv, file)) {
      row++;
      if (row <= skip) continue;
      if (r.bucket !== undefined && r.bucket !== inv.sourceBucket) continue;
      if (r.latest === false || r.deleteMarker === true) continue;
      if (!r.key.startsWith(inv.prefix)) continue;
      yield { key: r.key.slice(inv.prefix.length), after: String(row), ...(r.badEncoding ? { unsafe: true } : {}) };
    }
    // The next download starts once this file's rows are consumed: `width` files' bytes at most.
    fill();
  }
}
