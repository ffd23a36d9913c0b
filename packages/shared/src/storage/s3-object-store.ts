/**
 * S3 (and S3-compatible servers) through the AWS SDK v3. `S3_ENDPOINT` selects a
 * compatible server with path-style addressing; credentials come from the SDK's default
 * chain. Retries: the SDK's standard mode (exponential backoff with jitter on 5xx,
 * throttling and SlowDown) with more attempts than its default 3, because a fleet that
 * crosses S3's 3,500 PUT / 5,500 GET per second per prefix gets 503 SlowDown while S3
 * repartitions.
 *
 * Writes: one PutObject up to `multipartThreshold` (8 MiB); a larger Buffer, and every stream,
 * goes through lib-storage's Upload: multipart in `partSize` parts (8 MiB; S3's minimum is 5 MiB,
 * a single PUT stops at 5 GB), at most `queueSize` parts in flight and in memory, and aborted
 * on failure (no half object, no parts left behind). A stream that turns out smaller than one
 * part is sent by Upload as one PutObject. The client and the error mapping: s3-client.ts.
 */
import type { Readable } from 'node:stream';
import { Upload } from '@aws-sdk/lib-storage';
import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { InputError, NotFoundError, ObjectTooLarge } from '../errors';
import { MIN_PART_SIZE, MULTIPART_DEFAULTS, type S3StoreOptions, makeS3Client, s3Error, statusOf } from './s3-client';
import {
  type GetOptions,
  type ListPage,
  type ListedObject,
  type ObjectStore,
  type PutOptions,
  PreconditionFailed,
} from './object-store';

export { MULTIPART_DEFAULTS, type S3StoreOptions, makeS3Client } from './s3-client';

export class S3ObjectStore implements ObjectStore {
  readonly uri: string;
  private readonly client: S3Client;
  private readonly multipart: { multipartThreshold: number; partSize: number; queueSize: number };
  /** prefix is '' or ends with '/'. */
  constructor(
    readonly bucket: string,
    readonly prefix: string,
    options: S3StoreOptions = {},
  ) {
    this.client = options.client ?? makeS3Client(options);
    this.uri = `s3://${bucket}/${prefix}`;
    this.multipart = {
      multipartThreshold: options.multipartThreshold ?? MULTIPART_DEFAULTS.multipartThreshold,
      partSize: options.partSize ?? MULTIPART_DEFAULTS.partSize,
      queueSize: options.queueSize ?? MULTIPART_DEFAULTS.queueSize,
    };
    if (this.multipart.partSize < MIN_PART_SIZE)
      throw new Error(`S3 part size ${this.multipart.partSize} is below S3's minimum of ${MIN_PART_SIZE} bytes`);
  }

  private k(key: string): string {
    if (key.startsWith('/') || key.split('/').includes('..')) {
      throw new InputError(
        `refused object key ${JSON.stringify(key)}: keys must be relative and must not contain '..'`,
      );
    }
    return this.prefix + key;
  }

  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    if (options.maxBytes === undefined) {
      const b = await this.getIfExists(key);
      if (!b) throw new NotFoundError(`no object ${key} under ${this.uri}`);
      return b;
    }
    const max = options.maxBytes;
    let r;
    try {
      r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
    } catch (e) {
      if ((e as Error)?.name === 'NoSuchKey') throw new NotFoundError(`no object ${key} under ${this.uri}`);
      throw s3Error(e, `GET ${key}`, this);
    }
    const body = r.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    if (!body) throw new NotFoundError(`no body for ${key} under ${this.uri}`);
    // Content-Length first: a 5 GB object is refused without reading it.
    if (r.ContentLength !== undefined && r.ContentLength > max) {
      body.destroy?.();
      throw new ObjectTooLarge(key, r.ContentLength, max);
    }
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const c of body) {
      n += c.length;
      if (n > max) {
        body.destroy?.();
        throw new ObjectTooLarge(key, null, max);
      }
      chunks.push(c);
    }
    return Buffer.concat(chunks);
  }

  async getIfExists(key: string): Promise<Buffer | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      if ((e as Error)?.name === 'NoSuchKey' || statusOf(e) === 404) {
        if ((e as Error)?.name === 'NoSuchBucket') throw s3Error(e, 'bucket', this);
        return undefined;
      }
      throw s3Error(e, `GET ${key}`, this);
    }
  }

  async put(key: string, body: Buffer | string | Readable, options: PutOptions = {}): Promise<void> {
    const size = typeof body === 'string' ? Buffer.byteLength(body) : Buffer.isBuffer(body) ? body.length : undefined;
    if (size === undefined || size > this.multipart.multipartThreshold) {
      if (options.ifNoneMatch)
        throw new Error(
          `create-once PUT of ${key}: give a Buffer of at most ${this.multipart.multipartThreshold} bytes (multipart uploads are not create-once here)`,
        );
      return this.upload(key, body, options);
    }
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          Body: body,
          ContentType: options.contentType,
          ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      );
    } catch (e) {
      if (statusOf(e) === 412 || (e as Error)?.name === 'PreconditionFailed') throw new PreconditionFailed(key);
      throw s3Error(e, `PUT ${key}`, this);
    }
  }

  /** A large body or a stream, in parts (one PutObject where a stream ends within the first part). */
  private async upload(key: string, body: Buffer | string | Readable, options: PutOptions): Promise<void> {
    // An error of the body itself (its producer failed) is what the caller must see, not
    // what the abort of the upload then says.
    let bodyError: unknown;
    if (typeof body !== 'string' && !Buffer.isBuffer(body))
      body.once('error', (e) => {
        bodyError ??= e;
      });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.k(key), Body: body, ContentType: options.contentType },
      partSize: this.multipart.partSize,
      queueSize: this.multipart.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (e) {
      if (bodyError !== undefined) throw bodyError;
      throw s3Error(e, `PUT ${key} (multipart)`, this);
    }
    if (bodyError !== undefined) throw bodyError;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return true;
    } catch (e) {
      if (statusOf(e) === 404 || (e as Error)?.name === 'NotFound') return false;
      throw s3Error(e, `HEAD ${key}`, this);
    }
  }

  async listPage(
    prefix: string,
    options: { next?: string; startAfter?: string; pageSize?: number } = {},
  ): Promise<ListPage> {
    try {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.k(prefix),
          ContinuationToken: options.next,
          StartAfter: options.next ? undefined : options.startAfter ? this.k(options.startAfter) : undefined,
          MaxKeys: options.pageSize,
        }),
      );
      const objects = (r.Contents ?? [])
        .filter((o) => o.Key !== undefined)
        .map((o) => ({ key: o.Key!.slice(this.prefix.length), size: o.Size ?? 0 }));
      return { objects, next: r.IsTruncated ? r.NextContinuationToken : undefined };
    } catch (e) {
      throw s3Error(e, 'bucket listing', this);
    }
  }

  /** Every object under a prefix, through the SDK's paginator (one page in memory at a time). */
  async *list(prefix: string, startAfter?: string): AsyncGenerator<ListedObject> {
    const pages = paginateListObjectsV2(
      { client: this.client, pageSize: 1000 },
      {
        Bucket: this.bucket,
        Prefix: this.k(prefix),
        StartAfter: startAfter ? this.k(startAfter) : undefined,
      },
    );
    try {
      for await (const page of pages) {
        for (const o of page.Contents ?? [])
          if (o.Key !== undefined) yield { key: o.Key.slice(this.prefix.length), size: o.Size ?? 0 };
      }
    } catch (e) {
      throw s3Error(e, 'bucket listing', this);
    }
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (e) {
      throw s3Error(e, 'bucket check', this);
    }
  }
}
