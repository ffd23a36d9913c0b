/**
 * `npm run make:scenes -- <out-dir> [--split test] [--count 300] [--start 0] [--seed S] [--masks]`
 * Writes generated cluttered Fashion-MNIST scenes as PNG files in ImageFolder layout
 * (<class>/<split>-<index>.png), and with --masks their ground-truth masks beside them
 * under masks/. Deterministic in (seed, split, index). `--split digits` writes the
 * out-of-distribution scenes: MNIST test digits in the test split's clutter, in folders
 * digit_0 … digit_9 (not classes of the reference model).
 *
 * The varied generator (`makeVariedScene`, what the reference model now trains on):
 * `--split varied-train|varied-val|varied-test`, its splits; `--split shifted`, the shifted test
 * set (a background family and item scales no other split uses; for measuring only, never for a
 * choice); `--split varied-digits`, MNIST test digits in the varied test clutter.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import {
  CLASS_FOLDERS,
  SCENE_SIZE,
  type Scene,
  type Split,
  loadFashionMnist,
  loadMnistTestDigits,
  makeDigitScene,
  makeScene,
} from './fashion-scenes';
import { type VariedSplit, makeVariedDigitScene, makeVariedScene } from './varied-scenes';

const SPLITS = [
  'train',
  'val',
  'test',
  'digits',
  'varied-train',
  'varied-val',
  'varied-test',
  'shifted',
  'varied-digits',
] as const;
type CliSplit = (typeof SPLITS)[number];

const USAGE = `usage: make-scenes <out-dir> [--split ${SPLITS.join('|')}] [--count N] [--start I] [--seed S] [--masks]`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      split: { type: 'string', default: 'test' },
      count: { type: 'string', default: '300' },
      start: { type: 'string', default: '0' },
      seed: { type: 'string', default: 'overmap-reference-v1' },
      masks: { type: 'boolean', default: false },
    },
  });
  const out = positionals[0];
  if (!out || positionals.length > 1) throw new Error(USAGE);
  const split = values.split as CliSplit;
  if (!SPLITS.includes(split)) throw new Error(`--split ${split}: use one of ${SPLITS.join(', ')}`);
  const count = Number(values.count);
  const start = Number(values.start);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(start) || start < 0)
    throw new Error(`--count ${count} --start ${start}: use whole numbers, count at least 1`);
  const seed = values.seed;
  const masks = values.masks;
  const bank = loadFashionMnist();
  const digits = split === 'digits' || split === 'varied-digits' ? loadMnistTestDigits() : undefined;
  const scene = (i: number): Scene => {
    if (split === 'digits') return makeDigitScene(bank, digits!, seed, i);
    if (split === 'varied-digits') return makeVariedDigitScene(bank, digits!, seed, i);
    if (split === 'shifted') return makeVariedScene(bank, { seed, split }, i);
    if (split.startsWith('varied-'))
      return makeVariedScene(bank, { seed, split: split.slice('varied-'.length) as VariedSplit }, i);
    return makeScene(bank, { seed, split: split as Split }, i);
  };
  for (let i = start; i < start + count; i++) {
    const s = scene(i);
    const folder = digits ? `digit_${s.label}` : CLASS_FOLDERS[s.label]!;
    const name = `${split}-${String(i).padStart(5, '0')}.png`;
    const dir = path.join(out, folder);
    await fs.mkdir(dir, { recursive: true });
    await sharp(Buffer.from(s.image), { raw: { width: SCENE_SIZE, height: SCENE_SIZE, channels: 3 } })
      .png()
      .toFile(path.join(dir, name));
    if (masks) {
      const mdir = path.join(out, '..', `${path.basename(out)}-masks`, folder);
      await fs.mkdir(mdir, { recursive: true });
      await sharp(Buffer.from(s.mask.map((v) => v * 255)), {
        raw: { width: SCENE_SIZE, height: SCENE_SIZE, channels: 1 },
      })
        .png()
        .toFile(path.join(mdir, name));
    }
  }
  process.stdout.write(`wrote ${count} ${split} scenes to ${out}\n`);
}

main().catch((e) => {
  process.stderr.write(`make-scenes: ${(e as Error).message}\n`);
  process.exit(2);
});
