/**
 * The S3 client of an S3ObjectStore (s3-object-store.ts) and how its failures read: the
 * options, the client (retries, S3-compatible endpoints) and the mapping of SDK errors to ours.
 */
import { S3Client, type S3ClientConfig, S3ServiceException } from '@aws-sdk/client-s3';
import { configValue } from '../config';
import { InputError, ServiceError } from '../errors';

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
export const MIN_PART_SIZE = 5 * 1024 * 1024;

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

export function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/**
 * An SDK failure as one of our errors where it has a known cause (no bucket, no credentials,
 * access denied, S3 or the network down), naming the store and `what` was being done.
 */
export function s3Error(e: unknown, what: string, store: { bucket: string; uri: string }): Error {
  const status = statusOf(e);
  const name = (e as Error)?.name;
  if (name === 'NoSuchBucket' || (status === 404 && what.startsWith('bucket'))) {
    return new InputError(`bucket ${store.bucket} does not exist (${store.uri}): create it or fix the URI`, {
      cause: e,
    });
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test((e as Error)?.message ?? '')) {
    return new ServiceError(
      `no AWS credentials for ${store.uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where a role provides them`,
      { cause: e },
    );
  }
  if (name === 'AccessDenied' || status === 403) {
    return new ServiceError(
      `access denied to ${store.uri} (${what}): check the AWS credentials and the bucket policy`,
      { cause: e },
    );
  }
  if (e instanceof S3ServiceException)
    return new ServiceError(`S3 error on ${what} under ${store.uri}: ${e.name} ${e.message}`, { cause: e });
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') {
    return new ServiceError(`cannot reach S3 for ${store.uri} (${code}): check S3_ENDPOINT and the network`, {
      cause: e,
    });
  }
  return e as Error;
}
