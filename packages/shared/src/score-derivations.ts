/**
 * Everything derived from the score registry (score-registry.ts): the record's scores schema, the
 * score names, the sketched scores, the confidences and how they are oriented, the decision's
 * secondaries. Each derivation takes a registry, the default one where none is given, so that a
 * test can check that an added entry reaches every one of them.
 */
import { z } from 'zod';
import {
  type ConfidenceScoreOf,
  type DecisionSecondaryOf,
  type DefaultScoreRegistry,
  SCORE_REGISTRY,
  type ScoreDef,
  type ScoreNameOf,
  type ScoreRegistry,
  type ScoresOf,
  type ScoresShapeOf,
  type SketchedScoreOf,
} from './score-registry';

// Each derivation takes a registry, the default one where none is given (overloads: the default's
// types without a cast).

/** The record's `scores` schema: one field per entry, in registry order. */
export function scoresSchemaOf(): z.ZodObject<ScoresShapeOf<DefaultScoreRegistry>>;
export function scoresSchemaOf<const R extends ScoreRegistry>(registry: R): z.ZodObject<ScoresShapeOf<R>>;
export function scoresSchemaOf(registry: ScoreRegistry = SCORE_REGISTRY): z.ZodObject {
  return z.object(Object.fromEntries(registry.map((s) => [s.name, s.schema])));
}

/** Every score name, in record order. */
export function scoreNamesOf(): ScoreNameOf<DefaultScoreRegistry>[];
export function scoreNamesOf<const R extends ScoreRegistry>(registry: R): ScoreNameOf<R>[];
export function scoreNamesOf(registry: ScoreRegistry = SCORE_REGISTRY): string[] {
  return registry.map((s) => s.name);
}

/** The scores the manifest sketches with quantiles, in record order. */
export function sketchedScoresOf(): SketchedScoreOf<DefaultScoreRegistry>[];
export function sketchedScoresOf<const R extends ScoreRegistry>(registry: R): SketchedScoreOf<R>[];
export function sketchedScoresOf(registry: ScoreRegistry = SCORE_REGISTRY): string[] {
  return registry.filter((s) => s.sketched).map((s) => s.name);
}

/** The confidences in the prediction, in record order: what evaluate measures and the report draws. */
export function confidenceScoresOf(): ConfidenceScoreOf<DefaultScoreRegistry>[];
export function confidenceScoresOf<const R extends ScoreRegistry>(registry: R): ConfidenceScoreOf<R>[];
export function confidenceScoresOf(registry: ScoreRegistry = SCORE_REGISTRY): string[] {
  return registry.filter((s) => s.confidence).map((s) => s.name);
}

/** The scores the spec's decision may take as SIRC's secondary, in record order. */
export function decisionSecondariesOf(): DecisionSecondaryOf<DefaultScoreRegistry>[];
export function decisionSecondariesOf<const R extends ScoreRegistry>(registry: R): DecisionSecondaryOf<R>[];
export function decisionSecondariesOf(registry: ScoreRegistry = SCORE_REGISTRY): string[] {
  return registry.filter((s) => s.decisionSecondary).map((s) => s.name);
}

/** The entry of a score (undefined for a name the registry does not list). */
export function scoreDef(name: string, registry: ScoreRegistry = SCORE_REGISTRY): ScoreDef | undefined {
  return registry.find((s) => s.name === name);
}

/**
 * A confidence oriented so that higher = more confident: the score itself, or negated where
 * lower is more confident (entropy). Null where the record does not carry it (not run, or an
 * older record). The one place a score's direction is applied, for evaluate and the report alike.
 */
export function confidenceValue(
  scores: ScoresOf<DefaultScoreRegistry>,
  name: ConfidenceScoreOf<DefaultScoreRegistry>,
): number | null;
export function confidenceValue<const R extends ScoreRegistry>(
  scores: ScoresOf<R>,
  name: ConfidenceScoreOf<R>,
  registry: R,
): number | null;
export function confidenceValue(
  scores: Readonly<Record<string, number | null | undefined>>,
  name: string,
  registry: ScoreRegistry = SCORE_REGISTRY,
): number | null {
  const v = scores[name];
  if (v === null || v === undefined) return null;
  return scoreDef(name, registry)?.direction === 'lower' ? -v : v;
}

/**
 * Name of a confidence once oriented, where it differs from the score's: prefix + name for a
 * lower-is-confident score.
 */
export function orientedName(name: string, prefix: string, registry: ScoreRegistry = SCORE_REGISTRY): string {
  return scoreDef(name, registry)?.direction === 'lower' ? `${prefix}${name}` : name;
}

export const CONFIDENCE_SCORES = confidenceScoresOf();
export type ConfidenceScore = ConfidenceScoreOf<DefaultScoreRegistry>;
export const SKETCHED_SCORES = sketchedScoresOf();
export type SketchedScore = SketchedScoreOf<DefaultScoreRegistry>;
export const DECISION_SECONDARIES = decisionSecondariesOf();
export type DecisionSecondary = DecisionSecondaryOf<DefaultScoreRegistry>;
/** The model spec's `decision.secondary` (engine model/model-spec-schema.ts). */
export const DecisionSecondarySchema = z.enum(DECISION_SECONDARIES);
