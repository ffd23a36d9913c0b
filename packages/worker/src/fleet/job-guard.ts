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
