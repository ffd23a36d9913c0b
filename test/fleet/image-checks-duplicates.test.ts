/**
 * Image checks and duplicates through the whole fleet (overmap run: real Redis, worker
 * processes, sharp, the bundled model): planted copies (byte-exact across splits, resized and
 * recompressed), a darkened image and a blank one among ordinary scenes. The same dataset run
 * as one shard and as many (OVERMAP_SHARD_PARTS=1: the group job, then the compactions) gives the
 * same groups and flags, in the part files, the Parquet records and the duplicates table.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { type ImageRecord, RunResults } from '@overmap/shared';
import { readParquet, readParts, runOneShardAndMany } from '../helpers/fleet';
import { testRedis, tmpDir } from '../helpers/services';

const SAMPLES = path.join(__dirname, '../../samples/fashion-scenes');
let dir: string;
const runs: Record<'one' | 'many', { out: string; records: Map<string, ImageRecord>; stdout: string }> = {} as never;
const ordinary: string[] = [];

async function plant(data: string): Promise<void> {
  const put = async (key: string, bytes: Buffer) => {
    await fs.mkdir(path.dirname(path.join(data, key)), { recursive: true });
    await fs.writeFile(path.join(data, key), bytes);
  };
  const classes = (await fs.readdir(SAMPLES)).sort();
  for (const cls of classes) {
    const files = (await fs.readdir(path.join(SAMPLES, cls))).sort().slice(0, 3);
    for (const [i, f] of files.entries()) {
      const key = `${i === 2 ? 'test' : 'train'}/${cls}/${f}`;
      await put(key, await fs.readFile(path.join(SAMPLES, cls, f)));
      ordinary.push(key);
    }
  }
  const [a, b, c] = ordinary;
  await put('test/bag/exact-copy.png', await fs.readFile(path.join(data, a!)));
  await put(
    'train/bag/resized-copy.jpg',
    await sharp(path.join(data, b!)).resize(200, 200).jpeg({ quality: 70 }).toBuffer(),
  );
  await put('train/coat/dark.png', await sharp(path.join(data, c!)).linear(0.12, 0).png().toBuffer());
  await put(
    'train/shirt/blank.png',
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#7f7f7f' } })
      .png()
      .toBuffer(),
  );
}

beforeAll(async () => {
  dir = await tmpDir();
  const data = path.join(dir, 'data');
  await plant(data);
  const done = await runOneShardAndMany((await testRedis()).url, dir, data, [
    '--workers',
    '2',
    '--batch-size',
    '8',
    '--labels',
    'folder',
  ]);
  for (const [name, { out, stdout }] of Object.entries(done) as ['one' | 'many', (typeof done)['one']][])
    runs[name] = { out, records: new Map((await readParts(out)).records.map((x) => [x.key, x])), stdout };
});
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const groupOf = (name: 'one' | 'many', key: string) => runs[name].records.get(key)!.duplicate_group;

describe('image checks and duplicates through the fleet', () => {
  it('groups exactly the planted copies with their originals, and nothing else', () => {
    const [a, b] = ordinary;
    const groups = new Map<string, string[]>();
    for (const r of runs.one.records.values())
      if (r.duplicate_group) groups.set(r.duplicate_group, [...(groups.get(r.duplicate_group) ?? []), r.key]);
    const sets = [...groups.values()].map((g) => g.sort());
    expect(sets).toContainEqual([a!, 'test/bag/exact-copy.png'].sort());
    expect(sets).toContainEqual([b!, 'train/bag/resized-copy.jpg'].sort());
    // no two ordinary scenes in one group (the darkened copy may join its original: it is a near copy)
    for (const g of sets) expect(g.filter((k) => ordinary.includes(k)).length).toBeLessThanOrEqual(1);
  });

  it('flags the darkened and the blank image, and no ordinary scene as dark or low in information', () => {
    const issues = (k: string) => runs.one.records.get(k)!.image_issues;
    expect(issues('train/coat/dark.png')).toContain('dark');
    expect(issues('train/shirt/blank.png')).toEqual(expect.arrayContaining(['low_information', 'blurry', 'grayscale']));
    for (const k of ordinary) expect(issues(k)).not.toEqual(expect.arrayContaining(['dark']));
    for (const k of ordinary) expect(issues(k)).not.toContain('low_information');
  });

  it('writes duplicates.parquet: exact and leaky for the copy across splits, distance for the resized one', async () => {
    const m = (await RunResults.open(runs.one.out).readManifest())!;
    expect(m.duplicates).toMatchObject({ parquet: 'duplicates.parquet', near_duplicate_bits: 6 });
    const rows = await readParquet(path.join(runs.one.out, 'duplicates.parquet'));
    const row = (k: string) => rows.find((r) => r.key === k)!;
    expect(row('test/bag/exact-copy.png')).toMatchObject({ exact: true, leaky: true, split: 'test' });
    expect(row('train/bag/resized-copy.jpg')).toMatchObject({ exact: false, leaky: false, split: 'train' });
    expect(row('train/bag/resized-copy.jpg').distance).toBeLessThanOrEqual(6);
    expect(rows.length).toBe([...runs.one.records.values()].filter((r) => r.duplicate_group).length);
    expect(m.summary.images_with_copies).toBe(rows.length);
    // overmap run's summary says so too
    const groups = new Set(rows.map((x) => x.group)).size;
    const leaky = new Set(rows.filter((x) => x.leaky).map((x) => x.group)).size;
    expect(leaky).toBeGreaterThanOrEqual(1);
    expect(runs.one.stdout).toMatch(
      new RegExp(`copies: ${rows.length} images in ${groups} groups \\(${leaky} spanning splits\\)`),
    );
    expect(runs.one.stdout).toMatch(/image issues: .*dark \d+/);
  });

  it('gives the same groups and flags as one shard or as many (group job, then compactions), in parts and Parquet', async () => {
    const m = (await RunResults.open(runs.many.out).readManifest())!;
    expect(m.shards!.length).toBeGreaterThan(1);
    for (const [k, r] of runs.one.records) {
      expect([k, groupOf('many', k), runs.many.records.get(k)!.image_issues]).toEqual([
        k,
        r.duplicate_group,
        r.image_issues,
      ]);
    }
    const rows = (await Promise.all(m.shards!.map((s) => readParquet(path.join(runs.many.out, s))))).flat();
    for (const row of rows) {
      const r = runs.many.records.get(row.key as string)!;
      expect([row.duplicate_group ?? null, row.image_issues]).toEqual([r.duplicate_group, r.image_issues!.join(',')]);
    }
    const dups = (
      await Promise.all(
        m.shards!.map((_, s) => readParquet(path.join(runs.many.out, `duplicates/part-0000${s}.parquet`))),
      )
    ).flat();
    const single = await readParquet(path.join(runs.one.out, 'duplicates.parquet'));
    const byKey = (xs: Record<string, unknown>[]) => xs.map((x) => JSON.stringify(x)).sort();
    expect(byKey(dups)).toEqual(byKey(single));
  });
});
