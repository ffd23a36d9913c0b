/** What the commands share: config, Redis, model resolution, one-line errors. */
import {
  type Config,
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
