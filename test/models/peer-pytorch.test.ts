/**
 * The PyTorch peer (scripts/peer-pytorch.py) gives the scores `overmap run` gives, on identical
 * input pixels (scripts/check-peer.js: the engine's decode of each photo written as a PNG at the
 * model's input size, scored by both): within 1e-3, the same predictions. Photos from
 * `make:photos` (EXIF-rotated and progressive ones among them). And a spec it does not implement
 * is refused in one line rather than scored differently.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, testRedis, tmpDir } from '../helpers/services';

const run = promisify(execFile);
let dir: string, redisUrl: string;

beforeAll(async () => {
  dir = await tmpDir('peer-');
  redisUrl = (await testRedis()).url;
  await run(process.execPath, ['scripts/make-photos.js', path.join(dir, 'photos'), '--count', '12'], { cwd: ROOT });
});

afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('the PyTorch peer', () => {
  it('scores 12 photos as overmap run does, within 1e-3, on identical pixels', async () => {
    const env = { ...process.env, REDIS_URL: redisUrl, OVERMAP_QUEUE_PREFIX: 'tpeer', LOG_LEVEL: 'warn' };
    const { stdout } = await run(process.execPath, ['scripts/check-peer.js', path.join(dir, 'photos')], {
      cwd: ROOT,
      env,
      maxBuffer: 16 * 2 ** 20,
    });
    type Report = { images: number; predictionsDiffer: number; diff: Record<string, { maxAbs: number }> };
    const r = JSON.parse(stdout) as Report;
    expect(r.images).toBe(12);
    expect(r.predictionsDiffer).toBe(0);
    expect(Object.keys(r.diff).sort()).toEqual(['attention_seg', 'confidence', 'gradcam_attention', 'msp', 'overmap']);
    for (const d of Object.values(r.diff)) expect(d.maxAbs).toBeLessThan(1e-3);
  });

  it('refuses a spec whose Over-MAP it does not compute, in one line naming the spec', async () => {
    const specDir = path.join(ROOT, 'models/reference-v4');
    const spec = JSON.parse(await fs.readFile(path.join(specDir, 'overmap-model.json'), 'utf8'));
    spec.overlap.measure = 'mass';
    // a folder of links to the models and training logs, so that the spec's relative paths resolve
    const specDir2 = path.join(dir, 'spec');
    await fs.mkdir(specDir2);
    for (const f of ['classifier', 'segmenter', 'training-log-classifier.json', 'training-log-segmenter.json'])
      await fs.symlink(path.join(specDir, f), path.join(specDir2, f));
    const file = path.join(specDir2, 'overmap-model.json');
    await fs.writeFile(file, JSON.stringify(spec));
    try {
      const py = '/usr/bin/python3';
      const err = await run(py, ['scripts/peer-pytorch.py', path.join(dir, 'photos'), '--spec', file], { cwd: ROOT }).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).toBe(2);
      expect(err?.stderr.trim().split('\n')).toHaveLength(1);
      expect(err?.stderr).toContain(file);
    } finally {
      await fs.rm(specDir2, { recursive: true, force: true });
    }
  });
});
