/**
 * `npm run make:scenes -- <out-dir> [--split test] [--count 300] [--start 0] [--seed S] [--masks]`
 * Writes generated cluttered Fashion-MNIST scenes as PNG files in ImageFolder layout
 * (<class>/<split>-<index>.png), and with --masks their ground-truth masks beside them
 * under masks/. Deterministic in (seed, split, index).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { CLASS_FOLDERS, SCENE_SIZE, type Split, loadFashionMnist, makeScene } from './fashion-scenes';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out || out.startsWith('--')) throw new Error('usage: make-scenes <out-dir> [--split train|val|test] [--count N] [--start I] [--seed S] [--masks]');
  const split = arg('split', 'test') as Split;
  if (!['train', 'val', 'test'].includes(split)) throw new Error(`--split ${split}: use train, val or test`);
  const count = Number(arg('count', '300'));
  const start = Number(arg('start', '0'));
  const seed = arg('seed', 'overmap-reference-v1');
  const masks = process.argv.includes('--masks');
  const bank = loadFashionMnist();
  for (let i = start; i < start + count; i++) {
    const s = makeScene(bank, { seed, split }, i);
    const name = `${split}-${String(i).padStart(5, '0')}.png`;
    const dir = path.join(out, CLASS_FOLDERS[s.label]!);
    await fs.mkdir(dir, { recursive: true });
    await sharp(Buffer.from(s.image), { raw: { width: SCENE_SIZE, height: SCENE_SIZE, channels: 3 } }).png().toFile(path.join(dir, name));
    if (masks) {
      const mdir = path.join(out, '..', `${path.basename(out)}-masks`, CLASS_FOLDERS[s.label]!);
      await fs.mkdir(mdir, { recursive: true });
      await sharp(Buffer.from(s.mask.map((v) => v * 255)), { raw: { width: SCENE_SIZE, height: SCENE_SIZE, channels: 1 } }).png().toFile(path.join(mdir, name));
    }
  }
  process.stdout.write(`wrote ${count} ${split} scenes to ${out}\n`);
}

main().catch((e) => {
  process.stderr.write(`make-scenes: ${(e as Error).message}\n`);
  process.exit(2);
});
