/**
 * `--inventory <manifest.json URI>`: the keys of a bucket from an S3 Inventory report instead
 * of ListObjectsV2, which takes thousands of sequential pages per prefix at a hundred million
 * keys. The manifest names the source bucket, the data files' format and schema, and the data
 * files (keys in the inventory's destination bucket, with their MD5). CSV (gzipped, keys
 * URL-encoded) and Parquet (@dsnp/parquetjs) are read; ORC is refused. Data files are
 * downloaded a few at a time, parsed as streams, and their keys handed on in manifest order, so
 * the resume token (the number of rows consumed) is stable across reruns of the same manifest.
 * Keys are untrusted: enqueue keeps only image keys that pass isSafeKey, as for a listing.
 * The manifest is read by inventory-manifest.ts, the data files' rows by inventory-rows.ts.
 */
import { createHash } from 'node:crypto';
import { InputError } from '@overmap/shared';
import { type Inventory, type InventoryFile, missingFile } from './inventory-manifest';
import { rowsOf } from './inventory-rows';

export { type Inventory, type InventoryFile, readInventory } from './inventory-manifest';

/** Data files downloaded at once by default: each one's bytes wait in memory until their turn (rows are streamed). */
export const INVENTORY_CONCURRENCY = 4;

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
