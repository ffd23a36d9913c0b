/**
 * Failure routing: each record's `issue`, the one thing a curator should do about the image,
 * by one rule applied in order (first match wins):
 *
 *   bad_image       the image could not be scored (read_error, decode_error, too_large, …)
 *   label_error     a label is given, the prediction names another class, and the model's
 *                   probability of the given label (`scores.label_quality`) is below
 *                   `labelErrorBelow` (default: 1 / number of classes, less than chance)
 *   none            the prediction is accepted (`accepted`)
 *   unknown_object  rejected, and segmentation found no object (`no_mask`): nothing the model
 *                   knows is in the picture (clutter, or an object the segmenter does not see)
 *   off_object      rejected, and less than `offObjectBelow` of the prediction's evidence
 *                   (`scores.gradcam_seg`) lies on the object: it was decided by the background
 *   low_confidence  rejected otherwise: the model hesitates on an object it looked at
 *
 * The label check comes before acceptance: a confident prediction that contradicts its label is
 * exactly the label error a curator looks for. The rule's parameters are the model spec's
 * `routing`; the evaluation (`npm run experiment`) reports, per true failure type, where this
 * rule sends the images.
 */
import { z } from 'zod';
import { type Issue, isScored } from './schemas';

export const RoutingSchema = z.strictObject({
  /** label_error below this probability of the given label; null: 1 / number of classes */
  labelErrorBelow: z.number().min(0).max(1).nullable().default(null),
  /** off_object below this gradcam_seg (the spec's overlap measure) */
  offObjectBelow: z.number().min(-1).max(1).default(0.5),
});
export type Routing = z.infer<typeof RoutingSchema>;
export const DEFAULT_ROUTING: Routing = RoutingSchema.parse({});

/** What the rule reads of a record: its status, acceptance, two scores and whether its prediction matches its label. */
export interface RoutingInput {
  status: string;
  accepted: boolean | null;
  /** the prediction names another class than the given label (null: no label, or no prediction) */
  disagrees: boolean | null;
  labelQuality: number | null | undefined;
  gradcamSeg: number | null | undefined;
}

export function routeIssue(x: RoutingInput, routing: Routing, numClasses: number): Issue {
  if (!isScored(x.status)) return 'bad_image';
  const labelBelow = routing.labelErrorBelow ?? 1 / Math.max(1, numClasses);
  if (x.disagrees === true && x.labelQuality !== null && x.labelQuality !== undefined && x.labelQuality < labelBelow)
    return 'label_error';
  if (x.accepted === true) return 'none';
  if (x.status === 'no_mask') return 'unknown_object';
  if (x.gradcamSeg !== null && x.gradcamSeg !== undefined && x.gradcamSeg < routing.offObjectBelow) return 'off_object';
  return 'low_confidence';
}

/**
 * A scored record's `accepted` and `issue` from its confidence: the worker (build-record.ts) and
 * finalize (a decision calibrated on the run) decide them by this one rule.
 */
export function acceptAndRoute(
  x: {
    status: string;
    confidence: number | null;
    /** the label's class index (null: no label, or one naming no class) and the predicted one */
    labelIndex: number | null;
    predIndex: number;
    labelQuality: number | null | undefined;
    gradcamSeg: number | null | undefined;
  },
  threshold: number,
  routing: Routing,
  numClasses: number,
): { accepted: boolean | null; issue: Issue } {
  const accepted = x.confidence === null ? null : x.confidence >= threshold;
  const disagrees = x.labelIndex === null ? null : x.labelIndex !== x.predIndex;
  return {
    accepted,
    issue: routeIssue(
      { status: x.status, accepted, disagrees, labelQuality: x.labelQuality, gradcamSeg: x.gradcamSeg },
      routing,
      numClasses,
    ),
  };
}
