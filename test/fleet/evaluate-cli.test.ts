/**
 * `overmap evaluate` end to end: two real runs of the bundled reference model (generated test
 * scenes with folder labels, and MNIST digits in the same clutter as unknown objects), then the
 * tables, the JSON, the plot and the out-of-distribution section, checked against figures
 * recomputed here from the records.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { type ImageRecord, canonicalClass } from '@overmap/shared';
import {
  CLASS_FOLDERS,
  SCENE_SIZE,
  loadFashionMnist,
  loadMnistTestDigits,
  makeDigitScene,
  makeScene,
} from '@overmap/reference';
import { cliEnv, readParts, runCli } from '../helpers/fleet';
import { testRedis, tmpDir } from '../helpers/services';

const N_KNOWN = 40,
  N_DIGITS = 20;
let dir: string, redisUrl: string, known: ImageRecord[], digits: ImageRecord[];
const png = (image: Uint8Array, file: string) =>
  sharp(Buffer.from(image), { raw: { width: SCENE_SIZE, height: SCENE_SIZE, channels: 3 } })
    .png()
    .toFile(file);

beforeAll(async () => {
  dir = await tmpDir();
  redisUrl = (await testRedis()).url;
  const bank = loadFashionMnist(),
    mnist = loadMnistTestDigits();
  for (let i = 0; i < N_KNOWN; i++) {
    const s = makeScene(bank, { seed: 'evaluate-test', split: 'test' }, i);
    await fs.mkdir(path.join(dir, 'known', CLASS_FOLDERS[s.label]!), { recursive: true });
    await png(s.image, path.join(dir, 'known', CLASS_FOLDERS[s.label]!, `${i}.png`));
  }
  await fs.mkdir(path.join(dir, 'digits'), { recursive: true });
  for (let i = 0; i < N_DIGITS; i++)
    await png(makeDigitScene(bank, mnist, 'evaluate-test', i).image, path.join(dir, 'digits', `${i}.png`));
  const env = cliEnv(redisUrl, `t${Date.now().toString(36)}ev`);
  for (const [name, labels] of [
    ['known', ['--labels', 'folder', '--batch-size', '16']],
    ['digits', []],
  ] as const) {
    const r = await runCli(
      ['run', path.join(dir, name), '--out', path.join(dir, `${name}-results`), '--workers', '1', ...labels],
      env,
    );
    if (r.code !== 0) throw new Error(`overmap run ${name} failed (${r.code}): ${r.stderr}`);
  }
  known = (await readParts(path.join(dir, 'known-results'))).records;
  digits = (await readParts(path.join(dir, 'digits-results'))).records;
}, 240_000);
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

type Json = {
  n: number;
  fusionWeight?: number;
  reports: { name: string; auroc: number; table: { rejected: number; macroAccuracy: number }[] }[];
  ood: {
    nIn: number;
    nOut: number;
    rows: { name: string; auroc: number; fprAt95Tpr: number }[];
    accepted: { in: number; out: number };
  };
};

describe('overmap evaluate', () => {
  let json: Json, stdout: string;
  beforeAll(async () => {
    const r = await runCli(
      [
        'evaluate',
        path.join(dir, 'known-results'),
        '--val',
        path.join(dir, 'known-results'),
        '--ood',
        path.join(dir, 'digits-results'),
        '--json',
        path.join(dir, 'eval.json'),
        '--plot',
        path.join(dir, 'plot.png'),
      ],
      cliEnv(redisUrl, 'unused'),
    );
    if (r.code !== 0) throw new Error(`overmap evaluate failed (${r.code}): ${r.stderr}`);
    stdout = r.stdout;
    json = JSON.parse(await fs.readFile(path.join(dir, 'eval.json'), 'utf8'));
  }, 60_000);

  it('reports every confidence over every labelled record, with accuracy recomputed from the records', () => {
    expect(known).toHaveLength(N_KNOWN);
    expect(json.n).toBe(N_KNOWN);
    const names = json.reports.map((x) => x.name);
    for (const c of [
      'overmap',
      'gradcam_seg',
      'attention_seg',
      'gradcam_attention',
      'msp',
      'neg_entropy',
      'margin',
      'random',
    ])
      expect(names).toContain(c);
    expect(names.some((x) => x.startsWith('fused ('))).toBe(true);
    // Macro accuracy with nothing rejected, by hand: mean over the classes present of their accuracy.
    const byClass = new Map<string, { n: number; ok: number }>();
    for (const r of known) {
      const c = byClass.get(r.label!) ?? { n: 0, ok: 0 };
      c.n++;
      if (canonicalClass(r.prediction!.class) === canonicalClass(r.label!)) c.ok++;
      byClass.set(r.label!, c);
    }
    const macro = [...byClass.values()].reduce((a, c) => a + c.ok / c.n, 0) / byClass.size;
    expect(json.reports.find((x) => x.name === 'msp')!.table[0]!.macroAccuracy).toBeCloseTo(macro, 12);
    expect(stdout).toContain('| overmap |');
  });

  it('separates unknown objects: counts, AUROC by brute force, accepted shares', () => {
    expect([json.ood.nIn, json.ood.nOut]).toEqual([N_KNOWN, N_DIGITS]);
    for (const name of ['overmap', 'msp'] as const) {
      let wins = 0;
      for (const a of known)
        for (const b of digits)
          wins += a.scores[name]! > b.scores[name]! ? 1 : a.scores[name] === b.scores[name] ? 0.5 : 0;
      expect(json.ood.rows.find((x) => x.name === name)!.auroc).toBeCloseTo(wins / (N_KNOWN * N_DIGITS), 12);
    }
    expect(json.ood.accepted.out).toBeCloseTo(digits.filter((r) => r.accepted).length / N_DIGITS, 12);
    expect(stdout).toContain('### Unknown objects');
  });

  it('writes the plot as a PNG', async () => {
    const meta = await sharp(path.join(dir, 'plot.png')).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(200);
  });

  it('a --ood that is not a run gives a one-line error naming it', async () => {
    const r = await runCli(
      ['evaluate', path.join(dir, 'known-results'), '--ood', path.join(dir, 'digits')],
      cliEnv(redisUrl, 'unused'),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(path.join(dir, 'digits'));
  });

  it('--json into a folder that does not exist is one line that names it, before any work', async () => {
    const out = path.join(dir, 'no-such-folder', 'tables.json');
    const r = await runCli(['evaluate', path.join(dir, 'known-results'), '--json', out], cliEnv(redisUrl, 'unused'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `overmap: --json ${out}: folder ${path.dirname(out)} does not exist; create it or write elsewhere`,
    );
  });

  it('refuses an unfinished run (no manifest) in one line, and with --partial says how much it covers', async () => {
    const unfinished = path.join(dir, 'unfinished-results');
    await fs.cp(path.join(dir, 'known-results'), unfinished, { recursive: true });
    await fs.rm(path.join(unfinished, 'manifest.json'));
    const parts = (await fs.readdir(path.join(unfinished, 'parts'))).sort();
    await fs.rm(path.join(unfinished, 'parts', parts[0]!)); // a batch not yet written
    const left = (await readParts(unfinished)).records.length;
    expect(left).toBeLessThan(N_KNOWN);
    const refused = await runCli(['evaluate', unfinished], cliEnv(redisUrl, 'unused'));
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(
      `overmap: ${unfinished} is not finished (no manifest.json; ${left} of ${N_KNOWN} images scored): ` +
        `let it finish (overmap status ${unfinished}; overmap retry for failed batches), ` +
        'or pass --partial to evaluate the records written so far',
    );
    const partial = await runCli(['evaluate', unfinished, '--partial'], cliEnv(redisUrl, 'unused'));
    expect([partial.code, partial.stderr]).toEqual([0, '']);
    const share = ((100 * left) / N_KNOWN).toFixed(1);
    expect(partial.stdout.split('\n')[0]).toBe(
      `PARTIAL: ${unfinished} is not finished: these figures cover ${left} of ${N_KNOWN} (${share}%) images.`,
    );
  });
});
