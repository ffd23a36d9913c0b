/** An ImageScore plus its key and label, as the contract's record. */
import type { ImageRecord } from '@overmap/shared';
import type { ImageScore } from '@overmap/engine';

export function recordFor(
  key: string,
  label: string | null,
  s: ImageScore,
  classes: readonly string[],
  threshold: number,
): ImageRecord {
  return {
    key,
    label,
    status: s.noMask ? 'no_mask' : 'ok',
    error: null,
    prediction: {
      class: classes[s.index]!,
      index: s.index,
      top: s.top.map((t) => ({ class: classes[t.index]!, p: t.p })),
    },
    scores: s.scores,
    accepted: s.scores.confidence === null ? null : s.scores.confidence >= threshold,
    mask_fraction: s.maskFraction,
  };
}
