/**
 * The score registry: adding a score is one entry. Every list of scores is derived from a
 * registry given as an argument; here a registry with one extra fixture entry reaches the
 * record schema, the Parquet columns, the manifest's sketches, evaluate's confidences, the
 * report's curves and the decision's secondaries, each only where the entry says so; the
 * default registry gives today's lists unchanged (records and files stay byte-identical). Also
 * the registry's rules, the one orientation of a confidence (confidenceValue), the one test of
 * a scored status (isScored) and the one suspicion formula.
 */
import { z } from 'zod';
import {
  CONFIDENCE_SCORES,
  DECISION_SECONDARIES,
  DecisionSecondarySchema,
  EMPTY_SCORES,
  EVALUATION_REJECT_FRACTIONS,
  type ImageRecord,
  PAPER_REJECT_FRACTIONS,
  RECORD_COLUMNS,
  REPORT_REJECT_FRACTIONS,
  SCORE_NAMES,
  SCORE_REGISTRY,
  SKETCHED_SCORES,
  STATUSES,
  SUMMARY_REJECT_FRACTIONS,
  ScoresSchema,
  classIndexer,
  confidenceScoresOf,
  confidenceValue,
  decisionSecondariesOf,
  defineScoreRegistry,
  disagreesWithLabel,
  isScored,
  labelSuspicion,
  recordColumnsOf,
  scoreNamesOf,
  scoresSchemaOf,
  sketchedScoresOf,
  suspicion,
} from '@overmap/shared';
import { CONFIDENCES, confidencesOf } from '@overmap/evaluation';
import { ModelSpecSchema } from '@overmap/engine';

const EXTRA = {
  name: 'extra_fixture',
  direction: 'higher',
  confidence: true,
  needsLabel: false,
  sketched: true,
  decisionSecondary: true,
  schema: z.number().nullable().optional(),
  doc: 'a fixture score: only here to show that one entry is enough',
} as const;
const EXTENDED = defineScoreRegistry([...SCORE_REGISTRY, EXTRA]);
/** The same entry, flagged for nothing but the record. */
const PLAIN = defineScoreRegistry([
  ...SCORE_REGISTRY,
  { ...EXTRA, confidence: false, sketched: false, decisionSecondary: false },
]);

describe('adding a score is one registry entry', () => {
  it('reaches the record schema, typed, optional as its entry says', () => {
    const schema = scoresSchemaOf(EXTENDED);
    expect(Object.keys(schema.shape)).toEqual([...SCORE_NAMES, 'extra_fixture']);
    const parsed = schema.parse({ ...EMPTY_SCORES, extra_fixture: 0.25 });
    const v: number | null | undefined = parsed.extra_fixture;
    expect(v).toBe(0.25);
    expect(schema.parse(EMPTY_SCORES).extra_fixture).toBeUndefined();
    expect(() => schema.parse({ ...EMPTY_SCORES, extra_fixture: 'high' })).toThrow();
  });

  it('reaches the Parquet columns: one DOUBLE column after the other scores, read from the record', () => {
    const columns = recordColumnsOf(EXTENDED);
    const names = columns.map(([name]) => name);
    const before = Object.keys(RECORD_COLUMNS);
    const at = before.indexOf('accepted');
    expect(names).toEqual([...before.slice(0, at), 'extra_fixture', ...before.slice(at)]);
    const [, type, get] = columns.find(([name]) => name === 'extra_fixture')!;
    expect(type).toBe('DOUBLE');
    const scores = { ...EMPTY_SCORES, extra_fixture: 0.75 };
    const r: ImageRecord = {
      key: 'k',
      label: null,
      status: 'ok',
      error: null,
      prediction: null,
      scores,
      accepted: null,
    };
    expect(get(r)).toBe(0.75);
    expect(get({ ...r, scores: EMPTY_SCORES })).toBeUndefined();
  });

  it("reaches the manifest sketches, evaluate's confidences, the report's curves and the decision secondaries only where flagged", () => {
    expect(sketchedScoresOf(EXTENDED)).toEqual([...SKETCHED_SCORES, 'extra_fixture']);
    // evaluate measures confidencesOf(registry); the report draws a curve for each confidenceScoresOf(registry)
    expect(confidencesOf(EXTENDED)).toEqual([...CONFIDENCE_SCORES, 'extra_fixture', 'random']);
    expect(confidenceScoresOf(EXTENDED)).toEqual([...CONFIDENCE_SCORES, 'extra_fixture']);
    expect(decisionSecondariesOf(EXTENDED)).toEqual([...DECISION_SECONDARIES, 'extra_fixture']);
    expect(z.enum(decisionSecondariesOf(EXTENDED)).parse('extra_fixture')).toBe('extra_fixture');

    expect(scoreNamesOf(PLAIN)).toEqual([...SCORE_NAMES, 'extra_fixture']);
    expect(recordColumnsOf(PLAIN).map(([name]) => name)).toContain('extra_fixture');
    expect(sketchedScoresOf(PLAIN)).toEqual(SKETCHED_SCORES);
    expect(confidencesOf(PLAIN)).toEqual(CONFIDENCES);
    expect(confidenceScoresOf(PLAIN)).toEqual(CONFIDENCE_SCORES);
    expect(decisionSecondariesOf(PLAIN)).toEqual(DECISION_SECONDARIES);
  });

  it("the default registry gives today's lists, in today's order (records and files unchanged)", () => {
    expect(SCORE_NAMES).toEqual([
      'confidence',
      'overmap',
      'gradcam_seg',
      'attention_seg',
      'gradcam_attention',
      'msp',
      'entropy',
      'margin',
      'mc_dropout',
      'label_gradcam_seg',
      'gradcam_seg_rank',
      'gradcam_seg_auc',
      'gradcam_seg_pointing',
      'gradcam_seg_localisation',
      'runner_up_seg',
      'gradcam_contrast',
      'maxlogit_pnorm',
      'label_quality',
    ]);
    expect(Object.keys(ScoresSchema.shape)).toEqual(SCORE_NAMES);
    // the required scores (confidence has a default, so an error record leaves it out, as before)
    expect(Object.keys(EMPTY_SCORES)).toEqual([
      'overmap',
      'gradcam_seg',
      'attention_seg',
      'gradcam_attention',
      'msp',
      'entropy',
      'margin',
    ]);
    expect(SKETCHED_SCORES).toEqual(['confidence', 'overmap', 'msp', 'maxlogit_pnorm']);
    expect(DECISION_SECONDARIES).toEqual([
      'overmap',
      'gradcam_seg',
      'attention_seg',
      'gradcam_attention',
      'gradcam_seg_rank',
      'gradcam_seg_auc',
      'gradcam_seg_pointing',
      'gradcam_seg_localisation',
      'gradcam_contrast',
    ]);
    // a score that needs the label is no confidence; the runner-up's Grad-CAM is only a part of the contrast
    expect(CONFIDENCE_SCORES).not.toContain('label_gradcam_seg');
    expect(CONFIDENCE_SCORES).not.toContain('runner_up_seg');
    expect(CONFIDENCE_SCORES).not.toContain('label_quality');
    expect(DecisionSecondarySchema.options).toEqual(DECISION_SECONDARIES);
    // the model spec's decision takes exactly these
    const spec = {
      classes: ['a', 'b'],
      classifier: { model: 'm.json', inputSize: [8, 8] },
      gradcamLayer: 'c',
      segmenter: { type: 'saliency' },
    };
    for (const secondary of DECISION_SECONDARIES)
      expect(ModelSpecSchema.parse({ ...spec, decision: { rule: 'sirc', secondary } }).decision.secondary).toBe(
        secondary,
      );
    expect(ModelSpecSchema.safeParse({ ...spec, decision: { rule: 'sirc', secondary: 'msp' } }).success).toBe(false);
  });

  it('refuses an entry that breaks the rules between the fields', () => {
    expect(() => defineScoreRegistry([...SCORE_REGISTRY, { ...EXTRA, name: 'msp' }])).toThrow(/listed twice/);
    expect(() => defineScoreRegistry([{ ...EXTRA, needsLabel: true }])).toThrow(/needs a label/);
    expect(() => defineScoreRegistry([{ ...EXTRA, direction: 'lower' }])).toThrow(/decision secondary/);
    expect(() => defineScoreRegistry([{ ...EXTRA, confidence: false }])).toThrow(/decision secondary/);
  });
});

describe('confidenceValue: the one orientation of a confidence', () => {
  const scores = { ...EMPTY_SCORES, msp: 0.8, entropy: 0.6 };
  it('flips entropy (lower = more confident) and keeps the others', () => {
    expect(confidenceValue(scores, 'entropy')).toBe(-0.6);
    expect(confidenceValue(scores, 'msp')).toBe(0.8);
    expect(confidenceValue(scores, 'mc_dropout')).toBeNull(); // not carried: null, not undefined
    expect(confidenceValue(scores, 'overmap')).toBeNull();
  });
  it('orients an added score by its own entry', () => {
    const lower = defineScoreRegistry([...SCORE_REGISTRY, { ...EXTRA, direction: 'lower', decisionSecondary: false }]);
    expect(confidenceValue({ extra_fixture: 2 }, 'extra_fixture', lower)).toBe(-2);
    expect(confidenceValue({ extra_fixture: 2 }, 'extra_fixture', EXTENDED)).toBe(2);
  });
});

describe('isScored', () => {
  it('is true exactly for ok and no_mask', () => {
    expect(STATUSES.filter((s) => isScored(s))).toEqual(['ok', 'no_mask']);
    expect(isScored('unknown_status')).toBe(false);
  });
});

describe("suspicion: the one formula of the report's label-error queue and the evaluation", () => {
  const classOf = classIndexer(['T-shirt/top', 'Sneaker', 'Ankle boot']);
  const rec = (label: string | null, pred: string | null, confidence: number | null): ImageRecord => ({
    key: 'k',
    label,
    status: 'ok',
    error: null,
    accepted: true,
    prediction:
      pred === null
        ? null
        : {
            class: pred,
            index: classOf(pred)!,
            top: [
              { class: pred, p: 0.7 },
              { class: 'Bag', p: 0.2 },
              { class: 'Coat', p: 0.1 },
            ],
          },
    scores: { ...EMPTY_SCORES, confidence },
  });
  it('is 1 + c where the prediction disagrees with the label, 1 − c where it agrees (label spelt any way)', () => {
    expect(suspicion({ disagrees: true, confidence: 0.25 })).toBe(1.25);
    expect(suspicion({ disagrees: false, confidence: 0.25 })).toBe(0.75);
    expect(labelSuspicion(rec('ankle_boot', 'Sneaker', 0.4), classOf)).toBeCloseTo(1.4, 12);
    expect(labelSuspicion(rec('SNEAKER', 'Sneaker', 0.4), classOf)).toBeCloseTo(0.6, 12);
    expect(
      labelSuspicion({ ...rec('ankle_boot', 'Sneaker', 0.4), scores: { ...EMPTY_SCORES, msp: 0.9 } }, classOf, 'msp'),
    ).toBeCloseTo(1.9, 12);
  });
  it('does not apply where disagreement or the confidence is unknown', () => {
    expect(disagreesWithLabel(rec('giraffe', 'Sneaker', 0.4), classOf)).toBeNull();
    expect(labelSuspicion(rec('giraffe', 'Sneaker', 0.4), classOf)).toBeNull();
    expect(labelSuspicion(rec(null, 'Sneaker', 0.4), classOf)).toBeNull();
    expect(labelSuspicion(rec('Sneaker', null, 0.4), classOf)).toBeNull();
    expect(labelSuspicion(rec('ankle_boot', 'Sneaker', null), classOf)).toBeNull();
  });
});

describe('reject-fraction grids', () => {
  it("the summary's and evaluate's hold the paper's points; the report's is an even 5% grid to 90%", () => {
    for (const grid of [SUMMARY_REJECT_FRACTIONS, EVALUATION_REJECT_FRACTIONS])
      for (const f of PAPER_REJECT_FRACTIONS) expect(grid).toContain(f);
    expect(REPORT_REJECT_FRACTIONS).toHaveLength(19);
    REPORT_REJECT_FRACTIONS.forEach((f, i) => expect(f).toBeCloseTo(i * 0.05, 12));
  });
});
