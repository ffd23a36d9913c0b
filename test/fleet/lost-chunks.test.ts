/**
 * A listing chunk deleted for good (a lifecycle rule, an operator's rm): the run's cut is
 * deterministic, so the next `overmap run` on the run and `overmap retry` list the dataset again,
 * write the lost chunk as it was and finish the run; a dataset that changed since is refused in
 * one line, with nothing rewritten.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { chunkKey } from '@overmap/shared';
import { makeDevModel } from '../helpers/models';
import { cliEnv, expectOneRecordPerKey, makeImages, readParts, runCli, startWorkerProcess } from '../helpers/fleet';
import { testRedis, tmpDir } from '../helpers/services';

let dir: string, spec: string, data: string, keys: string[], redisUrl: string;
const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );
const keysOf = async (file: string) => JSON.parse(await fs.readFile(file, 'utf8')).keys as string[];

beforeAll(async () => {
  dir = await tmpDir();
  spec = await makeDevModel(path.join(dir, 'model'), { segmenter: 'saliency' });
  data = path.join(dir, 'data');
  keys = await makeImages(data, 40);
  redisUrl = (await testRedis()).url;
});
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('a listing chunk lost for good', () => {
  it('the next overmap run rebuilds it from a new listing and finishes the run', async () => {
    const out = path.join(dir, 'rerun');
    const env = cliEnv(redisUrl, 'tlostrun');
    const common = [data, '--out', out, '--batch-size', '8', '--model', spec];
    expect((await runCli(['enqueue', ...common], env)).code).toBe(0);
    const chunk = path.join(out, chunkKey(2));
    const lost = await keysOf(chunk);
    await fs.rm(chunk);
    // the run's enqueue finds the listing ended and the chunk gone: it lists again before any job runs
    const again = await runCli(['run', ...common, '--workers', '1'], env);
    expect([again.code, again.stderr.split('\n').filter((l) => l.startsWith('overmap:'))]).toEqual([0, []]);
    expect(await keysOf(chunk)).toEqual(lost);
    expectOneRecordPerKey((await readParts(out)).records, keys);
  });

  it('overmap retry rebuilds it too; a dataset that changed since is refused, nothing rewritten', async () => {
    const out = path.join(dir, 'retry');
    const env = cliEnv(redisUrl, 'tlostretry');
    const own = path.join(dir, 'data-retry');
    await fs.cp(data, own, { recursive: true });
    expect((await runCli(['enqueue', own, '--out', out, '--batch-size', '8', '--model', spec], env)).code).toBe(0);
    const chunk = path.join(out, chunkKey(4));
    const lost = await keysOf(chunk);
    await fs.rm(chunk);

    // the dataset gains an image: the cut is not the one run.json recorded
    const extra = path.join(own, 'zz-extra.png');
    await fs.copyFile(path.join(own, keys[0]!), extra);
    const refused = await runCli(['retry', out], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /^overmap: .* has changed since run .* \(40 images in 5 batches then, 41 in 6 now\)/m,
    );
    expect(await exists(chunk)).toBe(false);

    await fs.rm(extra);
    const r = await runCli(['retry', out], env);
    expect([r.code, r.stdout]).toEqual([0, expect.stringContaining('1 lost listing chunk(s) rebuilt')]);
    expect(await keysOf(chunk)).toEqual(lost);
    const w = startWorkerProcess(env, ['--exit-when-idle']);
    await new Promise((res) => w.once('exit', res));
    expect(await exists(path.join(out, 'manifest.json'))).toBe(true);
    expectOneRecordPerKey((await readParts(out)).records, keys);
  });
});
