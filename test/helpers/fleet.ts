/** Helpers for fleet tests: a dataset of real image files (good and bad), CLI processes, result checks. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { type ImageRecord, RecordSchema } from '@overmap/shared';
import { ROOT } from './services';

export const CLI = path.join(ROOT, 'packages/cli/bin/overmap.js');
const CLASSES = ['coat', 'bag', 'sneaker', 'trouser'];

/** n good PNG/JPEG images in ImageFolder layout; returns their keys. */
export async function makeImages(dir: string, n: number, startAt = 0): Promise<string[]> {
  const keys: string[] = [];
  for (let i = startAt; i < startAt + n; i++) {
    const cls = CLASSES[i % CLASSES.length]!;
    const ext = i % 3 === 0 ? 'jpg' : 'png';
    const key = `${cls}/img-${String(i).padStart(4, '0')}.${ext}`;
    await fs.mkdir(path.join(dir, cls), { recursive: true });
    const raw = Buffer.alloc(48 * 40 * 3);
    for (let p = 0; p < raw.length; p++) raw[p] = (p * (i + 7) + (p % 11) * 13) % 256;
    let img = sharp(raw, { raw: { width: 48, height: 40, channels: 3 } });
    img = ext === 'jpg' ? img.jpeg() : img.png();
    await img.toFile(path.join(dir, key));
    keys.push(key);
  }
  return keys;
}

/** Files that must become status records, never failed batches. */
export async function makeBadImages(dir: string): Promise<Record<string, string>> {
  await fs.mkdir(path.join(dir, 'bad'), { recursive: true });
  const good = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
  const files: Record<string, [Buffer, string]> = {
    'bad/zero.jpg': [Buffer.alloc(0), 'decode_error'],
    'bad/text.png': [Buffer.from('this is not an image\n'), 'decode_error'],
    'bad/random.jpg': [Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)), 'decode_error'],
    'bad/truncated.png': [good.subarray(0, Math.floor(good.length / 2)), 'decode_error'],
    // 4000x4000 = 16 Mpx compresses to a few KB; the tests set the pixel limit to 4 Mpx
    'bad/huge.png': [
      await sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
      'too_large',
    ],
  };
  const expected: Record<string, string> = {};
  for (const [k, [b, status]] of Object.entries(files)) {
    await fs.writeFile(path.join(dir, k), b);
    expected[k] = status;
  }
  await fs.writeFile(path.join(dir, 'README.txt'), 'not an image key: skipped');
  return expected;
}

export function cliEnv(redisUrl: string, prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    REDIS_URL: redisUrl,
    OVERMAP_QUEUE_PREFIX: prefix,
    OVERMAP_BACKEND: 'wasm',
    OVERMAP_MAX_INPUT_PIXELS: String(4_000_000),
    OVERMAP_LOCK_SECONDS: '4',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

export function startWorkerProcess(env: NodeJS.ProcessEnv, args: string[] = []): ChildProcess {
  return spawn(process.execPath, [CLI, 'worker', '--no-metrics', ...args], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

export async function readParts(resultsDir: string): Promise<{ records: ImageRecord[]; files: string[] }> {
  // Only part files: a worker killed mid-write can leave a temporary file beside them.
  const files = (await fs.readdir(path.join(resultsDir, 'parts')))
    .filter((f) => /^batch-\d{6,}\.jsonl$/.test(f))
    .sort();
  const records: ImageRecord[] = [];
  for (const f of files) {
    const text = await fs.readFile(path.join(resultsDir, 'parts', f), 'utf8');
    for (const line of text.split('\n')) if (line.trim()) records.push(RecordSchema.parse(JSON.parse(line)));
  }
  return { records, files };
}

export async function readParquet(file: string): Promise<Record<string, unknown>[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(__dirname, 'read-parquet.mjs'), file], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Record<string, unknown>[];
}

export interface ParquetShape {
  columns: { name: string; type: string; converted_type?: string; repetition_type: string }[];
  rowGroups: number;
  rows: number;
}

/** A Parquet file's columns and row groups, read by hyparquet. */
export async function readParquetSchema(file: string): Promise<ParquetShape> {
  const { stdout } = await promisify(execFile)(process.execPath, [
    path.join(__dirname, 'read-parquet.mjs'),
    file,
    'schema',
  ]);
  return JSON.parse(stdout) as ParquetShape;
}

export function expectOneRecordPerKey(records: ImageRecord[], keys: string[]): void {
  const got = records.map((r) => r.key).sort();
  if (JSON.stringify(got) !== JSON.stringify([...keys].sort())) {
    const dup = got.filter((k, i) => got[i - 1] === k);
    const missing = keys.filter((k) => !got.includes(k));
    throw new Error(
      `records do not match keys: ${got.length} records for ${keys.length} keys; duplicates ${dup.slice(0, 5)}; missing ${missing.slice(0, 5)}`,
    );
  }
}

/**
 * The same `overmap run` (args after the dataset) into <dir>/one, one Parquet shard, and into
 * <dir>/many, a shard per part file (the group job, then the compactions), each on its own queue
 * prefix; throws with stderr where one fails.
 */
export async function runOneShardAndMany(
  redisUrl: string,
  dir: string,
  data: string,
  args: string[],
): Promise<Record<'one' | 'many', { out: string; stdout: string }>> {
  const runs = {} as Record<'one' | 'many', { out: string; stdout: string }>;
  for (const [name, shardParts] of [
    ['one', '256'],
    ['many', '1'],
  ] as const) {
    const out = path.join(dir, name);
    const env = cliEnv(redisUrl, `t${Date.now().toString(36)}${name}`, { OVERMAP_SHARD_PARTS: shardParts });
    const r = await runCli(['run', data, '--out', out, ...args], env);
    if (r.code !== 0) throw new Error(`overmap run (${name}) failed (${r.code}): ${r.stderr}`);
    runs[name] = { out, stdout: r.stdout };
  }
  return runs;
}
