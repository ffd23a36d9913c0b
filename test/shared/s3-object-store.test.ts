import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { Readable } from 'node:stream';
import {
  InputError,
  NotFoundError,
  ObjectTooLarge,
  S3ObjectStore,
  listAll,
  makeS3Client,
  openStore,
} from '@overmap/shared';
import { type S3Server, startS3 } from '../helpers/services';

let s3: S3Server;
beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  process.env.AWS_REGION = 'us-east-1';
  s3 = await startS3(['data', 'results']);
});
afterAll(() => s3.stop());

describe('S3ObjectStore against a real S3 API server', () => {
  it('round-trips objects and reports missing keys as undefined', async () => {
    const store = new S3ObjectStore('results', 'run1/', { endpoint: s3.endpoint });
    await store.put('a/b.json', '{"x":1}');
    expect((await store.get('a/b.json')).toString()).toBe('{"x":1}');
    expect(await store.getIfExists('nope')).toBeUndefined();
    expect(await store.exists('a/b.json')).toBe(true);
    expect(await store.exists('nope')).toBe(false);
  });

  it('refuses an object over maxBytes by its Content-Length, and reads one at the limit', async () => {
    const store = new S3ObjectStore('data', 'sizes/', { endpoint: s3.endpoint });
    await store.put('big.bin', Buffer.alloc(100_001, 7));
    await store.put('ok.bin', Buffer.alloc(100_000, 7));
    await expect(store.get('big.bin', { maxBytes: 100_000 })).rejects.toThrow(ObjectTooLarge);
    await expect(store.get('big.bin', { maxBytes: 100_000 })).rejects.toThrow(
      /big.bin is 100001 bytes, over the 100000-byte limit/,
    );
    expect((await store.get('ok.bin', { maxBytes: 100_000 })).length).toBe(100_000);
    await expect(store.get('none.bin', { maxBytes: 10 })).rejects.toThrow(NotFoundError);
  });

  it('lists more than 1,000 keys across pages, in order, exactly once each', async () => {
    const store = new S3ObjectStore('data', 'many/', { endpoint: s3.endpoint });
    const keys = Array.from({ length: 1234 }, (_, i) => `k${String(i).padStart(5, '0')}.png`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, 'x')));
    const first = await store.listPage('');
    expect(first.objects).toHaveLength(1000);
    expect(first.next).toBeDefined();
    const listed: string[] = [];
    for await (const o of listAll(store)) listed.push(o.key);
    expect(listed).toEqual(keys);
    // resuming after a key lists only what follows it
    const after: string[] = [];
    for await (const o of listAll(store, '', keys[1099])) after.push(o.key);
    expect(after).toEqual(keys.slice(1100));
  });

  /** A store whose client records the name of every S3 command it sends (what reached the server). */
  function countingStore(
    prefix: string,
    o: { multipartThreshold?: number; partSize?: number } = {},
  ): { store: S3ObjectStore; sent: string[] } {
    const client = makeS3Client({ endpoint: s3.endpoint });
    const sent: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name: 'countCommands' },
    );
    return { store: new S3ObjectStore('results', prefix, { client, ...o }), sent };
  }
  const count = (sent: string[], name: string) => sent.filter((c) => c === name).length;

  it('uploads a Buffer above the 8 MiB threshold as a multipart upload of 8 MiB parts, byte-identical; a small one is one PUT', async () => {
    const { store, sent } = countingStore('multipart/');
    const big = randomBytes(17 * 1024 * 1024 + 5);
    await store.put('big.parquet', big, { contentType: 'application/vnd.apache.parquet' });
    expect(sent).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
    ]);
    expect((await store.get('big.parquet')).equals(big)).toBe(true);

    sent.length = 0;
    const small = randomBytes(8 * 1024 * 1024); // at the threshold: still one PUT
    await store.put('small.bin', small);
    expect(sent).toEqual(['PutObjectCommand']);
    expect((await store.get('small.bin')).equals(small)).toBe(true);
  });

  it('uploads a stream in parts as it is produced, byte-identical; a stream smaller than one part is one PUT', async () => {
    const { store, sent } = countingStore('stream/', { partSize: 5 * 1024 * 1024 });
    const chunks = Array.from({ length: 23 }, () => randomBytes(512 * 1024 + 17)); // ~11.5 MiB in odd-sized chunks
    await store.put('shard.parquet', Readable.from(chunks));
    expect(count(sent, 'CreateMultipartUploadCommand')).toBe(1);
    expect(count(sent, 'UploadPartCommand')).toBe(3); // 5 + 5 + 1.5 MiB
    expect(count(sent, 'CompleteMultipartUploadCommand')).toBe(1);
    expect(count(sent, 'PutObjectCommand')).toBe(0);
    expect((await store.get('shard.parquet')).equals(Buffer.concat(chunks))).toBe(true);

    sent.length = 0;
    const little = [randomBytes(1000), randomBytes(2000)];
    await store.put('little.parquet', Readable.from(little));
    expect(sent).toEqual(['PutObjectCommand']);
    expect((await store.get('little.parquet')).equals(Buffer.concat(little))).toBe(true);
  });

  it("fails with the stream's own error when the stream fails part way, and leaves no object", async () => {
    const { store, sent } = countingStore('failing/', { partSize: 5 * 1024 * 1024 });
    async function* failing(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 14; i++) yield randomBytes(512 * 1024); // 7 MiB: one part is on its way
      throw new Error('key c0/x.jpg appears in two part files');
    }
    await expect(store.put('broken.parquet', Readable.from(failing()))).rejects.toThrow('appears in two part files');
    expect(count(sent, 'CompleteMultipartUploadCommand')).toBe(0);
    expect(await store.exists('broken.parquet')).toBe(false);
  });

  it('refuses a create-once write of a stream (multipart is not create-once here)', async () => {
    const store = new S3ObjectStore('results', 'once/', { endpoint: s3.endpoint });
    await expect(store.put('manifest.json', Readable.from([Buffer.from('{}')]), { ifNoneMatch: true })).rejects.toThrow(
      /create-once/,
    );
  });

  it('names a missing bucket and the fix in one line', async () => {
    const store = openStore('s3://no-such-bucket/x/', { endpoint: s3.endpoint });
    await expect(store.check()).rejects.toThrow(InputError);
    await expect(store.check()).rejects.toThrow(/bucket no-such-bucket does not exist/);
  });

  it('refuses keys that climb out of the prefix', async () => {
    const store = new S3ObjectStore('data', 'p/', { endpoint: s3.endpoint });
    await expect(store.get('../secret')).rejects.toThrow(/must not contain '\.\.'/);
  });
});

describe('S3ObjectStore retries', () => {
  it('retries 503 SlowDown answers and then succeeds', async () => {
    // A fault the real server cannot produce: a loopback proxy that answers the first
    // three requests with 503 SlowDown, then forwards to s3rver.
    let refused = 0;
    const proxy = http.createServer((req, res) => {
      if (refused < 3) {
        refused++;
        req.resume();
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
        );
        return;
      }
      const up = http.request(
        { host: '127.0.0.1', port: s3.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 500, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as { port: number }).port;
    try {
      const store = new S3ObjectStore('results', 'retry/', { endpoint: `http://127.0.0.1:${port}` });
      await store.put('x.txt', 'hello');
      expect(refused).toBe(3);
      expect((await store.get('x.txt')).toString()).toBe('hello');
    } finally {
      proxy.close();
    }
  });
});
