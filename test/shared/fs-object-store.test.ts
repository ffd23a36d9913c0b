import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { FsObjectStore, InputError, ObjectTooLarge, PreconditionFailed, listAll } from '@overmap/shared';
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
