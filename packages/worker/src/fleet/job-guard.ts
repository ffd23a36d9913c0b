/** What every job processor checks first where the fleet has OVERMAP_JOB_SECRET. */
import { UnrecoverableError } from 'bullmq';
import { verify } from '@overmap/shared';

/** With OVERMAP_JOB_SECRET, a job must carry the producer's signature over its payload. */
export function checkJobSignature(data: unknown, secret: string | undefined, kind: string): void {
  if (!secret) return;
  if (typeof data !== 'object' || data === null || !verify(data as Record<string, unknown>, secret)) {
    throw new UnrecoverableError(
      `unsigned or altered ${kind} job refused (OVERMAP_JOB_SECRET): only the producer may add jobs`,
    );
  }
}

/**
 * What a worker without OVERMAP_JOB_SECRET says at start: what unsigned jobs let a client of
 * its Redis do, and when that is fine.
 */
export function unsignedJobsWarning(allowed: readonly string[]): string {
  const reach = allowed.length ? ` within OVERMAP_ALLOWED_PREFIXES (${allowed.join(', ')})` : '';
  return `jobs are unsigned (OVERMAP_JOB_SECRET is not set): any client that can write to this Redis can make this worker read any dataset and write any results location its credentials reach${reach}; fine on one machine with a private Redis, otherwise give the producer and every worker the same OVERMAP_JOB_SECRET`;
}
