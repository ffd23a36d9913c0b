/**
 * The local-filesystem object store (file:// URIs and plain paths). Writes go to a
 * temporary file and are renamed into place, so a reader never sees half an object and a
 * crash never leaves one. A key that would escape the root is refused: literally ('..', an
 * absolute key) and by its real path, symbolic links followed (fs.realpath), which must lie
 * inside the root's real path and, with an allow-list (OVERMAP_ALLOWED_PREFIXES), under one of
 * its folders' real paths. A link that stays inside works as the file it names; a listing
 * leaves out (and reports) links that lead out; reading or writing through one throws
 * OutsideStoreError.
 */
import { createWriteStream, promises as fs, constants as fsc } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InputError, NotFoundError, ObjectTooLarge, OutsideStoreError } from '../errors';
import { type GetOptions, type ListPage, type ObjectStore, type PutOptions, PreconditionFailed } from './object-store';

export interface FsStoreOptions {
  /** OVERMAP_ALLOWED_PREFIXES, parsed (canonical URIs); where not empty, a key's real path must lie under one of its file:// folders */
  allowed?: readonly string[];
  /** false: links lead where they lead (the folder of one object named by its URI, see openObject); default true */
  confined?: boolean;
}

/** The real path of p, as far as it exists (the missing tail appended as it is). */
async function realPathSoFar(p: string): Promise<string> {
  try {
    return await fs.realpath(p);
  } catch (e) {
    const parent = path.dirname(p);
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === p) throw e;
    return path.join(await realPathSoFar(parent), path.basename(p));
  }
}

/** Reads open the checked real path, refusing a link swapped in for its last component since (ELOOP). */
const READ_FLAGS = fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0);

const within = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

/** The real folders a key's real path must lie in: the root's, and one of the allow-list's (null: no allow-list). */
interface Bounds {
  root: string;
  allowed: string[] | null;
}

export class FsObjectStore implements ObjectStore {
  readonly uri: string;
  private bounds?: Promise<Bounds>;
  constructor(
    readonly root: string,
    private readonly options: FsStoreOptions = {},
  ) {
    this.root = path.resolve(root);
    this.uri = `file://${this.root}/`;
  }

  private realBounds(): Promise<Bounds> {
    this.bounds ??= (async () => {
      const allowed = this.options.allowed?.length
        ? await Promise.all(
            this.options.allowed
              .filter((p) => p.startsWith('file://'))
              .map((p) => realPathSoFar(p.slice('file://'.length))),
          )
        : null;
      return { root: await realPathSoFar(this.root), allowed };
    })();
    this.bounds.catch(() => {
      this.bounds = undefined;
    });
    return this.bounds;
  }

  /** Why a real path is out of bounds, or undefined when it is inside them. */
  private outside(key: string, real: string, b: Bounds): string | undefined {
    if (this.options.confined === false) return undefined;
    if (!within(real, b.root)) {
      return `refused object key ${JSON.stringify(key)}: its real path ${real} is outside ${this.root} (a symbolic link leads out): copy the file into the folder instead of linking to it`;
    }
    if (b.allowed && !b.allowed.some((d) => within(real, d))) {
      return `refused object key ${JSON.stringify(key)}: its real path ${real} is outside OVERMAP_ALLOWED_PREFIXES (${this.options.allowed!.join(', ')}): copy the file under an allowed prefix instead of linking to it`;
    }
    return undefined;
  }

  /** The real path of an existing key, inside the bounds (else OutsideStoreError); undefined for a missing key. */
  private async realOf(key: string): Promise<string | undefined> {
    const full = this.resolve(key);
    let real: string;
    try {
      real = await fs.realpath(full);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw e;
    }
    const why = this.outside(key, real, await this.realBounds());
    if (why) throw new OutsideStoreError(why);
    return real;
  }

  /** Absolute path for a key; refuses absolute keys and any key that resolves outside the root. */
  resolve(key: string): string {
    if (key.includes('\0') || path.isAbsolute(key) || key.split(/[\\/]/).includes('..')) {
      throw new InputError(
        `refused object key ${JSON.stringify(key)}: keys must be relative and must not contain '..'`,
      );
    }
    const full = path.resolve(this.root, key);
    if (full !== this.root && !full.startsWith(this.root + path.sep)) {
      throw new InputError(`refused object key ${JSON.stringify(key)}: it resolves outside ${this.root}`);
    }
    return full;
  }

  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    if (options.maxBytes === undefined) {
      const b = await this.getIfExists(key);
      if (!b) throw new NotFoundError(`no object ${key} under ${this.uri}`);
      return b;
    }
    // One open file: its size checked on the handle, then read (no separate stat of the path).
    const real = await this.realOf(key);
    if (!real) throw new NotFoundError(`no object ${key} under ${this.uri}`);
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(real, READ_FLAGS);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`no object ${key} under ${this.uri}`);
      throw e;
    }
    try {
      const { size } = await fh.stat();
      if (size > options.maxBytes) throw new ObjectTooLarge(key, size, options.maxBytes);
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  async getIfExists(key: string): Promise<Buffer | undefined> {
    const real = await this.realOf(key);
    if (!real) return undefined;
    try {
      return await fs.readFile(real, { flag: READ_FLAGS });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, body: Buffer | string | Readable, options: PutOptions = {}): Promise<void> {
    const full = this.resolve(key);
    // The folder it goes in, as far as it exists, must really be inside (the key itself may be a
    // link: the rename replaces the link, never writes through it).
    const why = this.outside(
      key,
      path.join(await realPathSoFar(path.dirname(full)), path.basename(full)),
      await this.realBounds(),
    );
    if (why) throw new OutsideStoreError(why);
    await fs.mkdir(path.dirname(full), { recursive: true });
    const tmp = `${full}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      if (typeof body === 'string' || Buffer.isBuffer(body)) await fs.writeFile(tmp, body);
      else await pipeline(body, createWriteStream(tmp));
      if (options.ifNoneMatch) {
        // link() fails if the target exists: an atomic create-once.
        try {
          await fs.link(tmp, full);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new PreconditionFailed(key);
          throw e;
        }
      } else {
        await fs.rename(tmp, full);
      }
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /**
   * A symbolic link to a file counts as that file (datasets built of links are common): its real
   * path, or undefined for a broken link or a link to a directory (links to directories are not followed).
   */
  private async linkedFile(key: string): Promise<string | undefined> {
    try {
      const real = await fs.realpath(this.resolve(key));
      return (await fs.stat(real)).isFile() ? real : undefined;
    } catch {
      return undefined;
    }
  }

  /** False for a key that does not exist, cannot be read, or whose real path is out of bounds. */
  async exists(key: string): Promise<boolean> {
    try {
      const real = await this.realOf(key);
      if (!real) return false;
      await fs.access(real, fsc.R_OK);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Lists in the same lexicographic order as S3 by walking directories sorted by name
   * (a directory sorts as its name + '/'). The whole tree under the prefix is walked
   * lazily; the page token is the last key returned. Keys whose real path is out of bounds
   * (links out of the folder) are not listed but returned in `refused`, and count towards
   * the page size, so that a tree of such links is still walked a page at a time.
   */
  async listPage(
    prefix: string,
    options: { next?: string; startAfter?: string; pageSize?: number } = {},
  ): Promise<ListPage> {
    const pageSize = options.pageSize ?? 1000;
    const after = options.next ?? options.startAfter ?? '';
    const objects: ListPage['objects'] = [];
    const refused: string[] = [];
    let last = '';
    const dirPrefix = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const bounds = await this.realBounds();
    let startReal: string;
    try {
      startReal = await fs.realpath(dirPrefix ? this.resolve(dirPrefix) : this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
        return { objects };
      throw e;
    }
    // The prefix's folder reached through a link out of the store: nothing under it is listed.
    if (dirPrefix && this.outside(dirPrefix, startReal, bounds)) return { objects, refused: [dirPrefix] };
    /** A key in the page (listed or refused); false once the page is full. */
    const take = (key: string, out: boolean): boolean => {
      if (objects.length + refused.length === pageSize) return false;
      if (out) refused.push(key);
      else objects.push({ key });
      last = key;
      return true;
    };
    // `real`: the directory's real path (its subdirectories are real ones, never links, so theirs follow by name).
    const walk = async (rel: string, real: string): Promise<boolean> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(rel ? this.resolve(rel) : this.root, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
          return true;
        throw e;
      }
      const named = entries
        .filter((d) => !d.name.endsWith('.tmp'))
        .map((d) => ({ d, sortKey: d.isDirectory() ? `${d.name}/` : d.name }))
        .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
      for (const { d, sortKey } of named) {
        const key = rel + sortKey;
        if (d.isDirectory()) {
          // Skip subtrees that cannot hold a key > after or that do not match the prefix.
          if (!(key.startsWith(prefix) || prefix.startsWith(key))) continue;
          if (after && !after.startsWith(key) && key < after) continue;
          if (!(await walk(key, path.join(real, d.name)))) return false;
        } else if (key.startsWith(prefix) && key > after && (d.isFile() || d.isSymbolicLink())) {
          const fileReal = d.isFile() ? path.join(real, d.name) : await this.linkedFile(key);
          if (fileReal === undefined) continue;
          if (!take(key, this.outside(key, fileReal, bounds) !== undefined)) return false;
        }
      }
      return true;
    };
    const done = await walk(dirPrefix, startReal);
    return { objects, next: done ? undefined : last || undefined, ...(refused.length ? { refused } : {}) };
  }

  async check(): Promise<void> {
    try {
      const st = await fs.stat(this.root);
      if (!st.isDirectory())
        throw new InputError(`${this.uri} is not a directory: give a directory path or file:// URI`);
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(
        `cannot read ${this.uri} (${(e as NodeJS.ErrnoException).code ?? e}): check the path exists`,
      );
    }
    // A folder that is (or lies in) a link out of the allow-list: refused at once, not key by key.
    const b = await this.realBounds();
    if (this.options.confined !== false && b.allowed && !b.allowed.some((d) => within(b.root, d))) {
      throw new OutsideStoreError(
        `${this.uri} is really ${b.root} (symbolic links followed), outside OVERMAP_ALLOWED_PREFIXES (${this.options.allowed!.join(', ')}): move the data under an allowed prefix, or add ${b.root}/ to the list`,
      );
    }
  }
}
