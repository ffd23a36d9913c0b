/**
 * Micro-batches: scoring holds the event loop (TF.js and ONNX Runtime run synchronously
 * underneath), so the worker scores a batch in slices small enough that the event loop (and with
 * it BullMQ's lock renewal) runs between them.
 */
import type { Scorer } from '@overmap/engine';
import { blankInput } from '@overmap/engine';

/** Longest the worker may hold the event loop in one scoring call. */
export const MAX_STALL_MS = 250;

/** Images per scoreBatch call that stay under MAX_STALL_MS, from one timed call of two blank images. */
export async function calibrateMicroBatch(scorer: Scorer): Promise<number> {
  const blank = blankInput(scorer);
  const t0 = performance.now();
  await scorer.scoreBatch([blank, blank]);
  const msPerImage = (performance.now() - t0) / 2;
  return Math.max(1, Math.min(64, Math.floor(MAX_STALL_MS / Math.max(msPerImage, 1e-3))));
}
