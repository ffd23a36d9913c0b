/** An ImageScore plus its key and label, as the contract's record, its `issue` routed by the spec's rule. */
import { type ImageRecord, type Routing, acceptAndRoute } from '@overmap/shared';
import type { ImageMeasures, ImageScore } from '@overmap/engine';

export function recordFor(
  key: string,
  label: string | null,
  s: ImageScore,
  spec: { classes: readonly string[]; routing: Routing },
  threshold: number,
  labelIndex: number | null,
  measures?: ImageMeasures,
): ImageRecord {
  const { classes } = spec;
  const status = s.noMask ? 'no_mask' : 'ok';
  const { accepted, issue } = acceptAndRoute(
    {
      status,
      confidence: s.scores.confidence,
      labelIndex,
      predIndex: s.index,
      labelQuality: s.scores.label_quality,
      gradcamSeg: s.scores.gradcam_seg,
    },
    threshold,
    spec.routing,
    classes.length,
  );
  return {
    key,
    label,
    status,
    error: null,
    prediction: {
      class: classes[s.index]!,
      index: s.index,
      top: s.top.map((t) => ({ class: classes[t.index]!, p: t.p })),
    },
    scores: s.scores,
    accepted,
    mask_fraction: s.maskFraction,
    issue,
    image: measures ?? null,
    image_issues: [],
    duplicate_group: null,
  };
}
