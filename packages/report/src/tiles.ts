/**
 * The pictures on the cards, for just the records shown: a thumbnail of the dataset image
 * (sharp), and its Grad-CAM, attention and mask overlays. The overlays are the worker's
 * overlay strip (image | Grad-CAM | attention | mask contour): taken from the run's results
 * where the workers wrote it (`--overlays`), else recomputed by the run's own scorer with
 * keepMaps (the same model, checked by its hash), so a report shows maps for any run.
 * Captions are the page's, never burnt into the pixels.
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import sharp from 'sharp';
import {
  type ImageRecord,
  type ObjectStore,
  type RunJson,
  type RunResults,
  classIndexer,
  DEFAULT_IMAGE_LIMITS,
  isScored,
  openStore,
} from '@overmap/shared';
import { type LoadedSpec, OverMapScorer, initBackend, loadSpec, scoreImages } from '@overmap/engine';

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

type Put = (name: string, body: Buffer) => Promise<string>;
type Limit = ReturnType<typeof pLimit>;

/** Thumbnails; returns the bytes kept for the maps (scorable records only, with --images maps). */
async function writeThumbs(
  records: ImageRecord[],
  dataset: ObjectStore,
  images: Map<string, CardImages>,
  o: TileOptions & { put: Put; limit: Limit },
): Promise<Map<string, Buffer>> {
  const maxInputPixels = (o.limits ?? DEFAULT_IMAGE_LIMITS).maxInputPixels;
  const bytes = new Map<string, Buffer>();
  const thumb = async (r: ImageRecord) => {
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
      const img = sharp(b, { limitInputPixels: maxInputPixels, failOn: 'error', pages: 1 }).rotate();
      images.set(r.key, { thumb: await o.put(`img/${tileStem(r.key)}-t.jpg`, await jpeg(img)) });
      if (o.images === 'maps' && isScored(r.status)) bytes.set(r.key, b);
    } catch (e) {
      images.set(r.key, { missing: `cannot show ${r.key}: ${(e as Error).message}` });
    }
  };
  await Promise.all(records.map((r) => o.limit(() => thumb(r))));
  return bytes;
}

/** The map tiles cut from the workers' overlay strips, where the records name one; returns the keys done. */
async function copyWorkerOverlays(
  records: ImageRecord[],
  results: RunResults,
  images: Map<string, CardImages>,
  o: { put: Put; limit: Limit },
): Promise<Set<string>> {
  const done = new Set<string>();
  const copy = async (r: ImageRecord) => {
    const strip = await results.store.getIfExists(r.overlay!).catch(() => undefined);
    if (!strip) return;
    const t = await splitStrip(strip);
    const stem = tileStem(r.key);
    for (const m of MAP_TILES) images.get(r.key)![m] = await o.put(`img/${stem}-${m[0]}.jpg`, t[m]);
    done.add(r.key);
  };
  await Promise.all(records.map((r) => o.limit(() => copy(r))));
  return done;
}

/** The maps recomputed by the run's scorer (the engine's scoreImages), `batch` images at a time. */
async function recomputeMaps(
  todo: ImageRecord[],
  scorer: OverMapScorer,
  bytes: Map<string, Buffer>,
  images: Map<string, CardImages>,
  o: TileOptions & { put: Put; limit: Limit },
): Promise<void> {
  const classOf = classIndexer(scorer.spec.classes);
  const limits = o.limits ?? DEFAULT_IMAGE_LIMITS;
  const batch = o.batch ?? 16;
  for (let s = 0; s < todo.length; s += batch) {
    const part = todo.slice(s, s + batch);
    const cardOf = (i: number) => images.get(part[i]!.key)!;
    await scoreImages(
      scorer,
      part.map((r) => ({ key: r.key, label: classOf(r.label), read: async () => bytes.get(r.key)! })),
      {
        limit: o.limit,
        ...limits,
        microBatch: batch,
        keepMaps: true,
        onFailed: (i) => (cardOf(i).noMaps = 'the image no longer decodes'),
        onScored: (i, score) => {
          if (!score.maps) cardOf(i).noMaps = 'the scorer returned no maps';
          return !!score.maps;
        },
        onOverlay: async (i, png, maps) => {
          const img = cardOf(i);
          const t = await splitStrip(png);
          const stem = tileStem(part[i]!.key);
          for (const m of MAP_TILES) {
            if (m === 'attention' && !maps.attention) continue;
            img[m] = await o.put(`img/${stem}-${m[0]}.jpg`, t[m]);
          }
          if (!maps.attention) img.noMaps = 'this model has no attention map';
        },
      },
    );
    await new Promise((res) => setImmediate(res));
  }
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
  const put: Put = async (name, body) => {
    await out.put(name, body, { contentType: 'image/jpeg' });
    return name;
  };
  const io = { ...o, put, limit: pLimit(o.concurrency ?? 8) };
  const bytes = await writeThumbs(records, dataset, images, io);
  if (o.images !== 'maps') return { images, mapsNote: 'maps left out (--images thumbs)', mapsSource: 'none' };

  // Maps: the workers' overlays where the records name one, else recomputed.
  const fromWorkers = await copyWorkerOverlays(
    records.filter((r) => r.overlay && bytes.has(r.key)),
    results,
    images,
    io,
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
        await recomputeMaps(todo, scorer, bytes, images, io);
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
