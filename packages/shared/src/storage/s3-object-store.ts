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
 * part is sent by Upload as one PutObject.
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
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { configValue } from '../config';
import { InputError, NotFoundError, ObjectTooLarge, ServiceError } from '../errors';
import {
  type GetOptions,
  type ListPage,
  type ListedObject,
  type ObjectStore,
  type PutOptions,
  PreconditionFailed,
} from './object-store';

export interface S3StoreOptions {
  endpoint?: string;
  region?: string;
  maxAttempts?: number;
  client?: S3Client;
  /** bytes above which a Buffer or string is uploaded in parts (default 8 MiB) */
  multipartThreshold?: number;
  /** multipart part size in bytes (default 8 MiB; at least 5 MiB, S3's minimum) */
  partSize?: number;
  /** parts uploaded (and held in memory) at once (default 4) */
  queueSize?: number;
}

/** S3's smallest part (all but the last). */
const MIN_PART_SIZE = 5 * 1024 * 1024;

export const MULTIPART_DEFAULTS = {
  multipartThreshold: 8 * 1024 * 1024,
  partSize: 8 * 1024 * 1024,
  queueSize: 4,
} as const;

export function makeS3Client(o: S3StoreOptions = {}): S3Client {
  const endpoint = o.endpoint ?? configValue('S3_ENDPOINT');
  const config: S3ClientConfig = {
    region: o.region ?? configValue('AWS_REGION') ?? configValue('AWS_DEFAULT_REGION') ?? 'us-east-1',
    maxAttempts: o.maxAttempts ?? 8,
    retryMode: 'standard',
  };
  if (endpoint) {
    config.endpoint = endpoint;
    config.forcePathStyle = true;
    // Many S3-compatible servers reject the CRC checksums SDK v3 sends by default.
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  // The SDK warns in 9 lines on every process under Node 20 that its releases after January
  // 2027 need Node 22. The lockfile pins a release that supports 20, the images run 22, and
  // the README says so: the warning only hid real errors in every command's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client(config);
}

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

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

  private wrap(e: unknown, what: string): Error {
    const status = statusOf(e);
    const name = (e as Error)?.name;
    if (name === 'NoSuchBucket' || (status === 404 && what.startsWith('bucket'))) {
      return new InputError(`bucket ${this.bucket} does not exist (${this.uri}): create it or fix the URI`, {
        cause: e,
      });
    }
    if (name === 'CredentialsProviderError' || /Could not load credentials/i.test((e as Error)?.message ?? '')) {
      return new ServiceError(
        `no AWS credentials for ${this.uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where a role provides them`,
        { cause: e },
      );
    }
    if (name === 'AccessDenied' || status === 403) {
      return new ServiceError(
        `access denied to ${this.uri} (${what}): check the AWS credentials and the bucket policy`,
        { cause: e },
      );
    }
    if (e instanceof S3ServiceException)
      return new ServiceError(`S3 error on ${what} under ${this.uri}: ${e.name} ${e.message}`, { cause: e });
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') {
      return new ServiceError(`cannot reach S3 for ${this.uri} (${code}): check S3_ENDPOINT and the network`, {
        cause: e,
      });
    }
    return e as Error;
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
      throw this.wrap(e, `GET ${key}`);
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
        if ((e as Error)?.name === 'NoSuchBucket') throw this.wrap(e, 'bucket');
        return undefined;
      }
      throw this.wrap(e, `GET ${key}`);
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
      throw this.wrap(e, `PUT ${key}`);
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
      throw this.wrap(e, `PUT ${key} (multipart)`);
    }
    if (bodyError !== undefined) throw bodyError;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return true;
    } catch (e) {
      if (statusOf(e) === 404 || (e as Error)?.name === 'NotFound') return false;
      throw this.wrap(e, `HEAD ${key}`);
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
      throw this.wrap(e, 'bucket listing');
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
      throw this.wrap(e, 'bucket listing');
    }
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (e) {
      throw this.wrap(e, 'bucket check');
    }
  }
}
