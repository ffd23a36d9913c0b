/**
 * Finalization to S3 of a run whose Parquet is larger than one multipart part: the records
 * are streamed from the part files through the Parquet writer into a multipart upload (no
 * temporary file, no whole file in memory), and the object reads back, through hyparquet, one
 * row per record equal to the part files.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import seedrandom from 'seedrandom';
import { type ImageRecord, RECORD_COLUMNS, RunResults, S3ObjectStore, flattenRecord } from '@overmap/shared';
import { SYNTHETIC_CLASSES, syntheticRecord } from '@overmap/report';
import { finalizeRun } from '@overmap/worker';
import { readParquet } from '../helpers/fleet';
import { type S3Server, startS3, tmpDir } from '../helpers/services';

let dir: string, s3: S3Server;
beforeAll(async () => {
  dir = await tmpDir();
  s3 = await startS3(['results']);
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    S3_ENDPOINT: s3.endpoint,
  });
});
afterAll(async () => {
  delete process.env.S3_ENDPOINT;
  await s3.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

it('streams a run of 80,000 records into records.parquet on S3 as a multipart upload; it reads back one row per record', async () => {
  const uri = 's3://results/big-run/';
  const results = RunResults.open(uri);
  const batches = 80,
    perBatch = 1000;
  await results.writeRun({
    run_id: 'big-run',
    instance: 'bigrun01',
    dataset: 's3://datasets/x/',
    results: uri,
    model: { uri: 'reference', hash: '0'.repeat(64) },
    classes: SYNTHETIC_CLASSES,
    params: {
      batchSize: perBatch,
      labels: 'folder',
      overlays: 'none',
      threshold: 0.3,
      shardParts: 256,
      jobBatches: 1,
      ungroupedBatches: 0,
    },
    tool_version: 'test',
    created: new Date().toISOString(),
    batches,
    images: batches * perBatch,
    skipped_keys: 0,
  });
  const rand = seedrandom('finalize-s3-multipart');
  const records: ImageRecord[] = [];
  for (let b = 0; b < batches; b++) {
    const part = Array.from({ length: perBatch }, (_, i) =>
      syntheticRecord(b * perBatch + i, rand, { labels: true, threshold: 0.3 }),
    );
    await results.writePart(b, part);
    records.push(...part);
  }

  // Every command any S3 client sends (finalize opens its own store from the URI).
  const sent: string[] = [];
  const original = S3Client.prototype.send as (...a: unknown[]) => unknown;
  const send = jest.spyOn(S3Client.prototype, 'send').mockImplementation(function (this: S3Client, ...args: unknown[]) {
    sent.push((args[0] as object).constructor.name);
    return Reflect.apply(original, this, args);
  } as never);
  let r;
  try {
    r = await finalizeRun({ data: { runId: 'big-run', instance: 'bigrun01', results: uri } }, 'test');
  } finally {
    send.mockRestore();
  }
  expect(r).toEqual({ manifestWritten: true, total: batches * perBatch });
  // The Parquet went up in parts (8 MiB each): no single PutObject of it.
  expect(sent.filter((c) => c === 'CreateMultipartUploadCommand')).toHaveLength(1);
  expect(sent.filter((c) => c === 'UploadPartCommand').length).toBeGreaterThanOrEqual(2);
  expect(sent.filter((c) => c === 'CompleteMultipartUploadCommand')).toHaveLength(1);

  const store = new S3ObjectStore('results', 'big-run/', { endpoint: s3.endpoint });
  const body = await store.get('records.parquet');
  expect(body.length).toBeGreaterThan(8 * 1024 * 1024);
  const file = path.join(dir, 'records.parquet');
  await fs.writeFile(file, body);
  const rows = await readParquet(file);
  expect(rows).toHaveLength(records.length);
  const cols = Object.keys(RECORD_COLUMNS);
  const norm = (row: Record<string, unknown>) => JSON.stringify(cols.map((c) => row[c] ?? null));
  const got = rows.map(norm),
    // finalize gives every record its image_issues and duplicate_group (none here: no image measures)
    want = records.map((rec) => norm(flattenRecord({ ...rec, image_issues: [], duplicate_group: null })));
  const firstDiff = got.findIndex((g, i) => g !== want[i]);
  expect({ firstDiff, got: got[firstDiff], want: want[firstDiff] }).toEqual({
    firstDiff: -1,
    got: undefined,
    want: undefined,
  });
  expect((await results.readManifest())!.parquet).toBe('records.parquet');
});
