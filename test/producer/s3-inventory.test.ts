/**
 * `--inventory`: the keys of a bucket from an S3 Inventory (CSV.gz and Parquet data files) on a
 * real S3 API server (s3rver) and from a local copy of the destination bucket, with real Redis:
 * exactly the inventory's image keys are enqueued (URL-encoded keys decoded, unsafe and
 * non-image keys skipped, old versions and delete markers left out); ORC and a missing data
 * file are refused in one line.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as parquet from '@dsnp/parquetjs';
import { Redis } from 'ioredis';
import { enqueueDataset } from '@overmap/producer';
import { RunResults, S3ObjectStore } from '@overmap/shared';
import { cliEnv, runCli } from '../helpers/fleet';
import { type S3Server, startS3, testRedis, tmpDir } from '../helpers/services';

const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
const model = {
  uri: 'file:///model.json',
  hash: 'h'.repeat(64),
  threshold: 0.3,
  classes: ['coat', 'bag', 'sneaker', 'trouser'],
};
const SOURCE = 'source-data';
/** The inventory's configuration folder in the destination bucket, as S3 lays it out. */
const BASE = `inv/${SOURCE}/daily`;

let dir: string, s3: S3Server, redis: Redis, dest: S3ObjectStore;
/** Every current object of the source bucket, as the inventory lists it. */
const IMAGES = [
  ...Array.from({ length: 26 }, (_, i) => `cats/img-${String(i).padStart(3, '0')}.jpg`),
  'cats/my cat.JPG', // a space: URL-encoded in CSV
  'dogs/a+b%c.png', // a literal '+' and '%': %2B and %25 in CSV
  'dogs/üñí.webp',
];
const OTHER = ['notes.txt', 'cats/'];
const UNSAFE = ['../escape.png'];

beforeAll(async () => {
  Object.assign(process.env, creds);
  dir = await tmpDir();
  s3 = await startS3([SOURCE, 'inventory']);
  process.env.S3_ENDPOINT = s3.endpoint;
  redis = new Redis((await testRedis()).url, { maxRetriesPerRequest: null });
  dest = new S3ObjectStore('inventory', '', { endpoint: s3.endpoint });
});
afterAll(async () => {
  redis.disconnect();
  await (await testRedis()).stop();
  await s3.stop();
  delete process.env.S3_ENDPOINT;
  await fs.rm(dir, { recursive: true, force: true });
});

/** S3 Inventory's CSV encoding of a key (form encoding: a space may be '+'). */
const csvKey = (k: string, plusForSpace: boolean) =>
  plusForSpace ? encodeURIComponent(k).replace(/%20/g, '+') : encodeURIComponent(k);
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

interface Row {
  key: string;
  latest?: boolean;
  deleteMarker?: boolean;
  bucket?: string;
}
/** All rows: the current objects, plus an old version and a delete marker that must be left out. */
const rows = (): Row[] => [
  ...[...IMAGES, ...OTHER, ...UNSAFE].map((key) => ({ key, latest: true, deleteMarker: false })),
  { key: 'cats/img-000.jpg', latest: false, deleteMarker: false },
  { key: 'gone/deleted.png', latest: true, deleteMarker: true },
];

/** Writes the data files and manifest.json under BASE in `put`'s store; returns the manifest key. */
async function writeInventory(
  put: (key: string, body: Buffer) => Promise<void>,
  format: 'CSV' | 'Parquet' | 'ORC',
  stamp: string,
  drop?: number,
): Promise<string> {
  const all = rows();
  const halves = [all.slice(0, 15), all.slice(15)];
  const files: { key: string; size: number; MD5checksum: string }[] = [];
  for (const [i, part] of halves.entries()) {
    let body: Buffer;
    let key: string;
    if (format === 'Parquet') {
      const file = path.join(dir, `${stamp}-${i}.parquet`);
      const schema = new parquet.ParquetSchema({
        bucket: { type: 'UTF8' },
        key: { type: 'UTF8', compression: 'GZIP' },
        size: { type: 'INT64' },
        is_latest: { type: 'BOOLEAN' },
        is_delete_marker: { type: 'BOOLEAN' },
      });
      const w = await parquet.ParquetWriter.openFile(schema, file);
      for (const r of part)
        await w.appendRow({
          bucket: SOURCE,
          key: r.key,
          size: 100,
          is_latest: r.latest!,
          is_delete_marker: r.deleteMarker!,
        });
      await w.close();
      body = await fs.readFile(file);
      key = `${BASE}/data/${stamp}-${i}.parquet`;
    } else {
      const csv =
        part
          .map(
            (r) =>
              `"${SOURCE}","${csvKey(r.key, i === 0)}","100","2026-11-01T00:00:00.000Z","${r.latest}","${r.deleteMarker}"`,
          )
          .join('\n') + '\n';
      body = gzipSync(csv);
      key = `${BASE}/data/${stamp}-${i}.csv.gz`;
    }
    if (i !== drop) await put(key, body);
    files.push({ key, size: body.length, MD5checksum: md5(body) });
  }
  const manifest = {
    sourceBucket: SOURCE,
    destinationBucket: 'arn:aws:s3:::inventory',
    version: '2016-11-30',
    creationTimestamp: '1764028800000',
    fileFormat: format,
    fileSchema:
      format === 'Parquet'
        ? 'message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; optional boolean is_latest; optional boolean is_delete_marker; }'
        : 'Bucket, Key, Size, LastModifiedDate, IsLatest, IsDeleteMarker',
    files,
  };
  const manifestKey = `${BASE}/${stamp}/manifest.json`;
  await put(manifestKey, Buffer.from(JSON.stringify(manifest)));
  return manifestKey;
}

const putS3 = (key: string, body: Buffer) => dest.put(key, body);

/** Every key of every listing chunk of the run at `out`, in batch order. */
async function chunkKeys(out: string): Promise<string[]> {
  const results = RunResults.open(out);
  const run = (await results.readRun())!;
  const keys: string[] = [];
  for (let b = 0; b < run.batches!; b++) keys.push(...(await results.readChunk(b)).keys);
  return keys;
}

type Extra = Partial<Parameters<typeof enqueueDataset>[0]>;
const enqueue = (o: { inventory: string; out: string; dataset?: string } & Extra) =>
  enqueueDataset({
    results: o.out,
    batchSize: 4,
    jobImages: 8,
    ungroupedBatches: 0,
    model,
    labels: null,
    toolVersion: 't',
    redis,
    prefix: `t${Date.now().toString(36)}inv`,
    inventoryConcurrency: 2,
    ...o,
  });

describe('enqueue --inventory', () => {
  it.each(['CSV', 'Parquet'] as const)(
    'an S3 %s inventory enqueues exactly its current image keys, decoded, from s3://<source bucket>/',
    async (format) => {
      const manifest = await writeInventory(putS3, format, `2026-11-25T00-00Z-${format}`);
      const out = path.join(dir, `out-${format}`);
      const r = await enqueue({ inventory: `s3://inventory/${manifest}`, out });
      expect(r.dataset).toBe(`s3://${SOURCE}/`);
      expect([r.images, r.skipped, r.batches, r.jobs]).toEqual([IMAGES.length, OTHER.length + UNSAFE.length, 8, 4]);
      expect(r.unsafeKeys).toEqual(UNSAFE);
      const keys = await chunkKeys(out);
      expect(keys).toHaveLength(IMAGES.length); // each once
      expect([...keys].sort()).toEqual([...IMAGES].sort());
      const run = (await RunResults.open(out).readRun())!;
      expect(run.dataset).toBe(`s3://${SOURCE}/`);
      expect(run.params.inventory).toBe(`s3://inventory/${manifest}`);
    },
  );

  it('a local copy of the destination bucket works the same, and a dataset prefix keeps only its keys, made relative', async () => {
    const local = path.join(dir, 'dest-copy');
    const manifest = await writeInventory(
      async (key, body) => {
        await fs.mkdir(path.dirname(path.join(local, key)), { recursive: true });
        await fs.writeFile(path.join(local, key), body);
      },
      'CSV',
      '2026-11-25T00-00Z-local',
    );
    const r = await enqueue({ inventory: path.join(local, manifest), out: path.join(dir, 'out-local') });
    expect([...(await chunkKeys(path.join(dir, 'out-local')))].sort()).toEqual([...IMAGES].sort());
    expect(r.dataset).toBe(`s3://${SOURCE}/`);

    const cats = await enqueue({
      inventory: path.join(local, manifest),
      out: path.join(dir, 'out-cats'),
      dataset: `s3://${SOURCE}/cats/`,
    });
    expect(cats.dataset).toBe(`s3://${SOURCE}/cats/`);
    expect([...(await chunkKeys(path.join(dir, 'out-cats')))].sort()).toEqual(
      IMAGES.filter((k) => k.startsWith('cats/'))
        .map((k) => k.slice(5))
        .sort(),
    );
  });

  it('an interrupted inventory enqueue resumes at its row position: every key in exactly one chunk', async () => {
    const manifest = await writeInventory(putS3, 'CSV', '2026-11-25T00-00Z-resume');
    const out = path.join(dir, 'out-resume');
    const common = {
      inventory: `s3://inventory/${manifest}`,
      out,
      prefix: `t${Date.now().toString(36)}res`,
      bulkSize: 1,
    };
    let flushes = 0;
    await expect(
      enqueue({
        ...common,
        onProgress: (p) => {
          if (!p.done && p.added > 0 && ++flushes === 2) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    expect((await RunResults.open(out).readRun())!.batches).toBeUndefined();
    const r = await enqueue(common);
    // two groups were added before the kill, two now
    expect([r.resumed, r.images, r.batches, r.added]).toEqual([true, IMAGES.length, 8, 2]);
    const keys = await chunkKeys(out);
    expect(keys).toHaveLength(IMAGES.length);
    expect([...keys].sort()).toEqual([...IMAGES].sort());
  });

  it('refuses a dataset outside the source bucket, a missing data file and an altered one, each in one line', async () => {
    const manifest = await writeInventory(putS3, 'CSV', '2026-11-25T00-00Z-bad', 1);
    const uri = `s3://inventory/${manifest}`;
    await expect(
      enqueue({ inventory: uri, out: path.join(dir, 'out-other'), dataset: 's3://elsewhere/x/' }),
    ).rejects.toThrow(
      /^dataset s3:\/\/elsewhere\/x\/ is not in the inventory's source bucket source-data: give s3:\/\/source-data\/<prefix>\/ or leave the dataset out \(the whole bucket\)$/,
    );
    await expect(enqueue({ inventory: uri, out: path.join(dir, 'out-missing') })).rejects.toThrow(
      /^inventory data file s3:\/\/inventory\/inv\/source-data\/daily\/data\/2026-11-25T00-00Z-bad-1\.csv\.gz \(listed in .*manifest\.json\) is missing: give the manifest\.json of a complete inventory \(a newer one\), or restore the file$/,
    );
    await dest.put(`${BASE}/data/2026-11-25T00-00Z-bad-1.csv.gz`, gzipSync('"source-data","cats%2Fextra.png"\n')); // not the file the manifest lists
    await expect(enqueue({ inventory: uri, out: path.join(dir, 'out-missing') })).rejects.toThrow(
      /does not match its MD5checksum/,
    );
  });

  it('a data file that is truncated gzip (its MD5 matching) is a one-line error, read as a stream like any other', async () => {
    const csv =
      IMAGES.map((k) => `"${SOURCE}","${encodeURIComponent(k)}","100","2026-11-01T00:00:00.000Z","true","false"`).join(
        '\n',
      ) + '\n';
    const whole = gzipSync(csv);
    const cut = whole.subarray(0, Math.floor(whole.length / 2));
    const key = `${BASE}/data/2026-11-25T00-00Z-cut-0.csv.gz`;
    await dest.put(key, cut);
    const manifestKey = `${BASE}/2026-11-25T00-00Z-cut/manifest.json`;
    await dest.put(
      manifestKey,
      Buffer.from(
        JSON.stringify({
          sourceBucket: SOURCE,
          fileFormat: 'CSV',
          fileSchema: 'Bucket, Key, Size, LastModifiedDate, IsLatest, IsDeleteMarker',
          files: [{ key, size: cut.length, MD5checksum: md5(cut) }],
        }),
      ),
    );
    await expect(
      enqueue({ inventory: `s3://inventory/${manifestKey}`, out: path.join(dir, 'out-cut') }),
    ).rejects.toThrow(
      /^inventory data file s3:\/\/inventory\/.*-cut-0\.csv\.gz is not valid gzip \(.*\): give a manifest whose files are intact$/,
    );
  });

  it('overmap enqueue --inventory of an ORC inventory exits 2 with one line naming the fix, before anything is written', async () => {
    const manifest = await writeInventory(putS3, 'ORC', '2026-11-25T00-00Z-orc');
    const out = path.join(dir, 'out-orc');
    const r = await runCli(
      ['enqueue', '--inventory', `s3://inventory/${manifest}`, '--out', out],
      cliEnv((await testRedis()).url, `t${Date.now().toString(36)}orc`, { ...creds, S3_ENDPOINT: s3.endpoint }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `overmap: --inventory s3://inventory/${manifest} is an ORC inventory, which overmap does not read: set the inventory configuration's output format to CSV or Parquet and give its next manifest.json`,
    ]);
    await expect(fs.access(out)).rejects.toThrow();
  });
});
