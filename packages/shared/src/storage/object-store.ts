/**
 * One object-store interface over S3 and the local filesystem. Keys are always relative
 * to the store's root (a bucket prefix or a directory) and use '/' separators.
 */
import type { Readable } from 'node:stream';

export interface ListedObject {
  key: string; // relative to the store root
  /** bytes, where the listing gives it without an extra call (S3 does; the filesystem listing does not stat) */
  size?: number;
}

export interface ListPage {
  objects: ListedObject[];
  /** Opaque resume token for the next page; undefined on the last page. */
  next?: string;
  /**
   * Keys in this page's range left out because their real path leaves the store (the
   * filesystem store: a symbolic link out of the folder or out of OVERMAP_ALLOWED_PREFIXES), in
   * listing order. Never listed, never read: reported so the caller can count them.
   */
  refused?: string[];
}

export interface PutOptions {
  contentType?: string;
  /** Create-once: fail with `PreconditionFailed` if the key exists (S3 If-None-Match: *). */
  ifNoneMatch?: boolean;
}

export interface GetOptions {
  /**
   * Refuse an object larger than this, before downloading it where its size is known, else while
   * streaming (ObjectTooLarge).
   */
  maxBytes?: number;
}

export interface ObjectStore {
  /** Human-readable URI of the root (s3://bucket/prefix/ or file:///dir/). */
  readonly uri: string;
  get(key: string, options?: GetOptions): Promise<Buffer>;
  /** Undefined when the key does not exist. */
  getIfExists(key: string): Promise<Buffer | undefined>;
  /**
   * Writes an object whole or not at all. A stream is consumed once, as the store takes it (a
   * file written through, S3 multipart parts), so a large object never has to be in memory; an
   * error from the stream fails the put with that error and leaves nothing at the key. Create-once
   * (`ifNoneMatch`) takes a Buffer or string.
   */
  put(key: string, body: Buffer | string | Readable, options?: PutOptions): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** One page of keys under `prefix` in lexicographic order, starting after `startAfter` or at token `next`. */
  listPage(prefix: string, options?: { next?: string; startAfter?: string; pageSize?: number }): Promise<ListPage>;
  /** Every object under `prefix` after `startAfter`, where the store has a native iterator (S3's paginator). */
  list?(prefix: string, startAfter?: string): AsyncIterable<ListedObject>;
  /** Checks that the root is reachable (bucket exists, directory readable). */
  check(): Promise<void>;
}

export class PreconditionFailed extends Error {
  constructor(key: string) {
    super(`object ${key} already exists`);
    this.name = 'PreconditionFailed';
  }
}

/**
 * Iterates all objects under a prefix, one page in memory at a time. `onRefused` hears of the
 * keys a page left out (ListPage.refused) before that page's objects are yielded.
 */
export async function* listAll(
  store: ObjectStore,
  prefix = '',
  startAfter?: string,
  onRefused?: (key: string) => void,
): AsyncGenerator<ListedObject> {
  if (store.list) {
    yield* store.list(prefix, startAfter);
    return;
  }
  let next: string | undefined;
  let first = true;
  while (first || next) {
    const page = await store.listPage(prefix, first ? { startAfter } : { next });
    first = false;
    if (onRefused) for (const k of page.refused ?? []) onRefused(k);
    yield* page.objects;
    next = page.next;
  }
}
