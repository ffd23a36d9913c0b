/**
 * The local-filesystem object store (file:// URIs and plain paths). Writes go to a
 * temporary file and are renamed into place, so a reader never sees half an object and a
 * crash never leaves one. A key that would escape the root is refused.
 */
import { createWriteStream, promises as fs, constants as fsc } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InputError, NotFoundError, ObjectTooLarge } from '../errors';
import { type GetOptions, type ListPage, type ObjectStore, type PutOptions, PreconditionFailed } from './object-store';

export class FsObjectStore implements ObjectStore {
  readonly uri: string;
  constructor(readonly root: string) {
    this.root = path.resolve(root);
    this.uri = `file://${this.root}/`;
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
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(this.resolve(key), 'r');
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
    try {
      return await fs.readFile(this.resolve(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, body: Buffer | string | Readable, options: PutOptions = {}): Promise<void> {
    const full = this.resolve(key);
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

  /** A symbolic link to a file counts as that file (datasets built of links are common); links to directories are not followed. */
  private async linksToFile(key: string): Promise<boolean> {
    return fs.stat(this.resolve(key)).then(
      (st) => st.isFile(),
      () => false,
    );
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fs.access(this.resolve(key), fsc.R_OK);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Lists in the same lexicographic order as S3 by walking directories sorted by name
   * (a directory sorts as its name + '/'). The whole tree under the prefix is walked
   * lazily; the page token is the last key returned.
   */
  async listPage(
    prefix: string,
    options: { next?: string; startAfter?: string; pageSize?: number } = {},
  ): Promise<ListPage> {
    const pageSize = options.pageSize ?? 1000;
    const after = options.next ?? options.startAfter ?? '';
    const objects: ListPage['objects'] = [];
    const dirPrefix = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const walk = async (rel: string): Promise<boolean> => {
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
          if (!(await walk(key))) return false;
        } else if (
          (d.isFile() || (d.isSymbolicLink() && (await this.linksToFile(key)))) &&
          key.startsWith(prefix) &&
          key > after
        ) {
          if (objects.length === pageSize) return false;
          objects.push({ key });
        }
      }
      return true;
    };
    const done = await walk(dirPrefix);
    return { objects, next: done ? undefined : objects[objects.length - 1]?.key };
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
  }
}
