/** An ImageScore plus its key and label, as the contract's record. */
import type { ImageRecord } from '@overmap/shared';
import type { ImageScore } from '../scoring/pipeline';

export function recordFor(key: string, label: string | null, s: ImageScore, classes: string[], threshold: number): ImageRecord {
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
    scores: {
      overmap: s.overmap,
      gradcam_seg: s.gradcam_seg,
      attention_seg: s.attention_seg,
      gradcam_attention: s.gradcam_attention,
      msp: s.msp,
      entropy: s.entropy,
      margin: s.margin,
      ...(s.mc_dropout !== null ? { mc_dropout: s.mc_dropout } : {}),
      ...(s.label_gradcam_seg !== null ? { label_gradcam_seg: s.label_gradcam_seg } : {}),
    },
    accepted: s.overmap >= threshold,
    mask_fraction: s.maskFraction,
  };
}
