/**
 * The one path from image bytes to scores and overlay strips, shared by the worker (a batch's
 * part file) and the report (its cards' maps): read and decode every image (a bounded number
 * at once; a failure is the image's, never the call's), score the decoded ones in
 * micro-batches (yielding to the event loop between, so that lock renewals and probes still
 * run), then draw the overlays asked for. What becomes of each result is the caller's (hooks).
 */
import { type Decoded, decodeImage } from '../images/decode-image';
import { type ImageMeasures, measureImage } from '../images/image-measures';
import { overlayPng } from '../images/overlay-png';
import type { ImageScore, ScoreInput, ScoreMaps, Scorer } from './scorer';

/** Why an image has no score: it could not be read or decoded (a record status and its message). */
export type ImageFailure = Extract<Decoded, { ok: false }>;

export type Limiter = <T>(fn: () => Promise<T>) => Promise<T>;

export interface ImageSource {
  key: string;
  /** class index of the image's label, if known */
  label: number | null;
  /** the image's bytes, or why there are none */
  read: () => Promise<Buffer | ImageFailure>;
}

export interface ScoreImagesOptions {
  /** bounds the reads and decodes in flight, then the overlays being drawn */
  limit: Limiter;
  /** decode limits (OVERMAP_MAX_INPUT_PIXELS, OVERMAP_MAX_IMAGE_BYTES) */
  maxInputPixels: number;
  maxBytes: number;
  /** images per scoring call */
  microBatch: number;
  keepMaps: boolean;
  /** measure each decoded image (image-measures.ts: brightness, hashes, ...), handed to onScored */
  measure?: boolean;
  /** runs the scoring: the worker serialises it across the jobs it holds (default: at once) */
  computeLock?: Limiter;
  /** the image decoder; default the engine's (sharp) */
  decode?: typeof decodeImage;
  /** a stage over: 'decode' once every image is read and decoded, 'score' inside the compute lock */
  observe?: (stage: 'decode' | 'score', since: number) => void;
  /** each image that could not be read or decoded, once all are */
  onFailed?: (index: number, failure: ImageFailure) => void;
  /**
   * each score, in order, with the image's measures where asked; returns whether the image gets
   * an overlay (drawn only where the scorer kept maps)
   */
  onScored: (index: number, score: ImageScore, measures?: ImageMeasures) => boolean;
  /** each overlay strip (overlay-png.ts), drawn and handed over under `limit` */
  onOverlay?: (index: number, png: Buffer, maps: ScoreMaps) => Promise<void>;
}

interface Overlay {
  index: number;
  rgb: Uint8Array;
  maps: ScoreMaps;
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export async function scoreImages(scorer: Scorer, images: ImageSource[], o: ScoreImagesOptions): Promise<void> {
  const tDecode = performance.now();
  const decoded = await decodeAll(scorer, images, o);
  o.observe?.('decode', tDecode);
  const ok: number[] = [];
  decoded.forEach((d, i) => {
    if (d.ok) ok.push(i);
    else o.onFailed?.(i, d);
  });
  const lock: Limiter = o.computeLock ?? ((fn) => fn());
  const overlays = await lock(async () => {
    const tScore = performance.now();
    const wanted = await scoreDecoded(scorer, images, decoded, ok, o);
    o.observe?.('score', tScore);
    return wanted;
  });
  await Promise.all(
    overlays.map((v) =>
      o.limit(async () => o.onOverlay?.(v.index, await overlayPng(v.rgb, scorer.inputSize, v.maps), v.maps)),
    ),
  );
}

type Measured = Decoded & { measures?: ImageMeasures };

function decodeAll(scorer: Scorer, images: ImageSource[], o: ScoreImagesOptions): Promise<Measured[]> {
  const decode = o.decode ?? decodeImage;
  const size = { size: scorer.inputSize, segSize: scorer.segInputSize };
  return Promise.all(
    images.map((img) =>
      o.limit(async (): Promise<Measured> => {
        const bytes = await img.read();
        if (!Buffer.isBuffer(bytes)) return bytes;
        const d = await decode(bytes, { ...size, maxInputPixels: o.maxInputPixels, maxBytes: o.maxBytes });
        return d.ok && o.measure ? { ...d, measures: measureImage(bytes, d.rgb, scorer.inputSize) } : d;
      }),
    ),
  );
}

/** Scores the decoded images `ok` in micro-batches; returns the overlays wanted. */
async function scoreDecoded(
  scorer: Scorer,
  images: ImageSource[],
  decoded: Measured[],
  ok: number[],
  o: ScoreImagesOptions,
): Promise<Overlay[]> {
  const overlays: Overlay[] = [];
  for (let s = 0; s < ok.length; s += o.microBatch) {
    const idx = ok.slice(s, s + o.microBatch);
    const inputs: ScoreInput[] = idx.map((i) => {
      const d = decoded[i]!;
      if (!d.ok) throw new Error('unreachable');
      return { rgb: d.rgb, segRgb: d.segRgb, key: images[i]!.key, label: images[i]!.label };
    });
    const scores = await scorer.scoreBatch(inputs, { keepMaps: o.keepMaps });
    idx.forEach((i, j) => {
      const score = scores[j]!;
      if (o.onScored(i, score, decoded[i]!.measures) && score.maps)
        overlays.push({ index: i, rgb: inputs[j]!.rgb, maps: score.maps });
    });
    await yieldToLoop();
  }
  return overlays;
}
