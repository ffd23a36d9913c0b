/**
 * Dataset and results URIs: s3://bucket/prefix/, file:///abs/dir/, or a plain path.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors';
import { FsObjectStore, type FsStoreOptions } from './fs-object-store';
import type { ObjectStore } from './object-store';
import { S3ObjectStore, type S3StoreOptions } from './s3-object-store';

export type ParsedUri = { kind: 's3'; bucket: string; prefix: string } | { kind: 'file'; root: string };

export function parseUri(uri: string, what = 'URI'): ParsedUri {
  if (typeof uri !== 'string' || uri.trim() === '')
    throw new InputError(`empty ${what}: give s3://bucket/prefix/, file:///dir/ or a path`);
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(uri);
  if (!m) return { kind: 'file', root: path.resolve(uri) };
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'file') {
    try {
      return { kind: 'file', root: fileURLToPath(uri) };
    } catch {
      throw new InputError(`malformed ${what} ${uri}: a file URI is file:///absolute/path`);
    }
  }
  if (scheme === 's3') {
    const rest = uri.slice(5);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    let prefix = slash < 0 ? '' : rest.slice(slash + 1);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new InputError(
        `malformed ${what} ${uri}: "${bucket}" is not a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')`,
      );
    }
    if (prefix.split('/').includes('..'))
      throw new InputError(`malformed ${what} ${uri}: '..' is not allowed in a prefix`);
    if (prefix && !prefix.endsWith('/')) prefix += '/';
    return { kind: 's3', bucket, prefix };
  }
  throw new InputError(`unsupported scheme in ${what} ${uri}: use s3://, file:// or a plain path`);
}

/**
 * S3's options, and the filesystem's: `allowed` (OVERMAP_ALLOWED_PREFIXES) also bounds where a
 * local key's links may lead.
 */
export type StoreOptions = S3StoreOptions & FsStoreOptions;

export function openStore(uri: string, options: StoreOptions = {}, what = 'URI'): ObjectStore {
  const p = parseUri(uri, what);
  const { allowed, ...s3 } = options;
  return p.kind === 's3' ? new S3ObjectStore(p.bucket, p.prefix, s3) : new FsObjectStore(p.root, { allowed });
}

/** Canonical form of a URI (used in run ids and records). */
export function canonicalUri(uri: string): string {
  const p = parseUri(uri);
  return p.kind === 's3' ? `s3://${p.bucket}/${p.prefix}` : `file://${p.root.replace(/\/?$/, '/')}`;
}

/** Whether a string is an absolute URI or path (else it is relative to something). */
export const isAbsoluteUri = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith('/');

/**
 * One object named by a URI (s3://bucket/dir/file, file:///dir/file or a path): the store of
 * its folder and its key there. A local one is not confined to its folder: whoever names the
 * object (a label file, a model spec and the files beside it) could name a link's target as
 * well, so links lead where they lead, as the operator made them.
 */
export function openObject(uri: string, what = 'URI'): { store: ObjectStore; key: string } {
  const p = parseUri(uri, what);
  if (p.kind === 'file')
    return { store: new FsObjectStore(path.dirname(p.root), { confined: false }), key: path.basename(p.root) };
  const full = p.prefix.replace(/\/$/, '');
  const slash = full.lastIndexOf('/');
  if (!full) throw new InputError(`${what} ${uri} names a bucket, not an object: give s3://bucket/path/to/file`);
  return { store: new S3ObjectStore(p.bucket, full.slice(0, slash + 1)), key: full.slice(slash + 1) };
}
