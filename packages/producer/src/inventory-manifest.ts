/**
 * An S3 Inventory's manifest.json, read and checked before anything is enqueued: its format
 * (CSV or Parquet; ORC refused), its schema, the dataset prefix within its source bucket, and
 * every data file present where the manifest's keys resolve.
 */
import * as path from 'node:path';
import pLimit from 'p-limit';
import { z } from 'zod';
import { InputError, type ObjectStore, canonicalUri, openObject, openStore, parseUri } from '@overmap/shared';

const ManifestSchema = z.object({
  sourceBucket: z.string().min(3),
  fileFormat: z.string(),
  fileSchema: z.string(),
  files: z
    .array(z.object({ key: z.string().min(1), size: z.number().optional(), MD5checksum: z.string().optional() }))
    .min(1),
});
type Manifest = z.infer<typeof ManifestSchema>;

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

export const missingFile = (where: string, manifest: string) =>
  `inventory data file ${where} (listed in ${manifest}) is missing: give the manifest.json of a complete inventory (a newer one), or restore the file`;

const exists = (store: ObjectStore, key: string) => store.exists(key).catch(() => false);

const HINT =
  'give the URI of an S3 Inventory manifest.json (s3://<destination-bucket>/<prefix>/<source-bucket>/<config-id>/<date>/manifest.json)';

/** manifest.json, parsed against the schema. */
async function parseManifest(uri: string): Promise<Manifest> {
  const { store: dir, key: name } = openObject(uri, '--inventory');
  const raw = await dir.getIfExists(name).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EISDIR') return undefined;
    throw e;
  });
  if (!raw) throw new InputError(`--inventory ${uri} not found: ${HINT}`);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new InputError(`--inventory ${uri} is not JSON: ${HINT}`);
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new InputError(
      `--inventory ${uri} is not an S3 Inventory manifest (${i.path.join('.') || 'manifest'}: ${i.message}): ${HINT}`,
    );
  }
  return parsed.data;
}

/** The data files' format, and their columns (a CSV inventory must list keys). */
function formatOf(uri: string, m: Manifest): { format: Inventory['format']; columns: string[] } {
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
  return { format: fmt === 'CSV' ? 'CSV' : 'Parquet', columns };
}

/** The prefix of the source bucket that `dataset`, where given, names ('' for the whole bucket). */
function prefixOf(dataset: string | undefined, sourceBucket: string): string {
  if (dataset === undefined) return '';
  const d = parseUri(dataset, 'dataset URI');
  if (d.kind !== 's3' || d.bucket !== sourceBucket) {
    throw new InputError(
      `dataset ${dataset} is not in the inventory's source bucket ${sourceBucket}: give s3://${sourceBucket}/<prefix>/ or leave the dataset out (the whole bucket)`,
    );
  }
  return d.prefix;
}

/**
 * Where the data files' keys resolve: keys of the destination bucket, the manifest's own
 * bucket, or, for a local copy of it, the nearest folder above the manifest that holds the
 * first one.
 */
async function dataFileStore(uri: string, first: string): Promise<ObjectStore> {
  const loc = parseUri(uri, '--inventory');
  if (loc.kind === 's3') return openStore(`s3://${loc.bucket}/`);
  for (let d = path.dirname(loc.root); ; d = path.dirname(d)) {
    if (await exists(openStore(d), first)) return openStore(d);
    if (path.dirname(d) === d) break;
  }
  throw new InputError(
    `inventory data file ${first} (listed in ${uri}) is missing: copy the inventory's data files beside it, keeping their keys, or give the manifest's s3:// URI`,
  );
}

/**
 * Reads and checks the manifest. `dataset`, where given, must lie in the source bucket
 * (s3://<sourceBucket>/<prefix>/): the run then covers the keys under that prefix only.
 */
export async function readInventory(uri: string, dataset?: string): Promise<Inventory> {
  const m = await parseManifest(uri);
  const { format, columns } = formatOf(uri, m);
  const prefix = prefixOf(dataset, m.sourceBucket);
  const store = await dataFileStore(uri, m.files[0]!.key);
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
    format,
    columns,
    files: m.files.map((f) => ({ key: f.key, size: f.size, md5: f.MD5checksum })),
    store,
  };
}
