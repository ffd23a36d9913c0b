import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import {
  FsObjectStore,
  InputError,
  NotFoundError,
  ObjectTooLarge,
  OutsideStoreError,
  PreconditionFailed,
  listAll,
  openObject,
  parseAllowedPrefixes,
} from '@overmap/shared';
import { tmpDir } from '../helpers/services';

describe('FsObjectStore', () => {
  let root: string;
  let store: FsObjectStore;
  beforeEach(async () => {
    root = await tmpDir();
    store = new FsObjectStore(root);
  });
  afterEach(() => fs.rm(root, { recursive: true, force: true }));

  it.each(['../escape.txt', 'a/../../escape.txt', '/etc/passwd', 'a/..', 'x\0y'])('refuses the key %j', async (key) => {
    await expect(store.put(key, 'x')).rejects.toThrow(InputError);
    await expect(store.get(key)).rejects.toThrow(InputError);
    await expect(fs.access(path.join(root, '..', 'escape.txt'))).rejects.toThrow();
  });

  it('lists in S3 order (byte order of full keys, across directories), paginated', async () => {
    const keys = ['a-b.png', 'a/x.png', 'a/y/z.png', 'ab.png', 'b.png', 'a0.png'];
    for (const k of keys) await store.put(k, k);
    const listed: string[] = [];
    for await (const o of listAll(store)) listed.push(o.key);
    expect(listed).toEqual([...keys].sort());
    const p1 = await store.listPage('', { pageSize: 2 });
    expect(p1.objects.map((o) => o.key)).toEqual([...keys].sort().slice(0, 2));
    const p2 = await store.listPage('', { pageSize: 2, next: p1.next });
    expect(p2.objects.map((o) => o.key)).toEqual([...keys].sort().slice(2, 4));
  });

  it('lists a link to a file as that file, and skips broken links and links to directories', async () => {
    const root = await tmpDir();
    try {
      await fs.mkdir(path.join(root, 'real'));
      await fs.writeFile(path.join(root, 'real', 'a.png'), 'A');
      await fs.symlink(path.join(root, 'real', 'a.png'), path.join(root, 'link.png'));
      await fs.symlink(path.join(root, 'missing.png'), path.join(root, 'broken.png'));
      await fs.symlink(path.join(root, 'real'), path.join(root, 'dirlink'));
      const s = new FsObjectStore(root);
      const listed: string[] = [];
      for await (const o of listAll(s)) listed.push(o.key);
      expect(listed).toEqual(['link.png', 'real/a.png']);
      expect((await s.get('link.png')).toString()).toBe('A');
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('refuses a file over maxBytes before reading it', async () => {
    await store.put('size/big.bin', Buffer.alloc(2049));
    await expect(store.get('size/big.bin', { maxBytes: 2048 })).rejects.toThrow(ObjectTooLarge);
    expect((await store.get('size/big.bin', { maxBytes: 2049 })).length).toBe(2049);
  });

  it('lists 2,500 keys exactly once across pages', async () => {
    const keys = Array.from({ length: 2500 }, (_, i) => `d${i % 7}/img${String(i).padStart(5, '0')}.jpg`);
    await Promise.all(keys.map((k) => store.put(k, '')));
    const listed: string[] = [];
    for await (const o of listAll(store)) listed.push(o.key);
    expect(listed).toEqual([...keys].sort());
  });

  it('create-once refuses to overwrite and leaves the first object intact', async () => {
    await store.put('manifest.json', 'first', { ifNoneMatch: true });
    await expect(store.put('manifest.json', 'second', { ifNoneMatch: true })).rejects.toThrow(PreconditionFailed);
    expect((await store.get('manifest.json')).toString()).toBe('first');
    expect((await fs.readdir(root)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('overwrites a part file in place: a retried batch leaves one file', async () => {
    await store.put('parts/batch-000001.jsonl', 'attempt 1');
    await store.put('parts/batch-000001.jsonl', 'attempt 2');
    expect(await fs.readdir(path.join(root, 'parts'))).toEqual(['batch-000001.jsonl']);
    expect((await store.get('parts/batch-000001.jsonl')).toString()).toBe('attempt 2');
  });

  it('writes a stream through to the file, and a stream that fails leaves neither the object nor a temporary file', async () => {
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(64 * 1024 + i, i));
    await store.put('records/part-00000.parquet', Readable.from(chunks));
    expect((await store.get('records/part-00000.parquet')).equals(Buffer.concat(chunks))).toBe(true);

    async function* failing(): AsyncGenerator<Buffer> {
      yield* chunks.slice(0, 10);
      throw new Error('key a.png appears in two part files');
    }
    await expect(store.put('records/part-00001.parquet', Readable.from(failing()))).rejects.toThrow(
      'appears in two part files',
    );
    expect(await store.exists('records/part-00001.parquet')).toBe(false);
    expect((await fs.readdir(path.join(root, 'records'))).sort()).toEqual(['part-00000.parquet']);
  });

  it('check() names a missing directory', async () => {
    await expect(new FsObjectStore(path.join(root, 'missing')).check()).rejects.toThrow(
      /cannot read file:\/\/.*missing/,
    );
  });
});

describe('FsObjectStore: links out of the folder', () => {
  let ds: string, outside: string, store: FsObjectStore;
  beforeAll(async () => {
    outside = await tmpDir('overmap-outside-');
    await fs.writeFile(path.join(outside, 'secret.png'), 'SECRET');
    ds = await tmpDir();
    await fs.mkdir(path.join(ds, 'cat'));
    await fs.writeFile(path.join(ds, 'cat', 'a.png'), 'A');
    await fs.symlink(path.join(ds, 'cat', 'a.png'), path.join(ds, 'cat', 'inside.png')); // stays inside: works
    await fs.symlink('cat/a.png', path.join(ds, 'rel.png')); // relative, inside
    await fs.symlink(path.join(outside, 'secret.png'), path.join(ds, 'cat', 'out.png')); // a file outside
    await fs.symlink(outside, path.join(ds, 'outdir')); // a directory outside
    await fs.symlink(path.join(ds, 'outdir', 'secret.png'), path.join(ds, 'cat', 'hop.png')); // out by way of the directory link
    store = new FsObjectStore(ds);
  });
  afterAll(async () => {
    await fs.rm(ds, { recursive: true, force: true });
    await fs.rm(outside, { recursive: true, force: true });
  });
  const refusal = (key: string) =>
    `refused object key ${JSON.stringify(key)}: its real path ${path.join(outside, 'secret.png')} is outside ${ds} (a symbolic link leads out): copy the file into the folder instead of linking to it`;

  it('lists the links that stay inside, and reports (never lists) those that lead out', async () => {
    expect(await store.listPage('')).toEqual({
      objects: [{ key: 'cat/a.png' }, { key: 'cat/inside.png' }, { key: 'rel.png' }],
      refused: ['cat/hop.png', 'cat/out.png'],
    });
    const listed: string[] = [],
      refused: string[] = [];
    for await (const o of listAll(store, '', undefined, (k) => refused.push(k))) listed.push(o.key);
    expect([listed, refused]).toEqual([
      ['cat/a.png', 'cat/inside.png', 'rel.png'],
      ['cat/hop.png', 'cat/out.png'],
    ]);
    // Refused keys take their place in the pages, so a folder of nothing but links out is still paged.
    const p1 = await store.listPage('', { pageSize: 2 });
    expect(p1).toEqual({ objects: [{ key: 'cat/a.png' }], refused: ['cat/hop.png'], next: 'cat/hop.png' });
    expect(await store.listPage('', { pageSize: 2, next: p1.next })).toEqual({
      objects: [{ key: 'cat/inside.png' }],
      refused: ['cat/out.png'],
      next: 'cat/out.png',
    });
    expect(await store.listPage('outdir/')).toEqual({ objects: [], refused: ['outdir/'] });
  });

  it('never reads through a link out: OutsideStoreError, whichever way the key is read', async () => {
    for (const key of ['cat/out.png', 'cat/hop.png', 'outdir/secret.png']) {
      await expect(store.get(key)).rejects.toThrow(new OutsideStoreError(refusal(key)));
      await expect(store.get(key, { maxBytes: 1024 })).rejects.toThrow(OutsideStoreError);
      await expect(store.getIfExists(key)).rejects.toThrow(OutsideStoreError);
      expect(await store.exists(key)).toBe(false);
    }
    expect(new OutsideStoreError('x')).toBeInstanceOf(InputError); // a worker makes it the image's read_error record
    expect((await store.get('cat/inside.png')).toString()).toBe('A');
    expect((await store.get('rel.png', { maxBytes: 1024 })).toString()).toBe('A');
    expect(await store.exists('cat/inside.png')).toBe(true);
    await expect(store.get('cat/missing.png')).rejects.toThrow(NotFoundError);
  });

  it('never writes through a directory link out', async () => {
    await expect(store.put('outdir/new.txt', 'x')).rejects.toThrow(OutsideStoreError);
    await expect(store.put('outdir/deeper/new.txt', 'x')).rejects.toThrow(OutsideStoreError);
    expect((await fs.readdir(outside)).sort()).toEqual(['secret.png']);
    await store.put('cat/new.txt', 'x'); // inside: as before
    expect((await store.get('cat/new.txt')).toString()).toBe('x');
  });

  it('one object named by its URI (a label file, a model spec) is read wherever its link leads, as before', async () => {
    const { store: s, key } = openObject(path.join(ds, 'cat', 'out.png'));
    expect((await s.get(key)).toString()).toBe('SECRET');
  });

  it('with OVERMAP_ALLOWED_PREFIXES: a folder that is really elsewhere is refused; an allowed prefix is taken by its real path', async () => {
    const base = await tmpDir();
    try {
      await fs.mkdir(path.join(base, 'allowed'));
      await fs.mkdir(path.join(base, 'elsewhere'));
      await fs.writeFile(path.join(base, 'elsewhere', 'x.png'), 'X');
      await fs.symlink(path.join(base, 'elsewhere'), path.join(base, 'allowed', 'ds'));
      const allowed = parseAllowedPrefixes(`s3://bucket/,${path.join(base, 'allowed')}`);
      const s = new FsObjectStore(path.join(base, 'allowed', 'ds'), { allowed });
      const list = `s3://bucket/, file://${path.join(base, 'allowed')}/`;
      await expect(s.check()).rejects.toThrow(
        new OutsideStoreError(
          `file://${path.join(base, 'allowed', 'ds')}/ is really ${path.join(base, 'elsewhere')} (symbolic links followed), outside OVERMAP_ALLOWED_PREFIXES (${list}): move the data under an allowed prefix, or add ${path.join(base, 'elsewhere')}/ to the list`,
        ),
      );
      await expect(s.get('x.png')).rejects.toThrow(
        new OutsideStoreError(
          `refused object key "x.png": its real path ${path.join(base, 'elsewhere', 'x.png')} is outside OVERMAP_ALLOWED_PREFIXES (${list}): copy the file under an allowed prefix instead of linking to it`,
        ),
      );
      expect(await s.listPage('')).toEqual({ objects: [], refused: ['x.png'] });
      await expect(s.put('y.png', 'Y')).rejects.toThrow(OutsideStoreError);
      // The same folder without the allow-list: its own files (inside its real path) are fine.
      expect((await new FsObjectStore(path.join(base, 'allowed', 'ds')).get('x.png')).toString()).toBe('X');
      // An allowed prefix that is itself a link: what lies under its real path is allowed.
      await fs.symlink(path.join(base, 'elsewhere'), path.join(base, 'alias'));
      const viaAlias = new FsObjectStore(path.join(base, 'allowed', 'ds'), {
        allowed: parseAllowedPrefixes(path.join(base, 'alias')),
      });
      await viaAlias.check();
      expect((await viaAlias.get('x.png')).toString()).toBe('X');
    } finally {
      await fs.rm(base, { recursive: true, force: true });
    }
  });
});
