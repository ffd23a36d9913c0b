/**
 * The fleet over S3: dataset and results on a real S3 API server (s3rver, its own process),
 * read and written through the AWS SDK by the producer and the worker processes.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { type ImageRecord, RecordSchema, S3ObjectStore, listAll } from '@overmap/shared';
import { makeDevModel } from '../helpers/models';
import { cliEnv, expectOneRecordPerKey, makeBadImages, makeImages, runCli } from '../helpers/fleet';
import { type S3Server, startS3, testRedis, tmpDir } from '../helpers/services';

let dir: string, s3: S3Server;
beforeAll(async () => {
  dir = await tmpDir();
  s3 = await startS3(['datasets', 'results', 'inventories']);
});
afterAll(async () => {
  await (await testRedis()).stop();
  await s3.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

it('overmap run reads s3://datasets/... and writes parts, Parquet and the manifest to s3://results/...', async () => {
  const creds = {
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    S3_ENDPOINT: s3.endpoint,
  };
  Object.assign(process.env, creds);
  const local = path.join(dir, 'data');
  const keys = [...(await makeImages(local, 20)), ...Object.keys(await makeBadImages(local))];
  const data = new S3ObjectStore('datasets', 'scenes/', { endpoint: s3.endpoint });
  for (const k of keys) await data.put(k, await fs.readFile(path.join(local, k)));
  const spec = await makeDevModel(path.join(dir, 'model'));
  const redisUrl = (await testRedis()).url;
  const r = await runCli(
    [
      'run',
      's3://datasets/scenes/',
      '--out',
      's3://results/run-a/',
      '--workers',
      '2',
      '--batch-size',
      '8',
      '--labels',
      'folder',
      '--model',
      spec,
    ],
    cliEnv(redisUrl, `s3${Date.now().toString(36)}`, creds),
  );
  expect({
    code: r.code,
    stderr: r.code
      ? r.stderr
          .split('\n')
          .filter((l) => l.startsWith('overmap'))
          .join('\n')
      : '',
  }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/manifest: s3:\/\/results\/run-a\/manifest.json/);
  const results = new S3ObjectStore('results', 'run-a/', { endpoint: s3.endpoint });
  const records: ImageRecord[] = [];
  const parts: string[] = [];
  for await (const o of listAll(results, 'parts/')) {
    parts.push(o.key);
    for (const line of (await results.get(o.key)).toString().split('\n'))
      if (line.trim()) records.push(RecordSchema.parse(JSON.parse(line)));
  }
  expectOneRecordPerKey(records, keys);
  const manifest = JSON.parse((await results.get('manifest.json')).toString());
  expect(manifest.counts.total).toBe(keys.length);
  expect(manifest.parts).toEqual(parts);
  expect(manifest.results).toBe('s3://results/run-a/');
  expect((await results.get('records.parquet')).subarray(0, 4).toString()).toBe('PAR1');
});

it("overmap run --inventory scores exactly the inventory's image keys from the source bucket, with 2 batches per job", async () => {
  const creds = {
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    S3_ENDPOINT: s3.endpoint,
  };
  Object.assign(process.env, creds);
  const local = path.join(dir, 'inv-data');
  const keys = (await makeImages(local, 14)).map((k) => `inv/${k}`);
  const data = new S3ObjectStore('datasets', '', { endpoint: s3.endpoint });
  for (const k of keys) await data.put(k, await fs.readFile(path.join(local, k.slice(4))));
  // The inventory lists one more image that is not under the dataset prefix given below.
  const csv = [...keys, 'elsewhere/x.png'].map((k) => `"datasets","${encodeURIComponent(k)}","1"`).join('\n');
  const body = gzipSync(csv);
  const inv = new S3ObjectStore('inventories', '', { endpoint: s3.endpoint });
  await inv.put('d/datasets/all/data/f0.csv.gz', body);
  await inv.put(
    'd/datasets/all/2026-11-25T01-00Z/manifest.json',
    JSON.stringify({
      sourceBucket: 'datasets',
      fileFormat: 'CSV',
      fileSchema: 'Bucket, Key, Size',
      files: [
        {
          key: 'd/datasets/all/data/f0.csv.gz',
          size: body.length,
          MD5checksum: createHash('md5').update(body).digest('hex'),
        },
      ],
    }),
  );
  const spec = await makeDevModel(path.join(dir, 'model-inv'));
  const r = await runCli(
    [
      'run',
      's3://datasets/inv/',
      '--inventory',
      's3://inventories/d/datasets/all/2026-11-25T01-00Z/manifest.json',
      '--out',
      's3://results/run-inv/',
      '--workers',
      '1',
      '--batch-size',
      '4',
      '--model',
      spec,
    ],
    cliEnv((await testRedis()).url, `s3inv${Date.now().toString(36)}`, {
      ...creds,
      OVERMAP_JOB_IMAGES: '8',
      OVERMAP_UNGROUPED_BATCHES: '0',
    }),
  );
  expect({
    code: r.code,
    stderr: r.code
      ? r.stderr
          .split('\n')
          .filter((l) => l.startsWith('overmap'))
          .join('\n')
      : '',
  }).toEqual({ code: 0, stderr: '' });
  const results = new S3ObjectStore('results', 'run-inv/', { endpoint: s3.endpoint });
  const records: ImageRecord[] = [];
  for await (const o of listAll(results, 'parts/')) {
    for (const line of (await results.get(o.key)).toString().split('\n'))
      if (line.trim()) records.push(RecordSchema.parse(JSON.parse(line)));
  }
  expectOneRecordPerKey(
    records,
    keys.map((k) => k.slice(4)),
  );
  expect(records.every((x) => x.status === 'ok' || x.status === 'no_mask')).toBe(true); // every image was read from the source bucket
  const run = JSON.parse((await results.get('run.json')).toString());
  expect([run.dataset, run.batches, run.params.jobBatches]).toEqual(['s3://datasets/inv/', 4, 2]);
});
