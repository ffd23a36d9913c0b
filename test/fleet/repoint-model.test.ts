/**
 * The way back after a model mistake: a run enqueued with one spec and never scored can be run
 * with a fixed spec on the same --out (re-pointed: the new model, a new instance, the listing
 * kept); once records exist, another model is refused, naming the way that works.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { makeDevModel } from '../helpers/models';
import { cliEnv, expectOneRecordPerKey, makeImages, readParts, runCli } from '../helpers/fleet';
import { testRedis, tmpDir } from '../helpers/services';

let dir: string, data: string, keys: string[], redisUrl: string;
beforeAll(async () => {
  dir = await tmpDir();
  data = path.join(dir, 'data');
  keys = await makeImages(data, 24);
  redisUrl = (await testRedis()).url;
});
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('a run re-pointed at a fixed model', () => {
  it('runs with the new spec on the same --out while no record exists; then refuses another model', async () => {
    const first = await makeDevModel(path.join(dir, 'first'), { segmenter: 'saliency', patch: { threshold: 0.9 } });
    const fixed = await makeDevModel(path.join(dir, 'fixed'), { segmenter: 'saliency', patch: { threshold: 0.01 } });
    const out = path.join(dir, 'out');
    const env = cliEnv(redisUrl, `t${Date.now().toString(36)}rp`);
    const common = [data, '--out', out, '--batch-size', '8'];
    expect((await runCli(['enqueue', ...common, '--model', first], env)).code).toBe(0);
    const before = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));

    const r = await runCli(['run', ...common, '--model', fixed, '--workers', '1'], env);
    expect([r.code, r.stderr.split('\n').filter((l) => l.startsWith('overmap:'))]).toEqual([0, []]);
    const run = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
    expect(run.model.uri).toContain('fixed');
    expect(run.repointed.from).toBe(before.model.hash);
    expect(run.instance).not.toBe(before.instance);
    expect(run.params.threshold).toBe(0.01);
    const { records } = await readParts(out);
    expectOneRecordPerKey(records, keys);
    // every record was scored under the fixed spec: its threshold decides `accepted`
    expect(records.every((x) => x.accepted === x.scores.confidence! >= 0.01)).toBe(true);

    const back = await runCli(['run', ...common, '--model', first, '--workers', '1'], env);
    expect(back.code).toBe(2);
    expect(back.stderr).toMatch(
      /already scored in part with another model .*score with the new one into another --out/,
    );
  });
});
