/** What the commands share: config, Redis, model resolution, one-line errors. */
import {
  type Config,
  IMAGE_ISSUES,
  type ImageIssue,
  InputError,
  OverMapError,
  ServiceError,
  checkRedis,
  configValue,
  loadConfig,
} from '@overmap/shared';
import type { Redis } from 'ioredis';
import { connectRedis } from '@overmap/shared';

export async function configAndRedis(): Promise<{ config: Config; redis: Redis }> {
  const config = loadConfig();
  await checkRedis(config.REDIS_URL);
  const redis = connectRedis(config.REDIS_URL);
  redis.on('error', () => undefined);
  return { config, redis };
}

export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InputError(`${name} ${JSON.stringify(v)} is not a positive integer`);
    return n;
  };
}

export function unitInterval(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0 && n < 1))
      throw new InputError(`${name} ${JSON.stringify(v)} must be a number between 0 and 1 (exclusive)`);
    return n;
  };
}

/** --image-checks-off: a comma-separated list of image checks, each one of IMAGE_ISSUES. */
export function imageChecksList(v: string): ImageIssue[] {
  const names = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !(IMAGE_ISSUES as readonly string[]).includes(n));
  if (bad.length)
    throw new InputError(
      `--image-checks-off ${JSON.stringify(v)}: unknown check(s) ${bad.join(', ')}; the checks are ${IMAGE_ISSUES.join(', ')}`,
    );
  return names as ImageIssue[];
}

/** An integer in [lo, hi]. */
export function intIn(name: string, lo: number, hi: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi)
      throw new InputError(`${name} ${JSON.stringify(v)} must be an integer from ${lo} to ${hi}`);
    return n;
  };
}

/** A number above 0. */
export function positiveNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0 && Number.isFinite(n))) throw new InputError(`${name} ${JSON.stringify(v)} must be a number above 0`);
    return n;
  };
}

/** Prints an error in one line (the whole message for our own errors) and exits non-zero. */
export function fail(e: unknown): never {
  if (e instanceof OverMapError) {
    process.stderr.write(`overmap: ${e.message}\n`);
    // 2: bad input; 3: a service (Redis, S3) unreachable or refusing; 4: the run cannot finish as things stand
    process.exit(e instanceof ServiceError ? 3 : e.name === 'RunStuckError' ? 4 : 2);
  }
  const err = e as Error;
  process.stderr.write(
    `overmap: ${err?.name === 'ZodError' ? 'invalid data' : 'unexpected error'}: ${err?.message ?? String(e)}\n`,
  );
  if (configValue('OVERMAP_DEBUG')) process.stderr.write(`${err?.stack}\n`);
  process.exit(1);
}
