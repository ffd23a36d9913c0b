import {
  InputError,
  canonicalClass,
  canonicalUri,
  folderLabel,
  splitOf,
  isImageKey,
  loadConfig,
  parseLabelFile,
  parseUri,
  readLabelFile,
} from '@overmap/shared';

describe('parseUri', () => {
  it('parses s3, file and plain paths', () => {
    expect(parseUri('s3://my-bucket/a/b')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: 'a/b/' });
    expect(parseUri('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
    expect(parseUri('file:///tmp/x')).toEqual({ kind: 'file', root: '/tmp/x' });
    expect(parseUri('/tmp/y')).toEqual({ kind: 'file', root: '/tmp/y' });
    expect(canonicalUri('/tmp/y')).toBe('file:///tmp/y/');
  });
  it.each([
    ['s3://A_B/x', /not a valid S3 bucket name/],
    ['gs://b/x', /unsupported scheme/],
    ['', /empty/],
    ['s3://bucket/a/../b', /'\.\.'/],
  ])('rejects %j with a message that names the fix', (uri, msg) => {
    expect(() => parseUri(uri)).toThrow(InputError);
    expect(() => parseUri(uri)).toThrow(msg);
  });
});

describe('labels', () => {
  it('reads CSV with a header and quoted commas, and JSONL', () => {
    const csv = parseLabelFile('key,label\n"a,b.png",Coat\nc.png,Bag\n', 'labels.csv');
    expect([...csv]).toEqual([
      ['a,b.png', 'Coat'],
      ['c.png', 'Bag'],
    ]);
    const jsonl = parseLabelFile('{"key":"a.png","label":"Coat"}\n\n{"key":"b.png","label":3}\n', 'l.jsonl');
    expect([...jsonl]).toEqual([
      ['a.png', 'Coat'],
      ['b.png', '3'],
    ]);
  });
  it('reports keys given more than once, with every label in file order; the last one is used', () => {
    const csv = readLabelFile(
      'key,label\na.png,Coat\nb.png,Bag\na.png,Bag\nc.png,Bag\na.png,Coat\nc.png,Bag\n',
      'labels.csv',
    );
    expect([...csv.labels]).toEqual([
      ['a.png', 'Coat'],
      ['b.png', 'Bag'],
      ['c.png', 'Bag'],
    ]);
    expect(csv.duplicates).toEqual({
      keys: 2,
      examples: [
        { key: 'a.png', labels: ['Coat', 'Bag', 'Coat'] },
        { key: 'c.png', labels: ['Bag', 'Bag'] },
      ],
    });
    const jsonl = readLabelFile('{"key":"a.png","label":"Coat"}\n{"key":"a.png","label":3}\n', 'l.jsonl');
    expect(jsonl.duplicates).toEqual({ keys: 1, examples: [{ key: 'a.png', labels: ['Coat', '3'] }] });
    expect(readLabelFile('a.png,Coat\nb.png,Bag\n', 'l.csv').duplicates).toEqual({ keys: 0, examples: [] });
  });
  it('names the bad line', () => {
    expect(() => parseLabelFile('{"key":"a.png","label":"Coat"}\nnot json\n', 'l.jsonl')).toThrow(/line 2 is not JSON/);
    expect(() => parseLabelFile('a.png,Coat,extra\n', 'l.csv')).toThrow(/row 1 has 3 fields/);
  });
  it('canonicalises class spellings and folder labels', () => {
    expect(canonicalClass('T-shirt/top')).toBe(canonicalClass('tshirt_top'));
    expect(canonicalClass('Ankle boot')).toBe(canonicalClass('ankle-boot'));
    expect(folderLabel('coat/x.png')).toBe('coat');
    expect(folderLabel('x.png')).toBeNull();
    expect(folderLabel('train/coat/x.png')).toBe('coat');
    expect(folderLabel('Test/coat/sub/x.png')).toBe('coat');
    expect(folderLabel('coat/sub/x.png')).toBe('coat');
    expect([splitOf('train/coat/x.png'), splitOf('coat/sub/x.png'), splitOf('test/x.png')]).toEqual([
      'train',
      null,
      null,
    ]);
    expect(['a.JPG', 'b.tiff', 'c.avif'].every(isImageKey)).toBe(true);
    expect(['a.txt', 'b', 'jpg'].some(isImageKey)).toBe(false);
  });
});

describe('loadConfig', () => {
  it('lists every bad variable at once', () => {
    expect(() =>
      loadConfig({ REDIS_URL: 'http://x', OVERMAP_WORKER_CONCURRENCY: '0', OVERMAP_BACKEND: 'gpu' }),
    ).toThrow(
      /REDIS_URL.*OVERMAP_BACKEND.*OVERMAP_WORKER_CONCURRENCY|REDIS_URL.*OVERMAP_WORKER_CONCURRENCY.*OVERMAP_BACKEND/,
    );
  });
  it('applies defaults', () => {
    const c = loadConfig({});
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.OVERMAP_WORKER_CONCURRENCY).toBe(2);
  });
});
