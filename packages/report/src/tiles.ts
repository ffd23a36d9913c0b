/**
 * The pictures on the cards, for just the records shown: a thumbnail of the dataset image
 * (sharp), and its Grad-CAM, attention and mask overlays. The overlays are the worker's
 * overlay strip (image | Grad-CAM | attention | mask contour): taken from the run's results
 * where the workers wrote it (`--overlays`), else recomputed by the run's own scorer with
 * keepMaps (the same model, checked by its hash), so a report shows maps for any run.
 * Captions are the page's, never burnt into the pixels.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import {
  type ImageRecord,
  type ObjectStore,
  type RunJson,
  type RunResults,
  classIndexer,
  isScored,
  openStore,
} from '@overmap/shared';
import { type LoadedSpec, OverMapScorer, decodeImage, initBackend, loadSpec, overlayPng } from '@overmap/engine';

export const TILE_PX = 160;
export const MAP_TILES = ['gradcam', 'attention', 'mask'] as const;
export type MapTile = (typeof MAP_TILES)[number];

export interface CardImages {
  /** relative paths under the report folder */
  thumb?: string;
  gradcam?: string;
  attention?: string;
  mask?: string;
  /** why there is no picture (image deleted since the run, unreadable, …) */
  missing?: string;
  /** why there are no maps for this image */
  noMaps?: string;
}

export interface TileOptions {
  /** 'none': no pictures at all (synthetic runs); 'thumbs': thumbnails only; 'maps': thumbnails and maps */
  images: 'none' | 'thumbs' | 'maps';
  limits?: { maxInputPixels: number; maxBytes: number };
  concurrency?: number;
  /** images per scoring call */
  batch?: number;
}

export interface TileResult {
  images: Map<string, CardImages>;
  /** a page-level note on the maps (model changed, none asked for, …) */
  mapsNote: string | null;
  /** where the maps came from */
  mapsSource: 'recomputed' | 'worker overlays' | 'mixed' | 'none';
}

/** File stem for an image key: a hash, so that any key makes a safe, flat file name. */
export const tileStem = (key: string) => createHash('sha1').update(key).digest('hex').slice(0, 16);

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const jpeg = (img: sharp.Sharp) =>
  img
    .flatten({ background: '#000' })
    .resize(TILE_PX, TILE_PX, { fit: 'contain', background: '#000' })
    .jpeg({ quality: 82 })
    .toBuffer();

/** The three map panels of an overlay strip (4 panels side by side), as JPEG tiles. */
async function splitStrip(strip: Buffer): Promise<Record<MapTile, Buffer>> {
  const meta = await sharp(strip).metadata();
  const w = Math.floor((meta.width ?? 0) / 4),
    h = meta.height ?? 0;
  if (w < 1 || h < 1) throw new Error('overlay strip has no size');
  const panel = (i: number) => jpeg(sharp(strip).extract({ left: i * w, top: 0, width: w, height: h }));
  return { gradcam: await panel(1), attention: await panel(2), mask: await panel(3) };
}

async function loadScorer(run: RunJson): Promise<{ scorer?: OverMapScorer; note?: string }> {
  let loaded: LoadedSpec;
  try {
    loaded = await loadSpec(run.model.uri);
  } catch (e) {
    return { note: `maps not shown: the run's model ${run.model.uri} cannot be loaded (${(e as Error).message})` };
  }
  if (loaded.hash !== run.model.hash) {
    return {
      note: `maps not shown: the model ${run.model.uri} has changed since the run (hash ${loaded.hash.slice(0, 12)} ≠ ${run.model.hash.slice(0, 12)})`,
    };
  }
  await initBackend();
  return { scorer: await OverMapScorer.load(loaded) };
}

export async function writeTiles(
  records: ImageRecord[],
  run: RunJson,
  results: RunResults,
  out: ObjectStore,
  o: TileOptions,
): Promise<TileResult> {
  const images = new Map<string, CardImages>();
  if (o.images === 'none') {
    for (const r of records) images.set(r.key, { missing: 'pictures left out (--images none)' });
    return { images, mapsNote: 'pictures left out (--images none)', mapsSource: 'none' };
  }
  const dataset = openStore(run.dataset, {}, 'dataset URI');
  const limits = o.limits ?? { maxInputPixels: 50_000_000, maxBytes: 64 * 1024 * 1024 };
  const conc = o.concurrency ?? 8;
  const bytes = new Map<string, Buffer>();
  const put = async (name: string, body: Buffer) => {
    await out.put(name, body, { contentType: 'image/jpeg' });
    return name;
  };

  // Thumbnails (and the bytes kept for the maps, for scorable records only).
  await pool(records, conc, async (r) => {
    const stem = tileStem(r.key);
    let b: Buffer | undefined;
    try {
      b = await dataset.getIfExists(r.key);
    } catch (e) {
      images.set(r.key, { missing: `cannot read ${r.key}: ${(e as Error).message}` });
      return;
    }
    if (!b) {
      images.set(r.key, { missing: `image not found: ${r.key} has been deleted or moved since the run` });
      return;
    }
    try {
      const thumb = await put(
        `img/${stem}-t.jpg`,
        await jpeg(sharp(b, { limitInputPixels: limits.maxInputPixels, failOn: 'error', pages: 1 }).rotate()),
      );
      images.set(r.key, { thumb });
      if (o.images === 'maps' && isScored(r.status)) bytes.set(r.key, b);
    } catch (e) {
      images.set(r.key, { missing: `cannot show ${r.key}: ${(e as Error).message}` });
    }
  });
  if (o.images !== 'maps') return { images, mapsNote: 'maps left out (--images thumbs)', mapsSource: 'none' };

  // Maps: the workers' overlays where the records name one, else recomputed.
  const fromWorkers = new Set<string>();
  await pool(
    records.filter((r) => r.overlay && bytes.has(r.key)),
    conc,
    async (r) => {
      const strip = await results.store.getIfExists(r.overlay!).catch(() => undefined);
      if (!strip) return;
      const t = await splitStrip(strip);
      const stem = tileStem(r.key);
      for (const m of MAP_TILES) images.get(r.key)![m] = await put(`img/${stem}-${m[0]}.jpg`, t[m]);
      fromWorkers.add(r.key);
    },
  );
  const todo = records.filter((r) => bytes.has(r.key) && !fromWorkers.has(r.key));
  let mapsNote: string | null = null;
  if (todo.length) {
    const { scorer, note } = await loadScorer(run);
    if (!scorer) {
      mapsNote = note ?? null;
      for (const r of todo) images.get(r.key)!.noMaps = note;
    } else {
      try {
        const classOf = classIndexer(scorer.spec.classes);
        const batch = o.batch ?? 16;
        for (let s = 0; s < todo.length; s += batch) {
          const part = todo.slice(s, s + batch);
          const decoded = await Promise.all(
            part.map((r) =>
              decodeImage(bytes.get(r.key)!, {
                size: scorer.inputSize,
                segSize: scorer.segInputSize,
                maxInputPixels: limits.maxInputPixels,
                maxBytes: limits.maxBytes,
              }),
            ),
          );
          const ok = part.map((r, i) => ({ r, d: decoded[i]! })).filter((x) => x.d.ok);
          part.forEach((r, i) => {
            if (!decoded[i]!.ok) images.get(r.key)!.noMaps = 'the image no longer decodes';
          });
          if (!ok.length) continue;
          const scores = await scorer.scoreBatch(
            ok.map(({ r, d }) => ({
              rgb: (d as { rgb: Uint8Array }).rgb,
              segRgb: (d as { segRgb?: Uint8Array }).segRgb,
              key: r.key,
              label: classOf(r.label),
            })),
            { keepMaps: true },
          );
          await pool(
            ok.map((x, i) => ({ ...x, s: scores[i]! })),
            conc,
            async ({ r, d, s }) => {
              const img = images.get(r.key)!;
              if (!s.maps) {
                img.noMaps = 'the scorer returned no maps';
                return;
              }
              const t = await splitStrip(await overlayPng((d as { rgb: Uint8Array }).rgb, scorer.inputSize, s.maps));
              const stem = tileStem(r.key);
              for (const m of MAP_TILES) {
                if (m === 'attention' && !s.maps.attention) continue;
                img[m] = await put(`img/${stem}-${m[0]}.jpg`, t[m]);
              }
              if (!s.maps.attention) img.noMaps = 'this model has no attention map';
            },
          );
          await new Promise((res) => setImmediate(res));
        }
      } finally {
        scorer.dispose();
      }
    }
  }
  const mapsSource =
    fromWorkers.size && todo.length
      ? 'mixed'
      : fromWorkers.size
        ? 'worker overlays'
        : todo.length && !mapsNote
          ? 'recomputed'
          : 'none';
  return { images, mapsNote, mapsSource };
}
