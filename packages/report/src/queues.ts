/**
 * The review queues: which records belong to each and how each is ranked. A queue keeps only
 * its best `perQueue` records (top-n.ts); its count covers every member.
 */
import { type ImageRecord, disagreesWithLabel, groupOrdinal, isScored, labelSuspicion } from '@overmap/shared';

export type QueueId = 'label_errors' | 'off_object' | 'rejected' | 'unreadable' | 'bad_images' | 'duplicates';

export interface QueueContext {
  /** the label -> class index rule (null: the label names no class) */
  classOf: (label: string | null | undefined) => number | null;
  /** the run's acceptance threshold on scores.confidence */
  threshold: number;
}

export interface QueueDef {
  id: QueueId;
  title: string;
  /** what the queue holds and how it is ranked (shown on the page) */
  description: string;
  /** the name of the rank shown on each card */
  rankName: string;
  needsLabels: boolean;
  /** the record's rank in this queue (higher is shown first), or null when it is not a member */
  rank(r: ImageRecord, ctx: QueueContext): number | null;
}

/**
 * How far the evidence lies on the object: the larger of the Grad-CAM/mask and attention/mask
 * overlaps (null components ignored).
 */
export function onObject(r: ImageRecord): number | null {
  const v = [r.scores.gradcam_seg, r.scores.attention_seg].filter((x): x is number => typeof x === 'number');
  return v.length ? Math.max(...v) : null;
}

export const QUEUES: QueueDef[] = [
  {
    id: 'label_errors',
    title: 'Probable label errors',
    rankName: 'suspicion',
    needsLabels: true,
    description:
      "The records routed to label_error: the prediction disagrees with the label and the model finds the label less likely than chance (scores.label_quality below the spec's routing.labelErrorBelow). " +
      "Ranked by suspicion = 1 − label_quality (the model's probability of the given label), highest first. " +
      'Runs written before routing existed: the accepted predictions that disagree, ranked by 1 + confidence.',
    // label_quality is the ranking the evaluation measures on flipped labels (npm run experiment); older
    // records fall back to @overmap/shared's suspicion (label-suspicion.ts).
    rank: (r, ctx) => {
      if (r.issue !== undefined) return r.issue === 'label_error' ? 1 - (r.scores.label_quality ?? 0) : null;
      return r.status === 'ok' && r.accepted === true && disagreesWithLabel(r, ctx.classOf) === true
        ? labelSuspicion(r, ctx.classOf)
        : null;
    },
  },
  {
    id: 'off_object',
    title: 'Evidence off the object / unknown objects',
    rankName: 'off-object',
    needsLabels: false,
    description:
      "Segmentation found no object (no_mask), or neither the Grad-CAM nor the attention map overlaps the object mask by the run's threshold. " +
      'Ranked by off-object = 1 − max(gradcam_seg, attention_seg), highest first (no_mask: 1).',
    rank: (r, ctx) => {
      if (r.status === 'no_mask') return 1;
      if (r.status !== 'ok') return null;
      const on = onObject(r);
      return on !== null && on < ctx.threshold ? 1 - on : null;
    },
  },
  {
    id: 'rejected',
    title: 'Rejected (below the threshold)',
    rankName: '',
    needsLabels: false,
    description: "Confidence below the run's threshold: the prediction is not trusted. Lowest confidence first.",
    rank: (r) => (isScored(r.status) && r.accepted === false ? -(r.scores.confidence ?? 0) : null),
  },
  {
    id: 'unreadable',
    title: 'Unreadable images',
    rankName: '',
    needsLabels: false,
    description: 'Images that could not be scored (read, decode or size errors), grouped by reason.',
    rank: (r) => (isScored(r.status) ? null : 0),
  },
  // the image-quality and copy queues (finalize's image_issues and duplicate_group)
  {
    id: 'bad_images',
    title: 'Bad images',
    rankName: 'issues',
    needsLabels: false,
    description:
      'Images with problems of their own, judged against the run: dark, light, blurry, low_information, grayscale, odd_size, odd_aspect (each card names them). ' +
      'Ranked by how many problems an image has, most first.',
    rank: (r) => (r.image_issues?.length ? r.image_issues.length : null),
  },
  {
    id: 'duplicates',
    title: 'Duplicates and near copies',
    rankName: '',
    needsLabels: false,
    description:
      'Images with an exact or near copy in the run (perceptual hashes a few bits apart), each group side by side, groups in the order of their first member. ' +
      'A copy in two splits (train/ and test/) leaks between them; duplicates.parquet marks those groups.',
    // groups in run order, each group's members together (they share the rank)
    rank: (r) => {
      const g = groupOrdinal(r.duplicate_group);
      return g === null ? null : -g;
    },
  },
];

/** The reason an image could not be scored, with numbers blanked so that like errors group together. */
export function reasonOf(r: ImageRecord): string {
  return `${r.status}: ${(r.error ?? 'no message').replace(/\d+/g, '#')}`.slice(0, 160);
}
