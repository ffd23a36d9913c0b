/**
 * Boxes computed elsewhere (`segmenter.type: boxes`): a JSONL file, one line per image key,
 * `{"key", "boxes": [[x0, y0, x1, y1, score?], …]}` with coordinates in [0, 1]; boxes
 * scoring at least `minScore` are binarised into the mask.
 */
import { ModelSpecError } from '@overmap/shared/core';
import * as tf from '../../backend/tf';
import { boxMasks } from './box-masks';
import type { MaskInput, Segmenter } from './segmenter';

export function parseBoxesFile(text: string, source: string, minScore: number): Map<string, number[][]> {
  const map = new Map<string, number[][]>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: { key?: unknown; boxes?: unknown };
    try {
      o = JSON.parse(line);
    } catch {
      throw new ModelSpecError(`boxes file ${source} line ${i + 1} is not JSON`);
    }
    if (
      typeof o.key !== 'string' ||
      !Array.isArray(o.boxes) ||
      !o.boxes.every((b) => Array.isArray(b) && b.length >= 4 && b.every((v) => typeof v === 'number'))
    ) {
      throw new ModelSpecError(
        `boxes file ${source} line ${i + 1}: write {"key": "...", "boxes": [[x0, y0, x1, y1, score?], ...]} with coordinates in [0, 1]`,
      );
    }
    map.set(
      o.key,
      (o.boxes as number[][]).filter((b) => (b[4] ?? 1) >= minScore),
    );
  });
  return map;
}

export class BoxesSegmenter implements Segmenter {
  readonly inputSize = null;
  constructor(private readonly boxes: Map<string, number[][]>) {}

  masks({ raw, keys }: MaskInput): tf.Tensor3D {
    const [b, h, w] = raw.shape;
    return tf.tensor3d(
      boxMasks(
        keys.map((k) => (k ? this.boxes.get(k) : undefined) ?? []),
        h,
        w,
      ),
      [b, h, w],
    );
  }

  dispose(): void {}
}
