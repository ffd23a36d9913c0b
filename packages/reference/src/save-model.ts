import { createHash } from 'node:crypto';
import { FsObjectStore } from '@overmap/shared';
import { objectStoreIO, tf } from '@overmap/engine';

/** Saves a TF.js Layers model as model.json + weights.bin in `dir`; returns the sha256 of both. */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<string> {
  const store = new FsObjectStore(dir);
  await model.save(objectStoreIO(store, 'model.json'));
  const weights = await store.get('weights.bin');
  return createHash('sha256')
    .update(await store.get('model.json'))
    .update(weights)
    .digest('hex');
}
