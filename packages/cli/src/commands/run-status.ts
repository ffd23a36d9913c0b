/** Progress of a run, from Redis (batches done, statuses) and the results store (run.json, manifest). */
import type { Redis } from 'ioredis';
import { InputError, type Manifest, type RunJson, RunResults, runKeys } from '@overmap/shared';

export interface RunStatus {
  runId: string;
  results: string | null;
  totalBatches: number | null;
  doneBatches: number;
  images: number | null;
  statuses: Record<string, number>;
  startedMs: number | null;
  manifest: Manifest | null;
  run: RunJson | null;
}

const looksLikeUri = (s: string) => s.includes('://') || s.includes('/') || s.startsWith('.');

export async function readStatus(redis: Redis, target: string): Promise<RunStatus> {
  let runId = target;
  let results: string | null = null;
  let run: RunJson | null = null;
  if (looksLikeUri(target)) {
    const store = RunResults.open(target);
    run = await store.requireRun();
    runId = run.run_id;
    results = store.uri;
  }
  const keys = runKeys(runId);
  const [state, done, statuses] = await Promise.all([redis.hgetall(keys.state), redis.scard(keys.done), redis.hgetall(keys.statuses)]);
  results ??= state.results ?? null;
  if (!results && Object.keys(state).length === 0) throw new InputError(`no run ${runId} in Redis: give the results URI instead (overmap status s3://bucket/results/)`);
  let manifest: Manifest | null = null;
  if (results) {
    const store = RunResults.open(results);
    run ??= (await store.readRun()) ?? null;
    manifest = (await store.readManifest()) ?? null;
  }
  const total = state.total !== undefined ? Number(state.total) : run?.batches ?? null;
  return {
    runId, results, totalBatches: total,
    doneBatches: manifest && total !== null ? total : done,
    images: state.images !== undefined ? Number(state.images) : run?.images ?? null,
    statuses: Object.fromEntries(Object.entries(statuses).map(([k, v]) => [k, Number(v)])),
    startedMs: state.started ? Number(state.started) : run ? Date.parse(run.created) : null,
    manifest, run,
  };
}
