/**
 * The scorer contract: what the fleet hands a scorer (decoded images) and what it gets back
 * (one ImageScore per image). OverMapScorer implements it with TF.js or ONNX models.
 */
import type { Scores } from '@overmap/shared/core';
import type { ModelSpec } from '../model/model-spec';

/** One decoded image: RGB bytes at the classifier's input size (and the segmenter's, if it differs). */
export interface ScoreInput {
  rgb: Uint8Array;
  /** the image's key, for segmenters that look up per-image data (detector boxes) */
  key?: string;
  segRgb?: Uint8Array;
  /** class index of the given label, if known */
  label?: number | null;
}

/** The maps behind the scores, at the mask's resolution (for overlays and the report). */
export interface ScoreMaps {
  gradcam: Float32Array;
  attention: Float32Array | null;
  mask: Float32Array;
  size: [number, number];
}

export interface ImageScore {
  /** predicted class index */
  index: number;
  top: { index: number; p: number }[];
  /** segmentation found no object: "estimation not available" */
  noMask: boolean;
  maskFraction: number;
  /** the record's scores, under the record's names */
  scores: Scores;
  maps?: ScoreMaps;
}

export interface Scorer {
  readonly spec: ModelSpec;
  readonly hash: string;
  readonly inputSize: [number, number];
  readonly segInputSize: [number, number] | null;
  /** Async because ONNX Runtime's run is; the event loop is still held while a model runs (micro-batch). */
  scoreBatch(inputs: ScoreInput[], options?: { keepMaps?: boolean }): Promise<ImageScore[]>;
  dispose(): void;
}
